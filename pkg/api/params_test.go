package api

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/processor"
)

// decodeNumber decodes s as DecodeStart does: numbers as json.Number.
func decodeNumber(t testing.TB, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("test JSON %q: %v", s, err)
	}
	return v
}

func TestValidateParams(t *testing.T) {
	t.Parallel()
	tooManyDigits := `"1` + strings.Repeat("0", maxStrDigits) + `"` // 4301 digits
	for _, tc := range []struct {
		name string
		in   string         // JSON, decoded with UseNumber
		want map[string]any // checked keys of the result; nil with wantErr
		err  string
	}{
		// The value as a whole.
		{name: "an array is not a dictionary", in: `[1]`, err: msgParamsNotDict},
		{name: "a string is not a dictionary", in: `"width"`, err: msgParamsNotDict},
		{name: "a number is not a dictionary", in: `1`, err: msgParamsNotDict},
		{name: "null gives empty params", in: `null`, want: map[string]any{}},
		{name: "an empty object passes", in: `{}`, want: map[string]any{}},

		// width and height.
		{name: "width without height is refused", in: `{"width":512}`, err: msgDimsTogether},
		{name: "height without width is refused", in: `{"height":512}`, err: msgDimsTogether},
		{name: "a null width still counts as provided", in: `{"width":null}`, err: msgDimsTogether},
		{name: "integer width and height are kept as ints", in: `{"width":1920,"height":1080}`,
			want: map[string]any{"width": 1920, "height": 1080}},
		{name: "integer strings become ints", in: `{"width":"1920","height":"1080"}`,
			want: map[string]any{"width": 1920, "height": 1080}},
		{name: "strings with spaces, a sign and underscores convert like int()",
			in:   `{"width":" +1_920 ","height":"\t1080\n"}`,
			want: map[string]any{"width": 1920, "height": 1080}},
		{name: "Unicode digits convert like int()", in: `{"width":"١٩٢٠","height":"１０８０"}`,
			want: map[string]any{"width": 1920, "height": 1080}},
		{name: "Unicode spaces around the digits are stripped like int()",
			in:   `{"width":"\u30001920\u00a0","height":"\u20281080"}`,
			want: map[string]any{"width": 1920, "height": 1080}},
		{name: "leading zeros are allowed", in: `{"width":"007","height":"0010"}`,
			want: map[string]any{"width": 7, "height": 10}},
		{name: "floats are truncated toward zero", in: `{"width":1920.7,"height":1080.2}`,
			want: map[string]any{"width": 1920, "height": 1080}},
		{name: "a float literal with a zero fraction converts", in: `{"width":1920.0,"height":1080.0}`,
			want: map[string]any{"width": 1920, "height": 1080}},
		{name: "an exponent literal converts", in: `{"width":1.92e3,"height":108E1}`,
			want: map[string]any{"width": 1920, "height": 1080}},
		{name: "true counts as one", in: `{"width":true,"height":true}`,
			want: map[string]any{"width": 1, "height": 1}},
		{name: "a decimal string is refused", in: `{"width":"1920.0","height":"1080"}`, err: msgDimsInvalid},
		{name: "an exponent string is refused", in: `{"width":"1e3","height":"1080"}`, err: msgDimsInvalid},
		{name: "a zero width is refused", in: `{"width":0,"height":1080}`, err: msgDimsInvalid},
		{name: "a negative height is refused", in: `{"width":1920,"height":-1}`, err: msgDimsInvalid},
		{name: "a negative string is refused", in: `{"width":"-5","height":"5"}`, err: msgDimsInvalid},
		{name: "a fraction below one truncates to zero and is refused", in: `{"width":0.9,"height":1}`, err: msgDimsInvalid},
		{name: "false counts as zero and is refused", in: `{"width":false,"height":1}`, err: msgDimsInvalid},
		{name: "a word is refused", in: `{"width":"wide","height":1}`, err: msgDimsInvalid},
		{name: "an empty string is refused", in: `{"width":"","height":1}`, err: msgDimsInvalid},
		{name: "a hexadecimal string is refused", in: `{"width":"0x10","height":1}`, err: msgDimsInvalid},
		{name: "a doubled underscore is refused", in: `{"width":"1__0","height":1}`, err: msgDimsInvalid},
		{name: "a leading underscore is refused", in: `{"width":"_10","height":1}`, err: msgDimsInvalid},
		{name: "a trailing underscore is refused", in: `{"width":"10_","height":1}`, err: msgDimsInvalid},
		{name: "a sign alone is refused", in: `{"width":"+","height":1}`, err: msgDimsInvalid},
		{name: "a space after the sign is refused", in: `{"width":"- 1","height":1}`, err: msgDimsInvalid},
		{name: "a zero-width space is not stripped", in: `{"width":"\u200b1","height":1}`, err: msgDimsInvalid},
		{name: "an ASCII file separator is not stripped", in: `{"width":"\u001c1","height":1}`, err: msgDimsInvalid},
		{name: "null is refused", in: `{"width":null,"height":1}`, err: msgDimsInvalid},
		{name: "a list is refused", in: `{"width":[1],"height":1}`, err: msgDimsInvalid},
		{name: "an object is refused", in: `{"width":1,"height":{"v":1}}`, err: msgDimsInvalid},
		{name: "a width too large for an int is refused", in: `{"width":"99999999999999999999","height":1}`, err: msgDimsInvalid},
		{name: "a huge float width is refused", in: `{"width":1e300,"height":1}`, err: msgDimsInvalid},
		{name: "an infinite width gives Python's overflow message", in: `{"width":1e400,"height":1}`, err: msgInfinity},

		// max_framerate.
		{name: "an integer max_framerate is kept", in: `{"max_framerate":30}`, want: map[string]any{"max_framerate": 30}},
		{name: "a string max_framerate becomes an int", in: `{"max_framerate":"24"}`, want: map[string]any{"max_framerate": 24}},
		{name: "a float max_framerate is truncated", in: `{"max_framerate":30.9}`, want: map[string]any{"max_framerate": 30}},
		{name: "sixty frames per second is allowed", in: `{"max_framerate":60}`, want: map[string]any{"max_framerate": 60}},
		{name: "one frame per second is allowed", in: `{"max_framerate":true}`, want: map[string]any{"max_framerate": 1}},
		{name: "sixty-one frames per second is refused", in: `{"max_framerate":61}`, err: msgFramerateTooHigh},
		{name: "sixty-one as a string is refused", in: `{"max_framerate":"61"}`, err: msgFramerateTooHigh},
		{name: "a huge max_framerate exceeds sixty", in: `{"max_framerate":"99999999999999999999"}`, err: msgFramerateTooHigh},
		{name: "a huge float max_framerate exceeds sixty", in: `{"max_framerate":1e300}`, err: msgFramerateTooHigh},
		{name: "zero frames per second is refused", in: `{"max_framerate":0}`, err: msgFramerateNegative},
		{name: "a negative max_framerate is refused", in: `{"max_framerate":-5}`, err: msgFramerateNegative},
		{name: "false counts as zero frames per second", in: `{"max_framerate":false}`, err: msgFramerateNegative},
		{name: "a hugely negative max_framerate is not positive", in: `{"max_framerate":-1e300}`, err: msgFramerateNegative},
		{name: "a hugely negative string is not positive", in: `{"max_framerate":"-99999999999999999999"}`, err: msgFramerateNegative},
		{name: "a word max_framerate is not an integer", in: `{"max_framerate":"fast"}`, err: msgFramerateInvalid},
		{name: "a decimal string max_framerate is not an integer", in: `{"max_framerate":"30.0"}`, err: msgFramerateInvalid},
		{name: "a null max_framerate is not an integer", in: `{"max_framerate":null}`, err: msgFramerateInvalid},
		{name: "a list max_framerate is not an integer", in: `{"max_framerate":[30]}`, err: msgFramerateInvalid},
		{name: "a string past Python's digit limit is not an integer", in: `{"max_framerate":` + tooManyDigits + `}`, err: msgFramerateInvalid},
		{name: "an infinite max_framerate gives Python's overflow message", in: `{"max_framerate":-1e400}`, err: msgInfinity},

		// detect_out_resolution.
		{name: "true detect_out_resolution is kept", in: `{"detect_out_resolution":true}`, want: map[string]any{"detect_out_resolution": true}},
		{name: "false detect_out_resolution is kept", in: `{"detect_out_resolution":false}`, want: map[string]any{"detect_out_resolution": false}},
		{name: "the string TRUE means true", in: `{"detect_out_resolution":"TRUE"}`, want: map[string]any{"detect_out_resolution": true}},
		{name: "the string Yes means true", in: `{"detect_out_resolution":"Yes"}`, want: map[string]any{"detect_out_resolution": true}},
		{name: "the string 1 means true", in: `{"detect_out_resolution":"1"}`, want: map[string]any{"detect_out_resolution": true}},
		{name: "the string False means false", in: `{"detect_out_resolution":"False"}`, want: map[string]any{"detect_out_resolution": false}},
		{name: "the string NO means false", in: `{"detect_out_resolution":"NO"}`, want: map[string]any{"detect_out_resolution": false}},
		{name: "the string 0 means false", in: `{"detect_out_resolution":"0"}`, want: map[string]any{"detect_out_resolution": false}},
		{name: "the integer 1 means true", in: `{"detect_out_resolution":1}`, want: map[string]any{"detect_out_resolution": true}},
		{name: "the integer 0 means false", in: `{"detect_out_resolution":0}`, want: map[string]any{"detect_out_resolution": false}},
		{name: "minus zero means false", in: `{"detect_out_resolution":-0}`, want: map[string]any{"detect_out_resolution": false}},
		{name: "any other integer means true", in: `{"detect_out_resolution":-7}`, want: map[string]any{"detect_out_resolution": true}},
		{name: "an integer too large for Go still means true", in: `{"detect_out_resolution":99999999999999999999}`, want: map[string]any{"detect_out_resolution": true}},
		{name: "a float is not a boolean", in: `{"detect_out_resolution":1.0}`, err: msgDetectOutResInvalid},
		{name: "an exponent literal is not a boolean", in: `{"detect_out_resolution":1e0}`, err: msgDetectOutResInvalid},
		{name: "another word is not a boolean", in: `{"detect_out_resolution":"maybe"}`, err: msgDetectOutResInvalid},
		{name: "spaces around true are not stripped", in: `{"detect_out_resolution":" true"}`, err: msgDetectOutResInvalid},
		{name: "an empty string is not a boolean", in: `{"detect_out_resolution":""}`, err: msgDetectOutResInvalid},
		{name: "null is not a boolean", in: `{"detect_out_resolution":null}`, err: msgDetectOutResInvalid},
		{name: "a list is not a boolean", in: `{"detect_out_resolution":[true]}`, err: msgDetectOutResInvalid},

		// Order and pass-through.
		{name: "dimensions are checked before max_framerate", in: `{"width":1,"max_framerate":0}`, err: msgDimsTogether},
		{name: "max_framerate is checked before detect_out_resolution",
			in: `{"max_framerate":99,"detect_out_resolution":"x"}`, err: msgFramerateTooHigh},
		{name: "other keys pass through unchanged, nested values included",
			in: `{"prompt":"a cat","strength":0.5,"seed":42,"show_loading":"true","nested":{"list":[1,"two",null,{"x":false}]}}`,
			want: map[string]any{
				"prompt": "a cat", "strength": json.Number("0.5"), "seed": json.Number("42"), "show_loading": "true",
				"nested": map[string]any{"list": []any{json.Number("1"), "two", nil, map[string]any{"x": false}}},
			}},
		{name: "all converted keys together",
			in:   `{"width":"512","height":512.5,"max_framerate":"30","detect_out_resolution":"no","load_model":true}`,
			want: map[string]any{"width": 512, "height": 512, "max_framerate": 30, "detect_out_resolution": false, "load_model": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ValidateParams(decodeNumber(t, tc.in))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("ValidateParams(%s) error = %v, want %q", tc.in, err, tc.err)
				}
				if got != nil {
					t.Errorf("ValidateParams(%s) = %v with an error, want nil", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ValidateParams(%s) error = %v", tc.in, err)
			}
			if got == nil {
				t.Fatalf("ValidateParams(%s) = nil map", tc.in)
			}
			if !reflect.DeepEqual(map[string]any(got), tc.want) {
				t.Errorf("ValidateParams(%s)\n got %#v\nwant %#v", tc.in, got, tc.want)
			}
		})
	}
}

// TestValidateParamsGoValues covers values a Go caller builds, and those
// encoding/json gives without UseNumber.
func TestValidateParamsGoValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   any
		want map[string]any
		err  string
	}{
		{name: "Go integer types convert", in: map[string]any{"width": int64(640), "height": uint16(480), "max_framerate": int8(25)},
			want: map[string]any{"width": 640, "height": 480, "max_framerate": 25}},
		{name: "float64 values from plain decoding are truncated", in: map[string]any{"width": 640.9, "height": float32(480)},
			want: map[string]any{"width": 640, "height": 480}},
		{name: "a processor.Params value is a dictionary", in: processor.Params{"width": 2, "height": 2},
			want: map[string]any{"width": 2, "height": 2}},
		{name: "a Go struct is not a dictionary", in: struct{}{}, err: msgParamsNotDict},
		{name: "a map with other value types is not a dictionary", in: map[string]string{"a": "b"}, err: msgParamsNotDict},
		{name: "a uint64 too large for an int is refused as a width", in: map[string]any{"width": uint64(math.MaxUint64), "height": 1},
			err: msgDimsInvalid},
		{name: "a uint64 too large for an int exceeds sixty frames per second", in: map[string]any{"max_framerate": uint64(math.MaxUint64)},
			err: msgFramerateTooHigh},
		{name: "NaN is not an integer", in: map[string]any{"max_framerate": math.NaN()}, err: msgFramerateInvalid},
		{name: "an infinite float64 gives Python's overflow message", in: map[string]any{"width": math.Inf(1), "height": 1},
			err: msgInfinity},
		{name: "an integral float64 counts as an integer for detect_out_resolution",
			in: map[string]any{"detect_out_resolution": float64(1)}, want: map[string]any{"detect_out_resolution": true}},
		{name: "a fractional float64 is not a boolean", in: map[string]any{"detect_out_resolution": 0.5}, err: msgDetectOutResInvalid},
		{name: "a Go int is a boolean", in: map[string]any{"detect_out_resolution": 0}, want: map[string]any{"detect_out_resolution": false}},
		{name: "a huge uint64 is true", in: map[string]any{"detect_out_resolution": uint64(math.MaxUint64)},
			want: map[string]any{"detect_out_resolution": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ValidateParams(tc.in)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("error = %v", err)
			}
			if !reflect.DeepEqual(map[string]any(got), tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestValidateParamsLeavesItsInputAlone(t *testing.T) {
	t.Parallel()
	in := map[string]any{"width": "640", "height": "480", "max_framerate": "30", "detect_out_resolution": "yes"}
	before := map[string]any{}
	for k, v := range in {
		before[k] = v
	}
	out, err := ValidateParams(in)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, before) {
		t.Errorf("input changed to %v", in)
	}
	out["extra"] = 1
	if _, ok := in["extra"]; ok {
		t.Error("result shares its map with the input")
	}
}

func TestFromPyStringBounds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
		want int
		st   intStatus
	}{
		{name: "the largest int converts", in: "9223372036854775807", want: math.MaxInt, st: intOK},
		{name: "the smallest int converts", in: "-9223372036854775808", want: math.MinInt, st: intOK},
		{name: "one past the largest int is too large", in: "9223372036854775808", st: intTooLarge},
		{name: "one past the smallest int is too small", in: "-9223372036854775809", st: intTooSmall},
		{name: "minus zero is zero", in: "-0", want: 0, st: intOK},
		{name: "Python's digit limit is allowed", in: strings.Repeat("0", maxStrDigits-1) + "7", want: 7, st: intOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if math.MaxInt != math.MaxInt64 {
				t.Skip("64-bit int only")
			}
			got, st := fromPyString(tc.in)
			if got != tc.want || st != tc.st {
				t.Errorf("fromPyString(%q) = %d, %d; want %d, %d", tc.in, got, st, tc.want, tc.st)
			}
		})
	}
}
