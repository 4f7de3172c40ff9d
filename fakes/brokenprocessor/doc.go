// Package brokenprocessor is gotrickle's stream processor (the passthrough
// handler behind pkg/api, as `gotrickle serve` runs it) with at most one
// planted bug, a Mutation. The processor conformance suite proves it can
// catch each bug by running against a processor that carries it
// (conformance/selftest).
//
// Every bug is planted from outside pkg/processor and pkg/api, so the real
// processor is what runs: a wrapper around the api.Backend changes what the
// processor is handed or what it reports, an HTTP middleware rewrites API
// answers, a RoundTripper in processor.Config.HTTPClient rewrites the
// processor's input and output trickle traffic, and a relay on loopback
// stands between the processor and a side channel (events) whose publisher
// does not use that client. Without a mutation none of them changes
// anything: the processor behaves exactly as `gotrickle serve` does.
package brokenprocessor
