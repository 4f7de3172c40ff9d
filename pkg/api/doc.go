// Package api is PyTrickle's HTTP API in Go: the routes of PyTrickle's
// StreamServer (POST {prefix}/stream/start, /stream/stop, /stream/params,
// GET {prefix}/stream/status, /health, /version, /app-version,
// /hardware/info, /hardware/stats and the /live-video-to-video alias), with
// PyTrickle's request validation, messages, response shapes and status
// codes, plus GET /metrics in the Prometheus text format. With
// Config.StatusPage set it also serves a status page at /, /ws and /ui/
// (pkg/statuspage), GET only, never under the route prefix.
//
// A Server drives a Backend (gotrickle's processor, or a fake) and is an
// http.Handler. DecodeStart, DecodeParams and ValidateParams are the request
// checks on their own, for other transports such as the control channel.
//
// Where PyTrickle has a bug the server fixes it and says so in the method's
// documentation: a malformed start request does not tear down the running
// stream, a bad params body is 400 (not 500), and a failed parameter update
// is 500 (not 200).
//
// The package is pure Go and builds with CGO_ENABLED=0.
package api
