package processor

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// streamConfig reads the size, frame-rate cap and output-size rule from a
// start request's params (validated by pkg/api; Go callers may pass any
// number type), with the processor's defaults.
func (p *Processor) streamConfig(req StartRequest) (streamConfig, error) {
	c := streamConfig{width: p.cfg.Width, height: p.cfg.Height, maxFramerate: p.cfg.MaxFramerate, detectOut: true}
	w, okW := intParam(req.Params, "width")
	h, okH := intParam(req.Params, "height")
	if okW != okH {
		return c, fmt.Errorf("Both 'width' and 'height' must be provided together")
	}
	if okW {
		if w <= 0 || h <= 0 || w > frame.MaxDimension || h > frame.MaxDimension {
			return c, fmt.Errorf("width and height must be between 1 and %d", frame.MaxDimension)
		}
		c.width, c.height = w, h
	}
	if fps, ok := intParam(req.Params, "max_framerate"); ok {
		if fps <= 0 || fps > 60 {
			return c, fmt.Errorf("max_framerate must be between 1 and 60")
		}
		c.maxFramerate = fps
	}
	if v, ok := req.Params["detect_out_resolution"]; ok {
		b, ok := boolParam(v)
		if !ok {
			return c, fmt.Errorf("detect_out_resolution must be a boolean value")
		}
		c.detectOut = b
	}
	return c, nil
}

// applyBuiltins applies the parameters the processor itself understands.
// They still reach the ParamUpdater, as in PyTrickle.
func (s *stream) applyBuiltins(p Params) {
	if fps, ok := intParam(p, "max_framerate"); ok && fps > 0 {
		s.setFramerate(fps)
	}
	if v, ok := p["show_loading"]; ok {
		// PyTrickle: a string is true only when it says "true".
		if str, isStr := v.(string); isStr {
			s.showLoading.Store(strings.EqualFold(str, "true"))
		} else {
			b, _ := boolParam(v)
			s.showLoading.Store(b)
		}
	}
	if v, ok := p["conformance_invert"]; ok {
		b, _ := boolParam(v)
		s.invert.Store(b)
	}
}

// setFramerate applies a cap now, or when the decoder starts. capMu keeps
// an update racing the decoder's start from being lost or reordered.
func (s *stream) setFramerate(fps int) {
	s.capMu.Lock()
	defer s.capMu.Unlock()
	if s.dec == nil {
		s.pendingCap = fps
		return
	}
	if err := s.dec.SetMaxFramerate(frame.Rational{Num: fps, Den: 1}); err != nil {
		s.log.Warn("max_framerate", "fps", fps, "err", err)
	}
}

// setDecoder makes d the target of later caps and applies one that came
// before it.
func (s *stream) setDecoder(d Decoder) {
	s.capMu.Lock()
	defer s.capMu.Unlock()
	s.dec = d
	if d != nil && s.pendingCap > 0 {
		if err := d.SetMaxFramerate(frame.Rational{Num: s.pendingCap, Den: 1}); err != nil {
			s.log.Warn("max_framerate", "fps", s.pendingCap, "err", err)
		}
		s.pendingCap = 0
	}
}

// intParam reads an integer parameter as encoding/json or a Go caller may
// have stored it.
func intParam(p Params, key string) (int, bool) {
	v, ok := p[key]
	if !ok || v == nil {
		return 0, false
	}
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		return floatInt(n)
	case json.Number:
		// Read through float64, so that a number reads the same whether or
		// not it was decoded with UseNumber (found by FuzzIntParam: 1e300
		// and 2⁶³ came out as math.MinInt64).
		f, err := n.Float64()
		if err != nil {
			return 0, false
		}
		return floatInt(f)
	}
	return 0, false
}

// floatInt truncates f toward zero; it refuses what is not finite or lies
// beyond ±2³¹, where Go's float-to-int conversion is undefined or the
// value means nothing as a size or a rate.
func floatInt(f float64) (int, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1<<31 {
		return 0, false
	}
	return int(f), true
}

// boolParam reads a boolean the way PyTrickle's params accept one.
func boolParam(v any) (bool, bool) {
	switch b := v.(type) {
	case bool:
		return b, true
	case string:
		switch strings.ToLower(b) {
		case "true", "1", "yes":
			return true, true
		case "false", "0", "no":
			return false, true
		}
		return false, false
	case float64:
		return b != 0, true
	case int:
		return b != 0, true
	case json.Number:
		f, err := b.Float64()
		return f != 0, err == nil
	}
	return false, false
}
