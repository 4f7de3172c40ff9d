//go:build race

package effect

// raceEnabled: the race detector's instrumentation allocates, so tests of
// zero allocations are skipped under it.
const raceEnabled = true
