package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/gotrickle/gotrickle/pkg/processor"
)

// FieldError is one failed check of a request body, as pydantic reports it.
type FieldError struct {
	// Field is the JSON key that failed, or "" for the body as a whole.
	Field string
	// Message is pydantic's wording, e.g. "Field required" or "Input
	// should be a valid string".
	Message string
	// Type is pydantic's error type, e.g. "missing" or "string_type".
	Type string
}

// ValidationError is a request body that does not fit its model. Its text
// follows pydantic's ValidationError (without the input echo and the
// documentation link), because clients of PyTrickle match on it:
//
//	1 validation error for StreamStartRequest
//	gateway_request_id
//	  Field required [type=missing]
type ValidationError struct {
	// Model is PyTrickle's model name: StreamStartRequest or
	// StreamParamsUpdateRequest.
	Model  string
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(len(e.Errors)))
	if len(e.Errors) == 1 {
		b.WriteString(" validation error for ")
	} else {
		b.WriteString(" validation errors for ")
	}
	b.WriteString(e.Model)
	for _, fe := range e.Errors {
		if fe.Field != "" {
			b.WriteString("\n")
			b.WriteString(fe.Field)
		}
		b.WriteString("\n  ")
		b.WriteString(fe.Message)
		b.WriteString(" [type=")
		b.WriteString(fe.Type)
		b.WriteString("]")
	}
	return b.String()
}

// ContentTypeError is a request whose media type is not JSON.
type ContentTypeError struct {
	// ContentType is the media type as PyTrickle (aiohttp) reports it:
	// lower case, parameters removed, "application/octet-stream" when the
	// header is missing.
	ContentType string
}

func (e *ContentTypeError) Error() string {
	return "Unknown content type: " + e.ContentType
}

// SyntaxError is a request body that is not one well-formed JSON value.
type SyntaxError struct {
	Err error
}

func (e *SyntaxError) Error() string { return "Invalid JSON body: " + e.Err.Error() }
func (e *SyntaxError) Unwrap() error { return e.Err }

const (
	modelStart  = "StreamStartRequest"
	modelParams = "StreamParamsUpdateRequest"
)

// DecodeStart parses the body of POST /stream/start (and
// /live-video-to-video) as PyTrickle's StreamStartRequest:
//   - contentType must start with "application/json" (compared as aiohttp
//     does: lower case, parameters dropped), else a *ContentTypeError
//     "Unknown content type: <type>";
//   - the body must be one JSON value, else a *SyntaxError;
//   - it must be an object whose gateway_request_id is a string, whose URL
//     fields (subscribe_url, publish_url, control_url, events_url,
//     data_url) are strings or null (null and missing both mean ""), and
//     whose params is an object or null, else a *ValidationError listing
//     every failed field in PyTrickle's order;
//   - params are then checked by ValidateParams; a failure is reported as a
//     ValidationError on params ("Value error, <message>").
//
// Unknown top-level fields are ignored. Params values other than the
// converted ones are returned as encoding/json's Unmarshal would give them
// (numbers as float64).
func DecodeStart(contentType string, body []byte) (processor.StartRequest, error) {
	var req processor.StartRequest
	v, err := decodeJSON(contentType, body)
	if err != nil {
		return req, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return req, notObject(modelStart)
	}
	verr := &ValidationError{Model: modelStart}
	urls := [...]struct {
		key string
		dst *string
	}{
		{"subscribe_url", &req.SubscribeURL},
		{"publish_url", &req.PublishURL},
		{"control_url", &req.ControlURL},
		{"events_url", &req.EventsURL},
		{"data_url", &req.DataURL},
	}
	for _, u := range urls {
		switch s := obj[u.key].(type) {
		case nil:
		case string:
			*u.dst = s
		default:
			verr.Errors = append(verr.Errors, stringTypeError(u.key))
		}
	}
	switch id, present := obj["gateway_request_id"]; s := id.(type) {
	case string:
		req.GatewayRequestID = s
	default:
		if present {
			verr.Errors = append(verr.Errors, stringTypeError("gateway_request_id"))
		} else {
			verr.Errors = append(verr.Errors, FieldError{
				Field: "gateway_request_id", Message: "Field required", Type: "missing",
			})
		}
	}
	switch p := obj["params"].(type) {
	case nil:
		req.Params = processor.Params{}
	case map[string]any:
		params, err := ValidateParams(p)
		switch {
		case errors.Is(err, errInfinity):
			// Python's OverflowError escapes pydantic unwrapped.
			return processor.StartRequest{}, err
		case err != nil:
			verr.Errors = append(verr.Errors, FieldError{
				Field: "params", Message: "Value error, " + err.Error(), Type: "value_error",
			})
		default:
			if err := normalizeNumbers(params); err != nil {
				return processor.StartRequest{}, err
			}
			req.Params = params
		}
	default:
		verr.Errors = append(verr.Errors, FieldError{
			Field: "params", Message: "Input should be a valid dictionary", Type: "dict_type",
		})
	}
	if len(verr.Errors) > 0 {
		return processor.StartRequest{}, verr
	}
	return req, nil
}

// DecodeParams parses the body of POST /stream/params as PyTrickle's
// StreamParamsUpdateRequest: the body is the flat params object. The
// content type and JSON are checked as in DecodeStart; a body that is not
// an object is a *ValidationError ("Input should be a valid dictionary or
// instance of StreamParamsUpdateRequest"); an object is checked with
// ValidateParams, whose error is returned as it is (PyTrickle raises it
// outside pydantic, so the message is bare).
func DecodeParams(contentType string, body []byte) (processor.Params, error) {
	v, err := decodeJSON(contentType, body)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, notObject(modelParams)
	}
	params, err := ValidateParams(obj)
	if err != nil {
		return nil, err
	}
	if err := normalizeNumbers(params); err != nil {
		return nil, err
	}
	return params, nil
}

func stringTypeError(field string) FieldError {
	return FieldError{Field: field, Message: "Input should be a valid string", Type: "string_type"}
}

func notObject(model string) error {
	return &ValidationError{Model: model, Errors: []FieldError{{
		Message: "Input should be a valid dictionary or instance of " + model,
		Type:    "model_type",
	}}}
}

// decodeJSON checks the content type and decodes exactly one JSON value,
// keeping numbers as json.Number so that ValidateParams can tell 1 from 1.0.
func decodeJSON(contentType string, body []byte) (any, error) {
	if ct := mediaType(contentType); !strings.HasPrefix(ct, "application/json") {
		return nil, &ContentTypeError{ContentType: ct}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, &SyntaxError{Err: err}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &SyntaxError{Err: errors.New("extra data after the JSON value")}
	}
	return v, nil
}

// mediaType reduces a Content-Type header the way aiohttp's
// request.content_type does (through Python's email.message): parameters
// dropped, lower case, surrounding spaces trimmed; a missing header is
// "application/octet-stream" and a value without exactly one '/' is
// "text/plain".
func mediaType(header string) string {
	if header == "" {
		return "application/octet-stream"
	}
	ct, _, _ := strings.Cut(header, ";")
	ct = strings.ToLower(strings.TrimSpace(ct))
	if strings.Count(ct, "/") != 1 {
		return "text/plain"
	}
	return ct
}

// normalizeNumbers turns the json.Number values left in p (those
// ValidateParams did not convert), at any depth, into float64, as
// encoding/json's Unmarshal into an interface gives them. A number too
// large for a float64 is an error, as it is for Unmarshal.
func normalizeNumbers(p processor.Params) error {
	for k, v := range p {
		nv, err := normalizeValue(v)
		if err != nil {
			return err
		}
		p[k] = nv
	}
	return nil
}

func normalizeValue(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return nil, &SyntaxError{Err: fmt.Errorf("number %s out of range", string(x))}
		}
		return f, nil
	case map[string]any:
		for k, e := range x {
			ne, err := normalizeValue(e)
			if err != nil {
				return nil, err
			}
			x[k] = ne
		}
	case []any:
		for i, e := range x {
			ne, err := normalizeValue(e)
			if err != nil {
				return nil, err
			}
			x[i] = ne
		}
	}
	return v, nil
}
