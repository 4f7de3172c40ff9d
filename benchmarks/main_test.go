package benchmarks

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain removes the media inputs a run generated (hundreds of MB at
// 1080p) once every benchmark is done, and fails a passing run that left
// a goroutine behind (goleak.VerifyTestMain would exit before the removal).
func TestMain(m *testing.M) {
	code := m.Run()
	inputsMu.Lock()
	for _, dir := range inputs {
		os.RemoveAll(dir)
	}
	inputsMu.Unlock()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
