// Package spec embeds gotrickle's numbered specifications so that the
// conformance suites (and a conformance binary shipped without the source)
// can list every requirement in their reports.
package spec

import _ "embed"

// Trickle is docs/spec/trickle.md: requirements TRK-SRV-nnn and TRK-CLI-nnn.
//
//go:embed trickle.md
var Trickle string

// ProcessorAPI is docs/spec/processor-api.md: requirements PROC-nnn for a
// PyTrickle-compatible stream processor (HTTP API, channels, processing).
//
//go:embed processor-api.md
var ProcessorAPI string
