// Package processor runs one live stream at a time through user handlers:
// it subscribes to a trickle channel, decodes segments into frames, calls
// the handlers on every frame (skipping frames when they fall behind),
// encodes the results and publishes them, while control, events and data
// channels carry parameter updates, monitoring events and handler output.
//
// Handlers are optional interfaces detected on any value, the way net/http
// detects http.Flusher; Funcs adapts plain functions. The semantics of each
// handler result, the state machine and every channel's wire shape follow
// PyTrickle where it is sound and are numbered in docs/spec/processor-api.md.
//
// The package is pure Go: decoding and encoding come through the Codecs
// interface (pkg/media provides the FFmpeg implementation), so the
// pipeline can be tested with fakes and built with CGO_ENABLED=0.
package processor
