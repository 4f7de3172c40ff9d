// Package trickleserver is a trickle server for tests: the real
// pkg/trickle.Server, wrapped so that a test can make it misbehave on cue and
// see exactly what every client did.
//
// It exists to test the other side of the wire. Publishers and subscribers
// are judged by how they cope with a server that answers 500, drops a
// connection half-way through a segment, stalls, or is slow (Fault); the
// conformance suite is judged by whether it notices a server that breaks one
// protocol requirement (Mutation); and both need to know when each byte
// crossed the wire (Requests).
//
// Apart from the faults and mutations a test asks for, the fake behaves
// exactly as pkg/trickle does and streams as promptly: nothing is buffered
// on the way through.
//
// The package is pure Go and builds with CGO_ENABLED=0. Command
// cmd/trickleserver runs it standalone.
package trickleserver
