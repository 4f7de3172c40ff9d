package frame

import (
	"errors"
	"math"
	"testing"
	"time"
)

func mustAudio(t testing.TB, ch, n, rate int) *Audio {
	t.Helper()
	a, err := NewAudio(ch, n, rate)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func ramp(ch, n int, base float32) [][]float32 {
	s := make([][]float32, ch)
	for c := range s {
		s[c] = make([]float32, n)
		for i := range s[c] {
			s[c][i] = base + float32(c) + float32(i)/1000
		}
	}
	return s
}

func TestNewAudio(t *testing.T) {
	a := mustAudio(t, 2, 1024, 48000)
	if a.Channels() != 2 || a.NumSamples() != 1024 || a.Layout != LayoutStereo || a.SampleRate != 48000 || a.TimeBase != tb48k {
		t.Fatalf("got %d ch × %d, %q, %d Hz, %v", a.Channels(), a.NumSamples(), a.Layout, a.SampleRate, a.TimeBase)
	}
	for c := range a.Samples {
		for i, x := range a.Samples[c] {
			if x != 0 {
				t.Fatalf("sample %d of channel %d = %v, want silence", i, c, x)
			}
		}
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	if a.Duration() != time.Second*1024/48000 {
		t.Fatalf("Duration = %v", a.Duration())
	}
}

func TestNewAudioRefusesBadFormats(t *testing.T) {
	for _, c := range []struct {
		name        string
		ch, n, rate int
		want        error
	}{
		{"no channels", 0, 10, 48000, ErrChannels},
		{"too many channels", MaxChannels + 1, 10, 48000, ErrChannels},
		{"a negative sample count", 2, -1, 48000, ErrSampleLength},
		{"too many samples", 2, MaxAudioSamples + 1, 48000, ErrSampleLength},
		{"a zero sample rate", 2, 10, 0, ErrSampleRate},
		{"an absurd sample rate", 2, 10, MaxSampleRate + 1, ErrSampleRate},
	} {
		t.Run(c.name+" is refused", func(t *testing.T) {
			for name, f := range map[string]func(int, int, int) (*Audio, error){"NewAudio": NewAudio, "GetAudio": GetAudio} {
				if a, err := f(c.ch, c.n, c.rate); !errors.Is(err, c.want) || a != nil {
					t.Fatalf("%s = %v, %v; want %v", name, a, err, c.want)
				}
			}
		})
	}
}

func TestReplaceSamples(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, c := range []struct {
		name    string
		ch, n   int
		in      [][]float32
		want    [][]float32 // nil: the same as in
		wantErr error
	}{
		{"the same length replaces the samples", 2, 4, ramp(2, 4, 0.5), nil, nil},
		{"a longer length grows the frame", 2, 4, ramp(2, 9, 0.25), nil, nil},
		{"a shorter length shrinks the frame", 1, 1024, ramp(1, 960, -0.5), nil, nil},
		{"zero samples empties the frame", 2, 4, [][]float32{{}, {}}, nil, nil},
		{"six channels stay six", 6, 3, ramp(6, 5, 0), nil, nil},
		{"values beyond ±1 are kept", 1, 2, [][]float32{{1.5, -3}}, nil, nil},
		{"NaN becomes 0 and ±Inf ±1", 1, 3, [][]float32{{nan, inf, -inf}}, [][]float32{{0, 1, -1}}, nil},
		{"a missing channel is refused", 2, 4, ramp(1, 4, 0), nil, ErrChannels},
		{"an extra channel is refused", 1, 4, ramp(2, 4, 0), nil, ErrChannels},
		{"channels of different lengths are refused", 2, 4, [][]float32{{1, 2}, {1}}, nil, ErrSampleLength},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := mustAudio(t, c.ch, c.n, 48000)
			a.PTS, a.TimeBase = 1234, tb90k
			err := a.ReplaceSamples(c.in)
			if !errors.Is(err, c.wantErr) || (err == nil) != (c.wantErr == nil) {
				t.Fatalf("ReplaceSamples = %v, want %v", err, c.wantErr)
			}
			want := c.want
			if want == nil {
				want = c.in
			}
			if err != nil {
				want = make([][]float32, c.ch)
				for i := range want {
					want[i] = make([]float32, c.n)
				}
			}
			if a.Channels() != len(want) || a.NumSamples() != len(want[0]) {
				t.Fatalf("frame has %d × %d, want %d × %d", a.Channels(), a.NumSamples(), len(want), len(want[0]))
			}
			for ch := range want {
				for i := range want[ch] {
					if a.Samples[ch][i] != want[ch][i] {
						t.Fatalf("channel %d sample %d = %v, want %v", ch, i, a.Samples[ch][i], want[ch][i])
					}
				}
			}
			if a.PTS != 1234 || a.TimeBase != tb90k || a.SampleRate != 48000 {
				t.Fatal("ReplaceSamples changed the timing or rate")
			}
			if err := a.Validate(); err != nil {
				t.Fatal(err)
			}
			if len(c.in) > 0 && len(c.in[0]) > 0 && err == nil {
				c.in[0][0] = 99
				if a.Samples[0][0] == 99 {
					t.Fatal("the frame shares memory with the caller's samples")
				}
			}
		})
	}
}

func TestReplaceSamplesWithTheFramesOwnChannelsSwapped(t *testing.T) {
	a := mustAudio(t, 2, 3, 48000)
	copy(a.Samples[0], []float32{1, 2, 3})
	copy(a.Samples[1], []float32{4, 5, 6})
	if err := a.ReplaceSamples([][]float32{a.Samples[1], a.Samples[0]}); err != nil {
		t.Fatal(err)
	}
	if a.Samples[0][2] != 6 || a.Samples[1][0] != 1 {
		t.Fatalf("after the swap: %v", a.Samples)
	}
}

func TestAppendingToAChannelDoesNotSpillIntoTheNext(t *testing.T) {
	a := mustAudio(t, 2, 2, 48000)
	a.Samples[1][0] = 7
	_ = append(a.Samples[0], 99)
	if a.Samples[1][0] != 7 {
		t.Fatal("append to channel 0 overwrote channel 1")
	}
}

func TestAudioCloneIsIndependent(t *testing.T) {
	a := mustAudio(t, 3, 5, 44100)
	if err := a.ReplaceSamples(ramp(3, 5, 0.1)); err != nil {
		t.Fatal(err)
	}
	a.PTS, a.TimeBase, a.Layout = 77, tb90k, "3.0"
	c := a.Clone()
	defer c.Release()
	if c.Channels() != 3 || c.NumSamples() != 5 || c.PTS != 77 || c.TimeBase != tb90k || c.Layout != "3.0" || c.SampleRate != 44100 {
		t.Fatalf("clone: %d × %d pts %d %v %q %d", c.Channels(), c.NumSamples(), c.PTS, c.TimeBase, c.Layout, c.SampleRate)
	}
	for ch := range a.Samples {
		for i := range a.Samples[ch] {
			if c.Samples[ch][i] != a.Samples[ch][i] {
				t.Fatalf("channel %d sample %d differs", ch, i)
			}
		}
	}
	c.Samples[0][0] = 5
	a.Samples[2][4] = 6
	if a.Samples[0][0] == 5 || c.Samples[2][4] == 6 {
		t.Fatal("the clone shares samples with the original")
	}
	if err := c.ReplaceSamples(ramp(3, 2, 0)); err != nil || a.NumSamples() != 5 {
		t.Fatal("replacing the clone's samples changed the original")
	}
}

func TestAReleasedAudioCannotBeUsed(t *testing.T) {
	a, err := GetAudio(2, 16, 48000)
	if err != nil {
		t.Fatal(err)
	}
	a.Release()
	a.Release()
	(*Audio)(nil).Release()
	if a.Samples != nil {
		t.Fatal("Release left Samples set")
	}
	if err := a.ReplaceSamples(ramp(2, 4, 0)); !errors.Is(err, ErrReleased) {
		t.Fatalf("ReplaceSamples = %v", err)
	}
	if err := a.Validate(); !errors.Is(err, ErrReleased) {
		t.Fatalf("Validate = %v", err)
	}
	defer func() {
		if r := recover(); r != ErrReleased {
			t.Fatalf("Clone recovered %v, want ErrReleased", r)
		}
	}()
	a.Clone()
}

func TestAudioValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		a    *Audio
		want error
	}{
		{"a stereo frame is valid", &Audio{Samples: ramp(2, 3, 0), Layout: LayoutStereo, SampleRate: 48000}, nil},
		{"an unknown layout is not checked", &Audio{Samples: ramp(3, 3, 0), Layout: "weird", SampleRate: 48000}, nil},
		{"a layout with another channel count is refused", &Audio{Samples: ramp(1, 3, 0), Layout: LayoutStereo, SampleRate: 48000}, ErrChannels},
		{"ragged channels are refused", &Audio{Samples: [][]float32{{1}, {1, 2}}, SampleRate: 48000}, ErrSampleLength},
		{"a missing sample rate is refused", &Audio{Samples: ramp(1, 3, 0)}, ErrSampleRate},
		{"no channels are refused", &Audio{SampleRate: 48000}, ErrChannels},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.a.Validate(); !errors.Is(err, c.want) || (err == nil) != (c.want == nil) {
				t.Fatalf("Validate = %v, want %v", err, c.want)
			}
		})
	}
}

func TestLayouts(t *testing.T) {
	for _, c := range []struct {
		name   string
		layout Layout
		ch     int
	}{
		{"mono has one channel", LayoutMono, 1},
		{"stereo has two", LayoutStereo, 2},
		{"5.1 has six", "5.1", 6},
		{"7.1(wide) has eight", "7.1(wide)", 8},
		{"an unknown name has an unknown count", "surround-ish", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.layout.Channels(); got != c.ch {
				t.Fatalf("Channels = %d, want %d", got, c.ch)
			}
		})
	}
	for n, want := range map[int]Layout{1: "mono", 2: "stereo", 6: "5.1", 8: "7.1", 0: "", 9: "", -1: ""} {
		if got := DefaultLayout(n); got != want {
			t.Errorf("DefaultLayout(%d) = %q, want %q", n, got, want)
		}
		if want != "" && want.Channels() != n {
			t.Errorf("DefaultLayout(%d) = %q has %d channels", n, want, want.Channels())
		}
	}
}
