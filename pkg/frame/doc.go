// Package frame holds the decoded media that gotrickle hands to handlers: a
// video frame as packed RGB24 pixels and an audio frame as planar float32
// samples, each with its presentation timestamp in an exact rational time
// base.
//
// It is the Go side of PyTrickle's VideoFrame and AudioFrame. Where PyTrickle
// gives a handler a float32 tensor of shape [1, H, W, 3] with values in 0..1,
// a Video gives the same numbers through Tensor (a flat H×W×3 slice, the
// batch dimension left implicit) and takes them back through ReplaceTensor,
// which clamps to 0..1 and rounds. A Video is also an image.Image and a
// draw.Image, so the standard library can draw on it directly. Audio samples
// are float32 planar, one slice per channel, in FFmpeg's nominal −1..1 range
// (its "fltp" format), whatever the stream's own sample format was.
//
// The package is pure Go. Frames are big (a 720p RGB24 frame is 2.7 MB and
// its tensor 11 MB), so buffers come from pools keyed by size: GetVideo,
// GetAudio, Clone and Tensor reuse memory that Release and ReleaseTensor gave
// back, which keeps a 30 fps stream from churning the garbage collector.
// Giving memory back is optional (the collector reclaims whatever is not
// released), but a frame or tensor must not be touched after it is released.
//
// Timestamps never go through floating point: Rational, Rescale and
// CompareTS work in exact integer arithmetic, so frame-rate caps and A/V
// alignment do not drift over a long stream.
package frame
