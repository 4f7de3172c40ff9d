package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/processor"
)

// checkParams fails t unless p is what a successful ValidateParams and
// number normalisation leave: width and height positive ints,
// max_framerate an int in 1..MaxFramerate, detect_out_resolution a bool,
// and no json.Number at any depth.
func checkParams(t *testing.T, in string, p processor.Params) {
	t.Helper()
	if p == nil {
		t.Fatalf("%q: nil params without an error", in)
	}
	for _, k := range []string{"width", "height"} {
		if x, ok := p[k]; ok {
			if n, ok := x.(int); !ok || n <= 0 {
				t.Fatalf("%q: %s = %#v, want a positive int", in, k, x)
			}
		}
	}
	if x, ok := p["max_framerate"]; ok {
		if n, ok := x.(int); !ok || n <= 0 || n > MaxFramerate {
			t.Fatalf("%q: max_framerate = %#v, want an int in 1..%d", in, x, MaxFramerate)
		}
	}
	if x, ok := p["detect_out_resolution"]; ok {
		if _, ok := x.(bool); !ok {
			t.Fatalf("%q: detect_out_resolution = %#v, want a bool", in, x)
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case json.Number:
			t.Fatalf("%q: json.Number %s left in the params", in, x)
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(map[string]any(p))
}

// checkBodyError fails t unless err is one of the errors a request body
// may get, as the decoders document them.
func checkBodyError(t *testing.T, ct, body, model string, err error) {
	t.Helper()
	if !strings.HasPrefix(mediaType(ct), "application/json") {
		if ce, ok := errors.AsType[*ContentTypeError](err); !ok || ce.ContentType != mediaType(ct) {
			t.Fatalf("content type %q: error %v, want a ContentTypeError", ct, err)
		}
		return
	}
	if ve, ok := errors.AsType[*ValidationError](err); ok {
		if ve.Model != model || len(ve.Errors) == 0 || !strings.Contains(ve.Error(), "validation error") {
			t.Fatalf("%q: malformed validation error %#v", body, ve)
		}
		return
	}
	if _, ok := errors.AsType[*SyntaxError](err); ok {
		return
	}
	if model == modelStart && !errors.Is(err, errInfinity) {
		t.Fatalf("%q: unexpected error %T %v", body, err, err)
	}
	if err.Error() == "" {
		t.Fatalf("%q: an error without a message", body)
	}
}

var fuzzBodies = []string{
	`{"gateway_request_id":"r"}`, `{}`, `[]`, `null`, ``, ` `, `{"gateway_request_id":"r"} {}`,
	`{"gateway_request_id":"r","params":{"width":"1","height":1.5}}`,
	`{"gateway_request_id":1,"params":[]}`, `{"params":{"max_framerate":1e999}}`,
	`{"gateway_request_id":"r","params":{"width":1e400,"height":1}}`,
	`{"gateway_request_id":"r","subscribe_url":null,"publish_url":"http://127.0.0.1:1/out","params":{"a":{"b":[1,2.5,"x",null]}}}`,
	`{"a":` + strings.Repeat("[", 50), `{"width":1920,"height":"1080","detect_out_resolution":"Yes"}`,
	`{"max_framerate":"60"}`, `{"max_framerate":61}`, `{"width":"١٩٢٠","height":"\u3000 1"}`,
	`{"intensity":1e308,"big":123456789012345678901234567890}`, `{"big":1e400}`,
}

// FuzzDecodeStart: for any content type and body, DecodeStart gives a
// request or one of its documented errors, never both (an error comes
// with the zero request); a request's params hold only checked,
// normalised values; and re-encoding a request decodes to the same request.
func FuzzDecodeStart(f *testing.F) {
	for _, s := range fuzzBodies {
		f.Add(jsonCT, s)
	}
	f.Add("text/plain", `{"gateway_request_id":"r"}`)
	f.Add(" Application/JSON; charset=utf-8", `{"gateway_request_id":"r"}`)
	f.Add("application/json-seq", `{"gateway_request_id":"r"}`)
	f.Add("", `{}`)
	f.Fuzz(func(t *testing.T, ct, body string) {
		req, err := DecodeStart(ct, []byte(body))
		if err != nil {
			if !reflect.DeepEqual(req, processor.StartRequest{}) {
				t.Fatalf("%q: error %v came with %#v", body, err, req)
			}
			checkBodyError(t, ct, body, modelStart, err)
			return
		}
		checkParams(t, body, req.Params)
		// The reference reading keeps numbers as text: a number beyond
		// float64 in a field DecodeStart ignores is no reason to refuse
		// the body (Python reads it as inf).
		var obj map[string]any
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		if dec.Decode(&obj) != nil || obj["gateway_request_id"] != req.GatewayRequestID {
			t.Fatalf("%q: accepted as %#v", body, req)
		}
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("%q: request does not re-encode: %v", body, err)
		}
		req2, err := DecodeStart(jsonCT, again)
		if err != nil || !reflect.DeepEqual(req, req2) {
			t.Fatalf("%q: round trip through %s gave %#v, %v", body, again, req2, err)
		}
	})
}

// FuzzDecodeParams: the same for the body of POST /stream/params, whose
// error comes with nil params.
func FuzzDecodeParams(f *testing.F) {
	for _, s := range fuzzBodies {
		f.Add(jsonCT, s)
	}
	f.Add("application/x-www-form-urlencoded", `intensity=1`)
	f.Add("a/b/c", `{}`)
	f.Fuzz(func(t *testing.T, ct, body string) {
		p, err := DecodeParams(ct, []byte(body))
		if err != nil {
			if p != nil {
				t.Fatalf("%q: error %v came with %#v", body, err, p)
			}
			checkBodyError(t, ct, body, modelParams, err)
			return
		}
		checkParams(t, body, p)
		again, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("%q: params do not re-encode: %v", body, err)
		}
		p2, err := DecodeParams(jsonCT, again)
		if err != nil || !reflect.DeepEqual(p, p2) {
			t.Fatalf("%q: round trip through %s gave %#v, %v", body, again, p2, err)
		}
	})
}

// FuzzValidateParams: no JSON value makes ValidateParams panic, decoded
// either way; an error comes without a map, a success with checked
// values; and validating a result again changes nothing.
func FuzzValidateParams(f *testing.F) {
	for _, s := range []string{
		`{}`, `null`, `[1]`, `{"width":1920,"height":"1080"}`, `{"width":"1_9","height":1.5}`,
		`{"width":1e400,"height":1}`, `{"max_framerate":"60"}`, `{"max_framerate":61}`,
		`{"max_framerate":-1e300}`, `{"detect_out_resolution":"Yes"}`, `{"detect_out_resolution":1.0}`,
		`{"width":"١٩٢٠","height":"\u3000 1"}`, `{"a":{"b":[1,2,{"c":null}]}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, useNumber := range []bool{true, false} {
			dec := json.NewDecoder(bytes.NewReader([]byte(s)))
			if useNumber {
				dec.UseNumber()
			}
			var v any
			if dec.Decode(&v) != nil {
				return
			}
			got, err := ValidateParams(v)
			if err != nil {
				if got != nil {
					t.Fatalf("%q: result %v with error %v", s, got, err)
				}
				continue
			}
			if got == nil {
				t.Fatalf("%q: nil map without an error", s)
			}
			if err := normalizeNumbers(got); err != nil {
				continue // a number too large for a float64: refused later
			}
			checkParams(t, s, got)
			again, err := ValidateParams(got)
			if err != nil || !reflect.DeepEqual(got, again) {
				t.Fatalf("%q: validating %#v again gave %#v, %v", s, got, again, err)
			}
		}
	})
}

// FuzzServerBodies: any content type and body on the JSON endpoints gets
// 200, 400 or 413 with a JSON body whose status says the same; the
// Backend sees exactly the request the decoder makes of a body that is
// accepted, and nothing of one that is refused.
func FuzzServerBodies(f *testing.F) {
	const limit = 512
	for _, s := range fuzzBodies {
		f.Add(uint8(0), jsonCT, s)
		f.Add(uint8(1), jsonCT, s)
	}
	f.Add(uint8(2), jsonCT, `{"gateway_request_id":"r"}`)
	f.Add(uint8(3), "", "")
	f.Add(uint8(1), jsonCT, `{"a":"`+strings.Repeat("x", limit)+`"}`)
	paths := []string{"/stream/start", "/stream/params", "/live-video-to-video", "/stream/stop"}
	f.Fuzz(func(t *testing.T, which uint8, ct, body string) {
		path := paths[int(which)%len(paths)]
		fake := newFake()
		fake.state = statePayload(processor.StateOK, true) // a stream runs: params reach it
		s := New(fake, Config{Logger: quiet, MaxBodyBytes: limit})
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)

		var resp map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Fatalf("%s %q: body %q is not a JSON object: %v", path, body, rec.Body, err)
		}
		switch rec.Code {
		case http.StatusOK:
			if resp["status"] != "success" {
				t.Fatalf("%s %q: 200 with %v", path, body, resp)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if resp["status"] != "error" && resp["error"] == nil {
				t.Fatalf("%s %q: %d with %v", path, body, rec.Code, resp)
			}
			if rec.Code == http.StatusRequestEntityTooLarge && len(body) <= limit {
				t.Fatalf("%s: %d bytes answered 413", path, len(body))
			}
		default:
			t.Fatalf("%s %q: status %d %s", path, body, rec.Code, rec.Body)
		}
		if len(body) > limit && path != "/stream/stop" && rec.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("%s: %d bytes over the %d limit answered %d", path, len(body), limit, rec.Code)
		}

		starts, _, params := fake.calls()
		switch path {
		case "/stream/start", "/live-video-to-video":
			want, err := DecodeStart(ct, []byte(body))
			if err == nil {
				// A decoded start whose URLs are not http(s) with a host
				// is refused before the backend (allowhosts.go).
				err = s.checkStartURLs(want)
			}
			ok := rec.Code == http.StatusOK
			if ok != (err == nil && len(body) <= limit) || starts != btoi(ok) || params != 0 {
				t.Fatalf("%s %q: %d, decoder error %v, %d starts", path, body, rec.Code, err, starts)
			}
			if ok && !reflect.DeepEqual(fake.starts[0], want) {
				t.Fatalf("%s %q: backend got %#v, decoder gives %#v", path, body, fake.starts[0], want)
			}
		case "/stream/params":
			want, err := DecodeParams(ct, []byte(body))
			ok := rec.Code == http.StatusOK
			if ok != (err == nil && len(body) <= limit) || params != btoi(ok) || starts != 0 {
				t.Fatalf("%s %q: %d, decoder error %v, %d updates", path, body, rec.Code, err, params)
			}
			if ok && !reflect.DeepEqual(fake.params[0], want) {
				t.Fatalf("%s %q: backend got %#v, decoder gives %#v", path, body, fake.params[0], want)
			}
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
