package api

import (
	"errors"
	"reflect"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/processor"
)

const jsonCT = "application/json"

func TestDecodeStart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ct   string
		body string
		want processor.StartRequest
		err  string // the exact error text; "" for success
	}{
		{
			name: "a full request decodes",
			body: `{"subscribe_url":"http://t/in","publish_url":"http://t/out","control_url":"http://t/c",
				"events_url":"http://t/e","data_url":"http://t/d","gateway_request_id":"req-1",
				"params":{"width":"640","height":480,"prompt":"x"}}`,
			want: processor.StartRequest{
				SubscribeURL: "http://t/in", PublishURL: "http://t/out", ControlURL: "http://t/c",
				EventsURL: "http://t/e", DataURL: "http://t/d", GatewayRequestID: "req-1",
				Params: processor.Params{"width": 640, "height": 480, "prompt": "x"},
			},
		},
		{
			name: "only gateway_request_id is required",
			body: `{"gateway_request_id":"r"}`,
			want: processor.StartRequest{GatewayRequestID: "r", Params: processor.Params{}},
		},
		{
			name: "an empty gateway_request_id is a string all the same",
			body: `{"gateway_request_id":""}`,
			want: processor.StartRequest{Params: processor.Params{}},
		},
		{
			name: "null URLs and null params mean none",
			body: `{"gateway_request_id":"r","subscribe_url":null,"publish_url":null,"control_url":null,
				"events_url":null,"data_url":null,"params":null}`,
			want: processor.StartRequest{GatewayRequestID: "r", Params: processor.Params{}},
		},
		{
			name: "unknown top-level fields are ignored",
			body: `{"gateway_request_id":"r","stream_id":7,"manifest_id":{"a":1}}`,
			want: processor.StartRequest{GatewayRequestID: "r", Params: processor.Params{}},
		},
		{
			name: "a JSON content type with parameters and odd case is accepted",
			ct:   "Application/JSON; charset=utf-8",
			body: `{"gateway_request_id":"r"}`,
			want: processor.StartRequest{GatewayRequestID: "r", Params: processor.Params{}},
		},
		{
			name: "numbers in params come out as float64, like encoding/json's",
			body: `{"gateway_request_id":"r","params":{"strength":0.5,"seed":42,"nested":{"xs":[1,{"y":2}]}}}`,
			want: processor.StartRequest{GatewayRequestID: "r", Params: processor.Params{
				"strength": 0.5, "seed": 42.0, "nested": map[string]any{"xs": []any{1.0, map[string]any{"y": 2.0}}},
			}},
		},
		{name: "a missing content type is octet-stream", ct: "-", body: `{}`,
			err: "Unknown content type: application/octet-stream"},
		{name: "a text content type is refused", ct: "text/plain; charset=utf-8", body: `{}`,
			err: "Unknown content type: text/plain"},
		{name: "a content type without a slash reads as text/plain", ct: "json", body: `{}`,
			err: "Unknown content type: text/plain"},
		{name: "an empty body is malformed JSON", body: ``,
			err: "Invalid JSON body: unexpected EOF"},
		{name: "a truncated object is malformed JSON", body: `{"gateway_request_id":`,
			err: "Invalid JSON body: unexpected EOF"},
		{name: "data after the value is malformed JSON", body: `{"gateway_request_id":"r"} {}`,
			err: "Invalid JSON body: extra data after the JSON value"},
		{name: "NaN is malformed JSON", body: `{"gateway_request_id":"r","params":{"x":NaN}}`,
			err: "Invalid JSON body: invalid character 'N' looking for beginning of value"},
		{name: "an array body is not a dictionary", body: `[]`,
			err: "1 validation error for StreamStartRequest\n  Input should be a valid dictionary or instance of StreamStartRequest [type=model_type]"},
		{name: "a missing gateway_request_id is a required field", body: `{"subscribe_url":"http://t/in"}`,
			err: "1 validation error for StreamStartRequest\ngateway_request_id\n  Field required [type=missing]"},
		{name: "a null gateway_request_id is not a string", body: `{"gateway_request_id":null}`,
			err: "1 validation error for StreamStartRequest\ngateway_request_id\n  Input should be a valid string [type=string_type]"},
		{name: "a numeric gateway_request_id is not a string", body: `{"gateway_request_id":12}`,
			err: "1 validation error for StreamStartRequest\ngateway_request_id\n  Input should be a valid string [type=string_type]"},
		{name: "a URL of the wrong type is named", body: `{"gateway_request_id":"r","events_url":true}`,
			err: "1 validation error for StreamStartRequest\nevents_url\n  Input should be a valid string [type=string_type]"},
		{name: "every failed field is listed in PyTrickle's order",
			body: `{"params":[],"data_url":1,"subscribe_url":{}}`,
			err: "4 validation errors for StreamStartRequest" +
				"\nsubscribe_url\n  Input should be a valid string [type=string_type]" +
				"\ndata_url\n  Input should be a valid string [type=string_type]" +
				"\ngateway_request_id\n  Field required [type=missing]" +
				"\nparams\n  Input should be a valid dictionary [type=dict_type]"},
		{name: "params that are not an object are refused", body: `{"gateway_request_id":"r","params":"w=1"}`,
			err: "1 validation error for StreamStartRequest\nparams\n  Input should be a valid dictionary [type=dict_type]"},
		{name: "a params validation failure is a value error on params",
			body: `{"gateway_request_id":"r","params":{"width":640}}`,
			err:  "1 validation error for StreamStartRequest\nparams\n  Value error, " + msgDimsTogether + " [type=value_error]"},
		{name: "max_framerate is checked at start", body: `{"gateway_request_id":"r","params":{"max_framerate":120}}`,
			err: "1 validation error for StreamStartRequest\nparams\n  Value error, " + msgFramerateTooHigh + " [type=value_error]"},
		{name: "an infinite width escapes as Python's overflow error",
			body: `{"params":{"width":1e999,"height":1}}`, err: msgInfinity},
		{name: "a pass-through number too large for a float64 is refused",
			body: `{"gateway_request_id":"r","params":{"scale":1e999}}`, err: "Invalid JSON body: number 1e999 out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ct := tc.ct
			switch ct {
			case "":
				ct = jsonCT
			case "-":
				ct = ""
			}
			got, err := DecodeStart(ct, []byte(tc.body))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error = %v\nwant %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("error = %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestDecodeStartErrorTypes(t *testing.T) {
	t.Parallel()
	_, err := DecodeStart("text/html", nil)
	if cte, ok := errors.AsType[*ContentTypeError](err); !ok || cte.ContentType != "text/html" {
		t.Errorf("content type: %T %v", err, err)
	}
	_, err = DecodeStart(jsonCT, []byte("{"))
	if _, ok := errors.AsType[*SyntaxError](err); !ok {
		t.Errorf("syntax: %T %v", err, err)
	}
	_, err = DecodeStart(jsonCT, []byte("{}"))
	ve, ok := errors.AsType[*ValidationError](err)
	if !ok || ve.Model != "StreamStartRequest" || len(ve.Errors) != 1 || ve.Errors[0].Field != "gateway_request_id" {
		t.Errorf("validation: %T %#v", err, err)
	}
}

func TestDecodeParams(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ct   string
		body string
		want processor.Params
		err  string
	}{
		{name: "a flat object is the params", body: `{"prompt":"dog","width":"512","height":512,"max_framerate":"24"}`,
			want: processor.Params{"prompt": "dog", "width": 512, "height": 512, "max_framerate": 24}},
		{name: "an empty object is no params", body: `{}`, want: processor.Params{}},
		{name: "other numbers come out as float64", body: `{"strength":1,"list":[2.5]}`,
			want: processor.Params{"strength": 1.0, "list": []any{2.5}}},
		{name: "a validation failure is the bare message", body: `{"height":1}`, err: msgDimsTogether},
		{name: "a detect_out_resolution failure is the bare message", body: `{"detect_out_resolution":"perhaps"}`,
			err: msgDetectOutResInvalid},
		{name: "an array body is not a dictionary", body: `[{"width":1}]`,
			err: "1 validation error for StreamParamsUpdateRequest\n  Input should be a valid dictionary or instance of StreamParamsUpdateRequest [type=model_type]"},
		{name: "a null body is not a dictionary", body: `null`,
			err: "1 validation error for StreamParamsUpdateRequest\n  Input should be a valid dictionary or instance of StreamParamsUpdateRequest [type=model_type]"},
		{name: "a form content type is refused", ct: "application/x-www-form-urlencoded", body: `{}`,
			err: "Unknown content type: application/x-www-form-urlencoded"},
		{name: "malformed JSON is refused", body: `{"a":}`,
			err: "Invalid JSON body: invalid character '}' looking for beginning of value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ct := tc.ct
			if ct == "" {
				ct = jsonCT
			}
			got, err := DecodeParams(ct, []byte(tc.body))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error = %v\nwant %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("error = %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestMediaType(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                                 "application/octet-stream",
		"application/json":                 "application/json",
		" APPLICATION/Json ;charset=UTF-8": "application/json",
		"application/json-seq":             "application/json-seq",
		"a/b/c":                            "text/plain",
		"nonsense":                         "text/plain",
	} {
		if got := mediaType(in); got != want {
			t.Errorf("mediaType(%q) = %q, want %q", in, got, want)
		}
	}
}
