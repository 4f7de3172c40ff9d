package api

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/gotrickle/gotrickle/pkg/processor"
)

// The messages PyTrickle's StreamParamsUpdateRequest.validate_params raises,
// word for word.
const (
	msgParamsNotDict       = "Params must be a dictionary"
	msgDimsTogether        = "Both 'width' and 'height' must be provided together"
	msgDimsInvalid         = "Width and height must be valid integers or integer strings"
	msgFramerateInvalid    = "max_framerate must be a valid integer"
	msgFramerateNegative   = "max_framerate must be a positive integer"
	msgFramerateTooHigh    = "max_framerate cannot exceed 60 FPS"
	msgDetectOutResInvalid = "detect_out_resolution must be a boolean value"
	// msgInfinity is Python's OverflowError for int(float("inf")). PyTrickle
	// does not catch it, so it reaches the client unwrapped.
	msgInfinity = "cannot convert float infinity to integer"
)

// MaxFramerate is the highest max_framerate a request may ask for.
const MaxFramerate = 60

// errInfinity is returned for an infinite width, height or max_framerate.
// It is not a validation error in PyTrickle (OverflowError escapes pydantic),
// so DecodeStart passes it through unwrapped.
var errInfinity = errors.New(msgInfinity)

// ValidateParams checks and converts stream parameters the way PyTrickle's
// StreamParamsUpdateRequest.validate_params does, and returns a new map
// (v is not modified). v is a value as encoding/json decodes it, with or
// without Decoder.UseNumber; Go integer types are accepted too. A nil v
// gives an empty map, as PyTrickle treats a missing params object.
//
// The rules, in PyTrickle's order:
//   - v must be a JSON object: "Params must be a dictionary".
//   - width and height come together ("Both 'width' and 'height' must be
//     provided together"), each converted like Python's int(): integers,
//     integer strings (surrounding spaces, a sign and digit-separating
//     underscores allowed, "1920.0" refused), floats truncated toward zero,
//     true as 1. A value that cannot be converted, or is not above zero,
//     fails with "Width and height must be valid integers or integer
//     strings".
//   - max_framerate is converted the same way ("max_framerate must be a
//     valid integer"), must be above zero ("max_framerate must be a
//     positive integer") and at most 60 ("max_framerate cannot exceed 60
//     FPS").
//   - detect_out_resolution: a bool is kept; the strings true/1/yes and
//     false/0/no (any case) become bools; an integer becomes its truth
//     value; anything else fails with "detect_out_resolution must be a
//     boolean value".
//   - Every other key passes through unchanged, nested values included.
//
// Converted values are Go ints. Where Python's unbounded integers differ
// from Go's, a width or height too large for an int is refused as not a
// valid integer (PyTrickle would accept it), and an infinite float gives
// Python's "cannot convert float infinity to integer".
//
// A float64 cannot tell the JSON literal 1 from 1.0, so for
// detect_out_resolution an integral float64 counts as an integer; decode
// with UseNumber (as DecodeStart and DecodeParams do) for Python's exact
// behaviour, where 1.0 is refused.
func ValidateParams(v any) (processor.Params, error) {
	var in map[string]any
	switch m := v.(type) {
	case nil:
		return processor.Params{}, nil
	case map[string]any:
		in = m
	case processor.Params:
		in = m
	default:
		return nil, errors.New(msgParamsNotDict)
	}
	out := make(processor.Params, len(in))
	for k, val := range in {
		out[k] = val
	}

	w, hasW := out["width"]
	h, hasH := out["height"]
	if hasW || hasH {
		if !hasW || !hasH {
			return nil, errors.New(msgDimsTogether)
		}
		for _, dim := range [...]struct {
			key string
			val any
		}{{"width", w}, {"height", h}} {
			n, st := pyInt(dim.val)
			switch {
			case st == intInfinite:
				return nil, errInfinity
			case st != intOK || n <= 0:
				return nil, errors.New(msgDimsInvalid)
			}
			out[dim.key] = n
		}
	}

	if fr, ok := out["max_framerate"]; ok {
		n, st := pyInt(fr)
		switch {
		case st == intInvalid:
			return nil, errors.New(msgFramerateInvalid)
		case st == intInfinite:
			return nil, errInfinity
		case st == intTooLarge || (st == intOK && n > MaxFramerate):
			return nil, errors.New(msgFramerateTooHigh)
		case st == intTooSmall || n <= 0:
			return nil, errors.New(msgFramerateNegative)
		}
		out["max_framerate"] = n
	}

	if d, ok := out["detect_out_resolution"]; ok {
		b, ok := pyBool(d)
		if !ok {
			return nil, errors.New(msgDetectOutResInvalid)
		}
		out["detect_out_resolution"] = b
	}
	return out, nil
}

// intStatus is how a Python int() conversion went.
type intStatus int

const (
	intOK       intStatus = iota
	intInvalid            // ValueError or TypeError in Python
	intTooLarge           // a valid integer above math.MaxInt
	intTooSmall           // a valid integer below math.MinInt
	intInfinite           // int(±inf): Python's OverflowError
)

// maxStrDigits is Python's default sys.int_info.default_max_str_digits:
// int() of a longer decimal string raises ValueError.
const maxStrDigits = 4300

// pyInt converts v like Python's int(v), for the values JSON decoding
// produces and Go's integer and float types.
func pyInt(v any) (int, intStatus) {
	switch x := v.(type) {
	case bool:
		if x {
			return 1, intOK
		}
		return 0, intOK
	case int:
		return x, intOK
	case int8:
		return int(x), intOK
	case int16:
		return int(x), intOK
	case int32:
		return int(x), intOK
	case int64:
		return fromInt64(x)
	case uint:
		return fromUint64(uint64(x))
	case uint8:
		return int(x), intOK
	case uint16:
		return int(x), intOK
	case uint32:
		return fromUint64(uint64(x))
	case uint64:
		return fromUint64(x)
	case float32:
		return fromFloat(float64(x))
	case float64:
		return fromFloat(x)
	case json.Number:
		return fromNumber(string(x))
	case string:
		return fromPyString(x)
	}
	return 0, intInvalid
}

func fromInt64(x int64) (int, intStatus) {
	if int64(int(x)) != x {
		if x > 0 {
			return 0, intTooLarge
		}
		return 0, intTooSmall
	}
	return int(x), intOK
}

func fromUint64(x uint64) (int, intStatus) {
	if x > math.MaxInt {
		return 0, intTooLarge
	}
	return int(x), intOK
}

// fromFloat is int(float): truncation toward zero.
func fromFloat(f float64) (int, intStatus) {
	switch {
	case math.IsNaN(f):
		return 0, intInvalid
	case math.IsInf(f, 0):
		return 0, intInfinite
	}
	t := math.Trunc(f)
	// float64(math.MaxInt) rounds up to 2^63, so compare with >=.
	if t >= float64(math.MaxInt) {
		return 0, intTooLarge
	}
	if t < float64(math.MinInt) {
		return 0, intTooSmall
	}
	return int(t), intOK
}

// fromNumber converts a JSON number literal: an integer literal is a Python
// int, anything with a fraction or exponent a Python float.
func fromNumber(s string) (int, intStatus) {
	if isIntLiteral(s) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			return fromInt64(n)
		}
		if errors.Is(err, strconv.ErrRange) {
			if strings.HasPrefix(s, "-") {
				return 0, intTooSmall
			}
			return 0, intTooLarge
		}
		return 0, intInvalid
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, intInvalid
	}
	// On ErrRange f is ±Inf or 0, as Python's float() gives.
	return fromFloat(f)
}

// isIntLiteral reports whether a JSON number literal has neither a fraction
// nor an exponent.
func isIntLiteral(s string) bool {
	return s != "" && !strings.ContainsAny(s, ".eE")
}

// fromPyString is int(str) in base 10: optional surrounding whitespace, an
// optional sign, then decimal digits (any Unicode decimal digit, as Python
// accepts) with single underscores allowed between digits.
func fromPyString(s string) (int, intStatus) {
	// Python strips exactly the Unicode White_Space set unicode.IsSpace has.
	s = strings.TrimFunc(s, unicode.IsSpace)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" {
		return 0, intInvalid
	}
	var (
		n        uint64
		overflow bool
		digits   int
		prevDig  bool // the previous rune was a digit (not an underscore)
	)
	for _, r := range s {
		if r == '_' {
			if !prevDig {
				return 0, intInvalid
			}
			prevDig = false
			continue
		}
		d, ok := decimalValue(r)
		if !ok {
			return 0, intInvalid
		}
		prevDig = true
		digits++
		if !overflow {
			if n > (math.MaxUint64-uint64(d))/10 {
				overflow = true
			} else {
				n = n*10 + uint64(d)
			}
		}
	}
	if !prevDig || digits > maxStrDigits {
		return 0, intInvalid
	}
	if neg {
		switch {
		case overflow || n > uint64(math.MaxInt)+1:
			return 0, intTooSmall
		case n == uint64(math.MaxInt)+1:
			return math.MinInt, intOK
		}
		return -int(n), intOK
	}
	if overflow || n > math.MaxInt {
		return 0, intTooLarge
	}
	return int(n), intOK
}

// decimalValue returns the value of a Unicode decimal digit (category Nd),
// which Python's int() accepts in any script. Unicode allocates Nd digits in
// contiguous runs of ten starting at zero, and unicode.Nd merges adjacent
// runs into ranges with stride 1 that start at a zero, so the value is the
// offset into the range modulo 10.
func decimalValue(r rune) (int, bool) {
	if r >= '0' && r <= '9' {
		return int(r - '0'), true
	}
	if r < 0x80 || !unicode.Is(unicode.Nd, r) {
		return 0, false
	}
	for _, rg := range unicode.Nd.R16 {
		if r >= rune(rg.Lo) && r <= rune(rg.Hi) {
			return int(r-rune(rg.Lo)) % 10, true
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if r >= rune(rg.Lo) && r <= rune(rg.Hi) {
			return int(r-rune(rg.Lo)) % 10, true
		}
	}
	return 0, false
}

// pyBool converts detect_out_resolution as PyTrickle does: bools kept,
// boolean-like strings and integers converted, everything else refused.
func pyBool(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		switch strings.ToLower(x) {
		case "true", "1", "yes":
			return true, true
		case "false", "0", "no":
			return false, true
		}
		return false, false
	case json.Number:
		s := string(x)
		if !isIntLiteral(s) {
			return false, false // a Python float
		}
		if _, err := strconv.ParseInt(s, 10, 64); err != nil && !errors.Is(err, strconv.ErrRange) {
			return false, false
		}
		return strings.ContainsAny(s, "123456789"), true
	case float64:
		return floatBool(x)
	case float32:
		return floatBool(float64(x))
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		n, _ := pyInt(x)
		// Only a uint64 above MaxInt fails to fit, and it is non-zero.
		return n != 0 || isBigUint(x), true
	}
	return false, false
}

func isBigUint(v any) bool {
	switch x := v.(type) {
	case uint:
		return uint64(x) > math.MaxInt
	case uint64:
		return x > math.MaxInt
	}
	return false
}

// floatBool treats an integral float64 as the integer literal it most
// likely was before encoding/json decoded it.
func floatBool(f float64) (bool, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) {
		return false, false
	}
	return f != 0, true
}
