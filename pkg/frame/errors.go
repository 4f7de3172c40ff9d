package frame

import "errors"

// Limits on what a frame may hold. They keep a corrupt stream header from
// asking for gigabytes; real content is far inside them (H.264's largest
// level is 8192×4320).
const (
	// MaxDimension is the largest width or height of a Video.
	MaxDimension = 16384
	// MaxChannels is the most channels an Audio may carry (FFmpeg's limit
	// for a channel mask).
	MaxChannels = 64
	// MaxAudioSamples is the most samples per channel in one Audio, about
	// 22 s at 48 kHz; codec frames hold a few thousand at most.
	MaxAudioSamples = 1 << 20
	// MaxSampleRate is the highest SampleRate an Audio may have.
	MaxSampleRate = 1 << 20
)

// Errors returned by this package. Test with errors.Is: the returned errors
// wrap these with the numbers involved.
var (
	// ErrDimensions: a width or height outside 1..MaxDimension.
	ErrDimensions = errors.New("frame: invalid dimensions")
	// ErrPixLength: a Video whose Stride or Pix is too small for its size.
	ErrPixLength = errors.New("frame: pixel buffer too small")
	// ErrTensorLength: a tensor whose length is not width×height×3.
	ErrTensorLength = errors.New("frame: wrong tensor length")
	// ErrChannels: a channel count outside 1..MaxChannels, or one that
	// differs from the frame's (ReplaceSamples) or its Layout's.
	ErrChannels = errors.New("frame: wrong number of channels")
	// ErrSampleLength: channels of different lengths, or more than
	// MaxAudioSamples per channel.
	ErrSampleLength = errors.New("frame: wrong number of samples")
	// ErrSampleRate: a sample rate outside 1..MaxSampleRate.
	ErrSampleRate = errors.New("frame: invalid sample rate")
	// ErrReleased: a frame used after Release. Methods that cannot return an
	// error panic with this value instead, because going on would read or
	// write memory that now belongs to another frame.
	ErrReleased = errors.New("frame: use of a released frame")
)
