package benchmarks

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gotrickle/gotrickle/fixtures"
	"github.com/gotrickle/gotrickle/internal/mpegts"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// The soak's input: the 720p30 H.264 + AAC fixture's 2 s segments, looped
// with timestamps running on, written frame by frame at real-time pace.

const (
	soakFixture = "h264-aac-1280x720"
	tsMask      = 1<<33 - 1 // PES timestamps are 33 bits
)

// soakInput is the fixture cut into segments, ready to loop.
type soakInput struct {
	segs   [][]byte
	frames [][]mpegts.Frame // per segment: each video frame's PTS and end offset
	period int64            // 90 kHz ticks one pass lasts
	pts0   int64            // the first video frame's PTS
	fps    float64
}

func loadSoakInput() (*soakInput, error) {
	m, err := fixtures.Load()
	if err != nil {
		return nil, err
	}
	f, err := m.Fixture(soakFixture)
	if err != nil {
		return nil, err
	}
	segs, err := f.Segments(2 * time.Second)
	if err != nil {
		return nil, err
	}
	v, ok := f.Video()
	if !ok || v.Width != 1280 || v.Height != 720 || v.FPS.Float != 30 {
		return nil, fmt.Errorf("%s is not 720p30 video", soakFixture)
	}
	in := &soakInput{fps: v.FPS.Float}
	for _, s := range segs {
		b, err := s.Bytes()
		if err != nil {
			return nil, err
		}
		fr, err := mpegts.VideoFrames(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Path, err)
		}
		in.segs, in.frames = append(in.segs, b), append(in.frames, fr)
	}
	in.pts0 = in.frames[0][0].PTS
	// One pass lasts exactly as long as the audio, which therefore runs on
	// without a gap or an overlap, as a live encoder's would; the video,
	// slightly shorter, waits a frame at the seam. (An audio gap at every
	// seam makes the processor's output drift: see benchmarks/README.md,
	// Soak.)
	a, ok := f.Audio()
	if !ok || a.SampleRate == 0 {
		return nil, fmt.Errorf("%s has no audio", soakFixture)
	}
	in.period = a.Samples * 90000 / int64(a.SampleRate)
	if a.Samples*90000%int64(a.SampleRate) != 0 || in.period < int64(v.DurationSeconds*90000) {
		return nil, fmt.Errorf("%s: audio of %d samples at %d Hz cannot pace a loop", soakFixture, a.Samples, a.SampleRate)
	}
	return in, nil
}

// publish writes the looped input from t0 until ctx ends: each video frame
// (with the audio muxed before it) is written when its PTS is due, and
// sent is called with its PTS once its last byte is written.
func (in *soakInput) publish(ctx context.Context, pub *trickle.Publisher, t0 time.Time, sent func(pts int64)) error {
	cc := map[int]byte{}
	for pass := int64(0); ; pass++ {
		off := pass * in.period
		for k, s := range in.segs {
			data := renumberCC(mpegts.Shift(s, off), cc)
			w, err := pub.Next(ctx)
			if err != nil {
				return err
			}
			prev := 0
			for _, f := range in.frames[k] {
				sleepUntil(ctx, t0.Add(time.Duration(f.PTS+off-in.pts0)*time.Second/90000))
				if ctx.Err() != nil {
					return w.Close() // a short last segment, still whole packets
				}
				if _, err := w.Write(data[prev:f.End]); err != nil {
					return err
				}
				prev = f.End
				sent((f.PTS + off) & tsMask)
			}
			if _, err := w.Write(data[prev:]); err != nil {
				return err
			}
			if err := w.Close(); err != nil {
				return err
			}
		}
	}
}

// renumberCC rewrites every packet's continuity counter (in place) to run
// on from where the previous segment left it per PID, so that the looped
// stream has no continuity errors at the seams for a demuxer to flag.
func renumberCC(seg []byte, next map[int]byte) []byte {
	for off := 0; off+mpegts.PacketSize <= len(seg); off += mpegts.PacketSize {
		pkt := seg[off : off+mpegts.PacketSize]
		if pkt[0] != 0x47 || pkt[3]&0x10 == 0 { // no payload: the counter does not advance
			continue
		}
		pid := mpegts.PID(pkt)
		pkt[3] = pkt[3]&0xF0 | next[pid]&0x0F
		next[pid] = (next[pid] + 1) & 0x0F
	}
	return seg
}

// latencyLog matches output frames to input frames by PTS: a frame's
// latency is its last input byte written → its last output byte read.
type latencyLog struct {
	base time.Time

	mu     sync.Mutex
	in     map[int64]time.Duration // PTS → when its last byte was written
	points []latencyPoint
}

type latencyPoint struct {
	At time.Duration // since base, when the output frame completed
	Ms float64
}

func newLatencyLog(base time.Time) *latencyLog {
	return &latencyLog{base: base, in: map[int64]time.Duration{}}
}

func (l *latencyLog) stamp() int64 { return int64(time.Since(l.base)) }

func (l *latencyLog) sent(pts int64) {
	at := time.Since(l.base)
	l.mu.Lock()
	l.in[pts] = at
	l.mu.Unlock()
}

func (l *latencyLog) received(pts, stamp int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if at, ok := l.in[pts]; ok {
		delete(l.in, pts)
		l.points = append(l.points, latencyPoint{At: time.Duration(stamp), Ms: float64(time.Duration(stamp)-at) / 1e6})
	}
}

// prune forgets input frames older than d that never came out (skipped).
func (l *latencyLog) prune(d time.Duration) {
	now := time.Since(l.base)
	l.mu.Lock()
	defer l.mu.Unlock()
	for pts, at := range l.in {
		if now-at > d {
			delete(l.in, pts)
		}
	}
}

// since returns the points from index i on, and the next index.
func (l *latencyLog) since(i int) ([]latencyPoint, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]latencyPoint(nil), l.points[i:]...), len(l.points)
}
