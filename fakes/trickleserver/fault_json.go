package trickleserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// LoadFaults reads a JSON array of faults, e.g.
//
//	[{"method": "GET", "channel": "s", "seq": 1, "nth": 2, "status": 500},
//	 {"method": "POST", "latency": "250ms", "drop_after_bytes": 1024}]
//
// Field names are Fault's JSON tags; durations are Go duration strings.
// Unknown fields, trailing data and faults that fail Validate are errors.
func LoadFaults(r io.Reader) ([]Fault, error) {
	dec := json.NewDecoder(r)
	var raws []json.RawMessage
	if err := dec.Decode(&raws); err != nil {
		return nil, fmt.Errorf("faults: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("faults: trailing data after the JSON array")
	}
	faults := make([]Fault, 0, len(raws))
	for i, raw := range raws {
		var f Fault
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, fmt.Errorf("faults[%d]: %w", i, err)
		}
		if err := f.Validate(); err != nil {
			return nil, fmt.Errorf("faults[%d] (%s): %w", i, f, err)
		}
		faults = append(faults, f)
	}
	return faults, nil
}

// faultFields is Fault without its JSON methods, so that they can use the
// default encoding for every field but Latency.
type faultFields Fault

// faultWire is Fault as written in JSON: Latency shadows the embedded
// field and is a duration string.
type faultWire struct {
	*faultFields
	Latency string `json:"latency,omitempty"`
}

// UnmarshalJSON reads one fault; unknown fields are an error, and latency
// must be a Go duration string such as "250ms".
func (f *Fault) UnmarshalJSON(b []byte) error {
	var out Fault
	w := faultWire{faultFields: (*faultFields)(&out)}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return err
	}
	if w.Latency != "" {
		d, err := time.ParseDuration(w.Latency)
		if err != nil {
			return fmt.Errorf("latency: %w", err)
		}
		out.Latency = d
	}
	*f = out
	return nil
}

// MarshalJSON writes the fault as UnmarshalJSON reads it.
func (f Fault) MarshalJSON() ([]byte, error) {
	w := faultWire{faultFields: (*faultFields)(&f)}
	if f.Latency != 0 {
		w.Latency = f.Latency.String()
	}
	return json.Marshal(w)
}
