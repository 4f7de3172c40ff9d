package processor

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseControlMessage: whatever a gateway puts in a control segment,
// parseControlMessage agrees with a plain encoding/json reading of it —
// blank bodies and the exact keepalive are ignored, one JSON object becomes
// the params (equal to what json.Unmarshal gives, and unchanged by a
// marshal/parse round trip), anything else is an error that carries no
// params — and it never panics.
func FuzzParseControlMessage(f *testing.F) {
	for _, s := range []string{
		``, " \n\t", `{"keep":"alive"}`, ` {"keep":"alive"} `, `{"keep":"alive","x":1}`,
		`{"keep":"ALIVE"}`, `{"keep":"alive","keep":"dead"}`, `{"keep":"dead","keep":"alive"}`,
		`{"intensity":0.5}`, `{"width":512,"height":512,"max_framerate":"30"}`,
		`null`, `[]`, `[{"a":1}]`, `"str"`, `1`, `true`, `{}`, `{"a":1}{"b":2}`, `{"a":1} x`,
		`{"a":{"b":[1,2,{"c":null}]}}`, `{"a":1e400}`, `{"\u0000":"\ud800"}`, "{\"a\":\"\xff\"}",
		`{"a":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`,
		"\ufeff{\"a\":1}", "{\"a\":1}\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, keep, err := parseControlMessage(body)

		// The reference reading: the trimmed body as one JSON value.
		trimmed := bytes.TrimSpace(body)
		var ref any
		refErr := json.Unmarshal(trimmed, &ref)
		obj, isObj := ref.(map[string]any)
		wantKeep := len(trimmed) == 0 || (refErr == nil && isObj && len(obj) == 1 && obj["keep"] == "alive")

		switch {
		case err != nil:
			if p != nil || keep {
				t.Fatalf("%q: error %v came with params %v, keep %v", body, err, p, keep)
			}
			if refErr == nil && isObj {
				t.Fatalf("%q: refused (%v) though it is a JSON object", body, err)
			}
		case keep:
			if p != nil {
				t.Fatalf("%q: keepalive came with params %v", body, p)
			}
			if !wantKeep {
				t.Fatalf("%q: ignored as a keepalive", body)
			}
		default:
			if wantKeep {
				t.Fatalf("%q: a keepalive was applied as params %v", body, p)
			}
			if refErr != nil || !isObj {
				t.Fatalf("%q: accepted as %v, but json says %T %v", body, p, ref, refErr)
			}
			if p == nil {
				t.Fatalf("%q: accepted with nil params", body)
			}
			if !reflect.DeepEqual(map[string]any(p), obj) {
				t.Fatalf("%q: params %#v, json.Unmarshal gives %#v", body, p, obj)
			}
			again, err := json.Marshal(p)
			if err != nil {
				t.Fatalf("%q: params do not marshal: %v", body, err)
			}
			p2, keep2, err := parseControlMessage(again)
			if err != nil || keep2 || !reflect.DeepEqual(p, p2) {
				t.Fatalf("%q: round trip through %s gave %#v, %v, %v", body, again, p2, keep2, err)
			}
		}
	})
}

// FuzzReadControlSegment: a segment is read whole up to the cap and
// refused past it, never handing out more than the cap.
func FuzzReadControlSegment(f *testing.F) {
	f.Add(uint32(0), byte('{'))
	f.Add(uint32(controlMaxMessageBytes), byte(' '))
	f.Add(uint32(controlMaxMessageBytes+1), byte('a'))
	f.Fuzz(func(t *testing.T, n uint32, fill byte) {
		size := int(n % (controlMaxMessageBytes + 64))
		in := bytes.Repeat([]byte{fill}, size)
		got, err := readControlSegment(bytes.NewReader(in))
		if size > controlMaxMessageBytes {
			if err == nil || got != nil {
				t.Fatalf("%d bytes: got %d bytes, err %v; want a refusal", size, len(got), err)
			}
			return
		}
		if err != nil || !bytes.Equal(got, in) {
			t.Fatalf("%d bytes: got %d bytes back, err %v", size, len(got), err)
		}
	})
}
