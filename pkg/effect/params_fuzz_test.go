package effect

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/processor"
)

// FuzzFloatParam: floatParam reads a JSON value the same whether its
// numbers arrived as float64 or json.Number; a number or numeric string
// gives exactly strconv's finite value, anything else an error naming the
// key; an error never comes with a value, and a missing key is neither
// present nor an error.
func FuzzFloatParam(f *testing.F) {
	for _, s := range []string{
		`0`, `-0`, `0.5`, `1e308`, `1e309`, `-1e-400`, `"0.25"`, `" 1 "`, `"NaN"`, `"inf"`, `"-Infinity"`,
		`"1e400"`, `"0x1p-2"`, `"1_0"`, `""`, `true`, `null`, `[1]`, `{"a":1}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var plain, number any
		if json.Unmarshal([]byte(s), &plain) != nil {
			return
		}
		dec := json.NewDecoder(bytes.NewReader([]byte(s)))
		dec.UseNumber()
		if dec.Decode(&number) != nil {
			return
		}
		v1, p1, err1 := floatParam(processor.Params{"intensity": plain}, "intensity")
		v2, p2, err2 := floatParam(processor.Params{"intensity": number}, "intensity")
		if v1 != v2 || p1 != p2 || (err1 == nil) != (err2 == nil) {
			t.Fatalf("%s: float64 reads (%v, %v, %v), json.Number reads (%v, %v, %v)", s, v1, p1, err1, v2, p2, err2)
		}
		if !p1 {
			t.Fatalf("%s: a key that is there was read as missing", s)
		}
		var want float64
		wantOK := false
		switch x := plain.(type) {
		case float64:
			want, wantOK = x, true
		case string:
			if g, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil && !math.IsNaN(g) && !math.IsInf(g, 0) {
				want, wantOK = g, true
			}
		}
		switch {
		case err1 != nil:
			if wantOK || v1 != 0 || !strings.Contains(err1.Error(), "intensity") {
				t.Fatalf("%s: value %v, error %q (want %v ok %v)", s, v1, err1, want, wantOK)
			}
		case !wantOK || v1 != want || math.IsNaN(v1) || math.IsInf(v1, 0):
			t.Fatalf("%s: read as %v, want %v (ok %v)", s, v1, want, wantOK)
		}
		if v, present, err := floatParam(processor.Params{"other": plain}, "intensity"); v != 0 || present || err != nil {
			t.Fatalf("%s: a missing key read as (%v, %v, %v)", s, v, present, err)
		}
	})
}
