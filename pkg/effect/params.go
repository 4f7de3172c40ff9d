package effect

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gotrickle/gotrickle/pkg/processor"
)

// floatParam reads the number p[key] as encoding/json (float64 or
// json.Number), a Go caller (any integer or float type) or a form field
// (a numeric string) may have stored it. present is false when the key is
// absent; err is set when it is there but not a finite number.
func floatParam(p processor.Params, key string) (v float64, present bool, err error) {
	raw, ok := p[key]
	if !ok {
		return 0, false, nil
	}
	switch n := raw.(type) {
	case float64:
		v = n
	case float32:
		v = float64(n)
	case int:
		v = float64(n)
	case int8:
		v = float64(n)
	case int16:
		v = float64(n)
	case int32:
		v = float64(n)
	case int64:
		v = float64(n)
	case uint:
		v = float64(n)
	case uint8:
		v = float64(n)
	case uint16:
		v = float64(n)
	case uint32:
		v = float64(n)
	case uint64:
		v = float64(n)
	case json.Number:
		f, perr := strconv.ParseFloat(string(n), 64)
		if perr != nil {
			return 0, true, fmt.Errorf("%s must be a number, got %q", key, string(n))
		}
		v = f
	case string:
		f, perr := strconv.ParseFloat(strings.TrimSpace(n), 64)
		if perr != nil {
			return 0, true, fmt.Errorf("%s must be a number, got the string %q", key, n)
		}
		v = f
	default:
		return 0, true, fmt.Errorf("%s must be a number, got %s", key, describe(raw))
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, true, fmt.Errorf("%s must be a finite number, got %v", key, v)
	}
	return v, true, nil
}

// describe names a JSON-ish value's type for an error message.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprintf("the boolean %v", v)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	default:
		return fmt.Sprintf("a %T", v)
	}
}
