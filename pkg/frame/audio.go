package frame

import (
	"fmt"
	"math"
	"time"
)

// Audio is one decoded audio frame: float32 samples, planar, one slice per
// channel, nominally in −1..1 (FFmpeg's "fltp"; the decoder converts other
// sample formats). Values beyond ±1 are kept as they are; the encoder clips.
// PyTrickle's AudioFrame keeps the stream's own format and gives planar
// streams a (channels, n) array: Samples is that array, always float32.
//
// Like a Video, an Audio must not be copied; use Clone.
type Audio struct {
	_ noCopy

	// Samples[c][i] is sample i of channel c. Every channel has the same
	// length, NumSamples.
	Samples [][]float32
	// Layout names the channel layout, as FFmpeg does ("mono", "stereo",
	// "5.1"...).
	Layout Layout
	// SampleRate is in samples per second per channel.
	SampleRate int

	// PTS is the presentation timestamp of the first sample, in TimeBase
	// units.
	PTS      int64
	TimeBase Rational

	own      []float32    // one buffer for all channels, given back by Release
	chans    [2][]float32 // Samples' backing for mono and stereo: no allocation
	released bool
}

// NewAudio returns a silent frame of the given number of channels and
// samples per channel, in fresh memory. Its Layout is DefaultLayout(channels)
// and its TimeBase 1/sampleRate (PyTrickle's default for a new AudioFrame);
// set PTS before encoding it. Release gives its buffer to the pool like a
// GetAudio frame's.
func NewAudio(channels, samples, sampleRate int) (*Audio, error) {
	if err := checkAudio(channels, samples, sampleRate); err != nil {
		return nil, err
	}
	a := &Audio{Layout: DefaultLayout(channels), SampleRate: sampleRate, TimeBase: Rational{1, sampleRate}}
	a.setBuffer(make([]float32, channels*samples), channels, samples)
	return a, nil
}

// GetAudio is NewAudio drawing on the pool: its samples are NOT zeroed (a
// decoder overwrites them all). Hand the frame back with Release when done.
func GetAudio(channels, samples, sampleRate int) (*Audio, error) {
	if err := checkAudio(channels, samples, sampleRate); err != nil {
		return nil, err
	}
	a := &Audio{Layout: DefaultLayout(channels), SampleRate: sampleRate, TimeBase: Rational{1, sampleRate}}
	a.setBuffer(floatPool.get(channels*samples), channels, samples)
	return a, nil
}

// setBuffer makes buf, of channels×samples values, the frame's storage:
// channel c is buf[c*samples:(c+1)*samples], capped so that an append to
// one channel cannot overwrite the next. Samples is rebuilt rather than
// written through, so a [][]float32 the caller assigned to it is never
// modified; for mono and stereo it lives in the struct itself, which saves
// an allocation per frame.
func (a *Audio) setBuffer(buf []float32, channels, samples int) {
	a.own = buf
	if channels <= len(a.chans) {
		a.Samples = a.chans[:channels:channels]
	} else {
		a.Samples = make([][]float32, channels)
	}
	for c := range a.Samples {
		a.Samples[c] = buf[c*samples : (c+1)*samples : (c+1)*samples]
	}
}

// Channels returns the number of channels, len(Samples).
func (a *Audio) Channels() int { return len(a.Samples) }

// NumSamples returns the number of samples per channel.
func (a *Audio) NumSamples() int {
	if len(a.Samples) == 0 {
		return 0
	}
	return len(a.Samples[0])
}

// Duration is NumSamples/SampleRate, exact to the nanosecond; 0 if the
// sample rate is not positive.
func (a *Audio) Duration() time.Duration {
	if a.SampleRate <= 0 {
		return 0
	}
	return Rational{1, a.SampleRate}.Duration(int64(a.NumSamples()))
}

// ReplaceSamples replaces the frame's samples with a copy of s, keeping its
// Layout, SampleRate, PTS and TimeBase (PyTrickle's replace_samples). s must
// have the frame's number of channels (ErrChannels) and channels of equal
// length (ErrSampleLength), but that length may differ from the frame's: a
// handler may stretch, trim or resample. NaN values become 0 and ±Inf ±1, so
// one bad value cannot poison the encoder; finite values are kept as they
// are. s may alias the frame's own Samples.
//
// The frame gets a new pooled buffer and its old one goes back to the pool,
// so slices taken from Samples before the call must not be used after it. On
// error the frame is unchanged.
func (a *Audio) ReplaceSamples(s [][]float32) error {
	if a.released {
		return ErrReleased
	}
	if len(s) != len(a.Samples) {
		return fmt.Errorf("%w: got %d, the frame has %d", ErrChannels, len(s), len(a.Samples))
	}
	n := 0
	if len(s) > 0 {
		n = len(s[0])
	}
	for c := range s {
		if len(s[c]) != n {
			return fmt.Errorf("%w: channel %d has %d samples, channel 0 has %d", ErrSampleLength, c, len(s[c]), n)
		}
	}
	if n > MaxAudioSamples {
		return fmt.Errorf("%w: %d per channel, at most %d", ErrSampleLength, n, MaxAudioSamples)
	}
	// Copying into a fresh buffer, rather than over the old one, is what
	// makes aliasing safe: s may be the frame's own channels, reordered.
	buf := floatPool.get(len(s) * n)
	for c := range s {
		sanitize(buf[c*n:(c+1)*n], s[c])
	}
	old := a.own
	a.setBuffer(buf, len(s), n)
	floatPool.put(old)
	return nil
}

// sanitize copies src to dst, replacing NaN with 0 and ±Inf with ±1.
func sanitize(dst, src []float32) {
	dst = dst[:len(src)]
	for i, x := range src {
		switch {
		case x != x: // NaN
			x = 0
		case x > math.MaxFloat32:
			x = 1
		case x < -math.MaxFloat32:
			x = -1
		}
		dst[i] = x
	}
}

// Clone returns an independent copy of a (samples and every field) with a
// pooled buffer. It panics if a has been released.
func (a *Audio) Clone() *Audio {
	if a.released {
		panic(ErrReleased)
	}
	n, ch := a.NumSamples(), a.Channels()
	c := &Audio{Layout: a.Layout, SampleRate: a.SampleRate, PTS: a.PTS, TimeBase: a.TimeBase}
	c.setBuffer(floatPool.get(ch*n), ch, n)
	for i := range c.Samples {
		copy(c.Samples[i], a.Samples[i])
	}
	return c
}

// Release gives the frame's sample buffer back to the pool. The frame must
// not be used afterwards, nor any slice of its Samples; Release sets Samples
// to nil and later calls return ErrReleased or panic. Releasing twice, or
// releasing nil, does nothing. Slices the caller put in Samples are not
// pooled; only the buffer this package allocated is.
func (a *Audio) Release() {
	if a == nil || a.released {
		return
	}
	own := a.own
	a.released, a.own, a.Samples, a.chans = true, nil, nil, [2][]float32{}
	floatPool.put(own)
}

// Validate reports whether a's fields describe a usable frame: 1..MaxChannels
// channels of equal length up to MaxAudioSamples, a SampleRate in
// 1..MaxSampleRate, a Layout whose channel count (when known) matches, and
// not released.
func (a *Audio) Validate() error {
	if a.released {
		return ErrReleased
	}
	if err := checkAudio(a.Channels(), a.NumSamples(), a.SampleRate); err != nil {
		return err
	}
	for c := range a.Samples {
		if len(a.Samples[c]) != a.NumSamples() {
			return fmt.Errorf("%w: channel %d has %d samples, channel 0 has %d", ErrSampleLength, c, len(a.Samples[c]), a.NumSamples())
		}
	}
	if n := a.Layout.Channels(); n != 0 && n != a.Channels() {
		return fmt.Errorf("%w: layout %q has %d, the frame %d", ErrChannels, a.Layout, n, a.Channels())
	}
	return nil
}

func checkAudio(channels, samples, sampleRate int) error {
	if channels < 1 || channels > MaxChannels {
		return fmt.Errorf("%w: %d (must be 1..%d)", ErrChannels, channels, MaxChannels)
	}
	if samples < 0 || samples > MaxAudioSamples {
		return fmt.Errorf("%w: %d per channel (must be 0..%d)", ErrSampleLength, samples, MaxAudioSamples)
	}
	if sampleRate < 1 || sampleRate > MaxSampleRate {
		return fmt.Errorf("%w: %d (must be 1..%d)", ErrSampleRate, sampleRate, MaxSampleRate)
	}
	return nil
}
