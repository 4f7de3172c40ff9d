package processor

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// decodeBoth decodes one JSON value twice: as encoding/json's Unmarshal
// gives it (numbers as float64) and with UseNumber (numbers as
// json.Number), the two shapes params reach the processor in.
func decodeBoth(s string) (plain, number any, ok bool) {
	if json.Unmarshal([]byte(s), &plain) != nil {
		return nil, nil, false
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	if dec.Decode(&number) != nil {
		return nil, nil, false
	}
	return plain, number, true
}

// FuzzIntParam: intParam reads the same number the same way whether it
// arrived as a float64 or as a json.Number, accepts only values a
// float64 can hold exactly within ±2³¹ (truncated toward zero as
// PyTrickle's int() does), and never panics.
func FuzzIntParam(f *testing.F) {
	for _, s := range []string{
		`0`, `-0`, `1`, `-1`, `1.9`, `-1.9`, `30`, `2147483648`, `2147483649`, `-2147483649`,
		`4294967296`, `9223372036854775807`, `9223372036854775808`, `1e300`, `-1e300`, `1e-300`,
		`"30"`, `true`, `null`, `[1]`, `{"a":1}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		plain, number, ok := decodeBoth(s)
		if !ok {
			return
		}
		n1, ok1 := intParam(Params{"k": plain}, "k")
		n2, ok2 := intParam(Params{"k": number}, "k")
		if n1 != n2 || ok1 != ok2 {
			t.Fatalf("%s: float64 reads (%d, %v), json.Number reads (%d, %v)", s, n1, ok1, n2, ok2)
		}
		x, isNum := plain.(float64)
		if ok1 != (isNum && math.Abs(x) <= 1<<31) {
			t.Fatalf("%s (%T): ok = %v", s, plain, ok1)
		}
		if ok1 && float64(n1) != math.Trunc(x) {
			t.Fatalf("%s: read as %d, want %v", s, n1, math.Trunc(x))
		}
		if !ok1 && n1 != 0 {
			t.Fatalf("%s: refused but gave %d", s, n1)
		}
		if _, ok := intParam(Params{}, "k"); ok {
			t.Fatal("a missing key was read as present")
		}
	})
}

// FuzzBoolParam: boolParam reads a JSON value the same way whether its
// numbers arrived as float64 or json.Number, takes strings only from
// PyTrickle's set (true/1/yes, false/0/no in any case) and numbers by
// their truth, and refuses every other type.
func FuzzBoolParam(f *testing.F) {
	for _, s := range []string{
		`true`, `false`, `0`, `1`, `-0`, `0.0`, `1e-320`, `"TRUE"`, `"Yes"`, `"no"`, `"0"`, `"1"`,
		`" true"`, `"tru"`, `""`, `null`, `[]`, `{}`, `"\u0130"`, `"ye\u017f"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		plain, number, ok := decodeBoth(s)
		if !ok {
			return
		}
		b1, ok1 := boolParam(plain)
		b2, ok2 := boolParam(number)
		if b1 != b2 || ok1 != ok2 {
			t.Fatalf("%s: float64 reads (%v, %v), json.Number reads (%v, %v)", s, b1, ok1, b2, ok2)
		}
		var want, wantOK bool
		switch v := plain.(type) {
		case bool:
			want, wantOK = v, true
		case float64:
			want, wantOK = v != 0, true
		case string:
			switch strings.ToLower(v) {
			case "true", "1", "yes":
				want, wantOK = true, true
			case "false", "0", "no":
				wantOK = true
			}
		}
		if b1 != want || ok1 != wantOK {
			t.Fatalf("%s: read (%v, %v), want (%v, %v)", s, b1, ok1, want, wantOK)
		}
	})
}
