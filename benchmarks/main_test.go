package benchmarks

import (
	"os"
	"testing"
)

// TestMain removes the media inputs a run generated (hundreds of MB at
// 1080p) once every benchmark is done.
func TestMain(m *testing.M) {
	code := m.Run()
	inputsMu.Lock()
	for _, dir := range inputs {
		os.RemoveAll(dir)
	}
	inputsMu.Unlock()
	os.Exit(code)
}
