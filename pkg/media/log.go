package media

import (
	"sync"

	"github.com/asticode/go-astiav"
)

var quietOnce sync.Once

// quietFFmpeg stops FFmpeg printing to stderr: damaged input is reported
// through errors and counters instead. (A log callback would be called
// from FFmpeg's own threads; astiav v0.16.0 keeps it in an unsynchronised
// global, so none is installed.)
func quietFFmpeg() { quietOnce.Do(func() { astiav.SetLogLevel(astiav.LogLevelQuiet) }) }
