// Package effect holds gotrickle's built-in handlers: the ones
// `gotrickle serve --handler NAME` runs (see Lookup and Names), and worked
// examples of writing a handler for pkg/processor.
//
//   - Passthrough sends every frame on unchanged.
//   - ColorGrade applies a warm colour grade whose strength, the parameter
//     "intensity", can change while a stream runs.
//   - BoxDrawer finds the moving object in the picture and draws a box
//     around it (parameter "color").
//   - NoiseGate silences audio whose short-term level is below
//     "threshold_db".
//
// Each handler implements only the interfaces of pkg/processor it needs
// (VideoHandler, AudioHandler, ParamUpdater, StreamStarter); the processor
// finds them by type assertion. Parameters arrive on another goroutine
// than frames, so every type here is safe for concurrent use. Parameters
// a handler does not know are ignored, since every update reaches every
// handler (including the processor's own, such as max_framerate). The
// processor itself implements conformance_invert for every handler.
//
// The zero value of every handler type is ready to use, with the defaults
// documented on it. The package is pure Go.
package effect
