package processor

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/gotrickle/gotrickle/conformance/harness"
	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/processor"
)

// The optional features of §18: the effects feature (claimed), the
// degradation flags and /metrics (detected).

// mediaMetrics is a parsed Prometheus text exposition: each sample by its
// name and labels as written, and each family's type.
type mediaMetrics struct {
	samples map[string]float64
	types   map[string]string
}

func (m *mediaMetrics) value(series string) float64 { return m.samples[series] }

// has reports whether a sample of family name with the label pair exists.
func (m *mediaMetrics) has(name, label string) bool {
	for k := range m.samples {
		if strings.HasPrefix(k, name+"{") && strings.Contains(k, label) {
			return true
		}
	}
	return false
}

// mediaGetMetrics reads /metrics; nil when it is not served as 200 text.
func mediaGetMetrics() *mediaMetrics {
	rep := call("GET", "/metrics", nil, "")
	if rep.err != nil || rep.status != 200 {
		return nil
	}
	m := &mediaMetrics{samples: map[string]float64{}, types: map[string]string{}}
	for line := range strings.Lines(string(rep.body)) {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			if f := strings.Fields(rest); len(f) == 2 {
				m.types[f[0]] = f[1]
			}
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		key, val := line[:i], line[i+1:]
		if j := strings.LastIndexByte(key, ' '); j > 0 && !strings.Contains(key[j:], "}") {
			// a timestamp followed the value
			key, val = key[:j], key[j+1:]
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		m.samples[key] = v
	}
	if len(m.types) == 0 {
		return nil
	}
	return m
}

// mediaInvertTimeline publishes segs as whole segments once a second and
// runs steps at the given offsets from the first post; each step returns
// what the output should show from input arriving 1 s after it:
// "inverted", "normal". It returns the raw output, the feed and the times
// the steps were answered.
type mediaStep struct {
	after time.Duration
	do    func()
	want  string
}

func mediaInvertCheck(ctx context.Context, r *run, initial string, steps []mediaStep, segs [][]byte) {
	GinkgoHelper()
	in, _ := mediaInputMeans(ctx, segs)
	octx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	out := r.mediaReadRaw(octx, 0)
	answered := make([]time.Time, len(steps))
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		t0 := time.Now().Add(300 * time.Millisecond) // mediaPublish's pause
		for i, s := range steps {
			time.Sleep(time.Until(t0.Add(s.after)))
			s.do()
			answered[i] = time.Now()
		}
	}()
	feed := r.mediaPublish(octx, segs, mediaWholeSegs, true)
	Expect(feed.err).NotTo(HaveOccurred())
	o := <-out
	<-done
	d := mediaDecodeOK(ctx, o, false)
	counts := map[string]int{}
	for _, f := range d.frames {
		t, ok := feed.last[f.pts]
		Expect(ok).To(BeTrue(), "output PTS %d matches no input frame", f.pts)
		want := initial
		settled := true
		for i, s := range steps {
			if t.After(answered[i]) || t.Equal(answered[i]) {
				want = s.want
				settled = t.After(answered[i].Add(time.Second))
			}
		}
		// Input that arrived less than 1 s after a change may show either.
		if !settled {
			continue
		}
		if t.Before(answered[0]) && len(steps) > 0 {
			// before the first change: the initial state
			want = initial
		}
		switch want {
		case "inverted":
			counts[want]++
			Expect(mediaMeanDiff(f.mean, mediaInverse(in[f.pts]))).To(BeNumerically("<=", 10), "frame %d should be inverted (input arrived %v into the run)", f.pts, t.Sub(feed.first))
		case "normal":
			counts[want]++
			if cfg.features["passthrough"] {
				mediaExpectFollows(in, f, "conformance_invert false")
			} else {
				Expect(mediaMeanDiff(f.mean, mediaInverse(in[f.pts]))).To(BeNumerically(">", 10), "frame %d is still inverted", f.pts)
			}
		}
	}
	Expect(counts["inverted"]).To(BeNumerically(">", 0), "no inverted frame was checked")
	Expect(counts["normal"]).To(BeNumerically(">", 0), "no normal frame was checked")
}

var _ = specs.Describe("Optional features", func() {
	It("honours conformance_invert through /stream/params", harness.Req("PROC-105", harness.May, harness.Media), func(ctx SpecContext) {
		needFeature("effects")
		r := newRun()
		r.start(mediaParams320)
		set := func(v bool) func() {
			return func() {
				rep := postJSON(stream("params"), map[string]any{"conformance_invert": v})
				Expect(rep.status).To(Equal(200), "conformance_invert %v: %s", v, rep.body)
			}
		}
		mediaInvertCheck(ctx, r, "normal", []mediaStep{
			{after: 500 * time.Millisecond, do: set(true), want: "inverted"},
			{after: 3500 * time.Millisecond, do: set(false), want: "normal"},
		}, mediaLooped("h264-aac-320x240", 2)[:7])
	})

	It("honours conformance_invert in the start params and on the control channel", harness.Req("PROC-106", harness.May, harness.Channels), func(ctx SpecContext) {
		needFeature("effects")
		r := newRun()
		params := map[string]any{"conformance_invert": true}
		for k, v := range mediaParams320 {
			params[k] = v
		}
		r.start(params)
		set := func(v bool) func() {
			return func() { r.sendControl(ctx, map[string]any{"conformance_invert": v}) }
		}
		mediaInvertCheck(ctx, r, "inverted", []mediaStep{
			{after: 1500 * time.Millisecond, do: set(false), want: "normal"},
			{after: 3500 * time.Millisecond, do: set(true), want: "inverted"},
		}, mediaLooped("h264-aac-320x240", 2)[:7])
	})

	It("reports degraded_input and degraded_inference by ai-runner's thresholds", harness.Req("PROC-107", harness.May, harness.Timing), func(ctx SpecContext) {
		slow := cfg.inProcess
		if slow {
			useHandler(mediaFuncsVideo(func(v *frame.Video) (*frame.Video, error) {
				time.Sleep(200 * time.Millisecond)
				return nil, nil
			}))
		}
		r := newRun()
		r.start(mediaParams320)
		octx, cancel := context.WithTimeout(ctx, 40*time.Second)
		defer cancel()
		go func() { <-r.mediaReadRaw(octx, 0) }()
		fed := make(chan *mediaFeed, 1)
		go func() {
			defer GinkgoRecover()
			fed <- r.mediaPublish(octx, mediaSegs("h264-aac-320x240")[:4], mediaLive, false)
		}()
		flag := func(name string) func() any {
			return func() any {
				st := mediaStatus()
				Expect(health()).To(BeElementOf("LOADING", "IDLE", "OK", "ERROR"))
				return st[name]
			}
		}
		time.Sleep(1500 * time.Millisecond)
		if _, ok := mediaStatus()["degraded_input"]; !ok {
			harness.Unsupported("no degraded_input in /stream/status during a stream")
		}
		if slow {
			Eventually(flag("degraded_inference")).WithTimeout(4*time.Second).WithPolling(200*time.Millisecond).Should(Equal(true),
				"a handler taking 200 ms a frame: degraded_inference")
		}
		feed := <-fed
		Expect(feed.err).NotTo(HaveOccurred())
		// The input pauses: degraded_input within 2 s + 1 s of its last frame.
		var lastIn time.Time
		for _, t := range feed.last {
			if t.After(lastIn) {
				lastIn = t
			}
		}
		Eventually(flag("degraded_input")).WithTimeout(time.Until(lastIn.Add(3*time.Second))+200*time.Millisecond).WithPolling(100*time.Millisecond).Should(Equal(true),
			"input paused: degraded_input")

		// This stream is done; the live-paced run below (shared with §17,
		// and started here when no earlier spec has run it) needs the
		// processor to itself.
		Expect(call("POST", stream("stop"), nil, "").status).To(Equal(200))
		waitHealth("IDLE", 20*time.Second)
		if slow {
			useHandler(processor.Funcs{}) // the live-paced run passes frames through
		}

		// 30 fps input: both false after 12 s (the live-paced run of §17).
		res := mediaLiveRun(ctx)
		Expect(res.err).NotTo(HaveOccurred())
		checked := 0
		for _, s := range res.statuses {
			if s.at < 12*time.Second || s.at > 19*time.Second {
				continue
			}
			checked++
			Expect([]any{s.st["degraded_input"], s.st["degraded_inference"]}).To(Equal([]any{false, false}), "30 fps input, %v in: degraded_input and degraded_inference", s.at.Round(time.Millisecond))
		}
		Expect(checked).To(BeNumerically(">", 0), "no status sample between 12 and 19 s of the live run")
	})

	It("serves /metrics with gotrickle's names, rising while a stream runs", harness.Req("PROC-108", harness.May, harness.API), func(ctx SpecContext) {
		if mediaGetMetrics() == nil {
			harness.Unsupported("GET /metrics is not served in the Prometheus text format")
		}
		r := newRun()
		r.start(mediaParams320)
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		go func() { <-r.mediaReadRaw(octx, 0) }()
		segs := mediaSegs("h264-aac-320x240")
		Expect(r.mediaPublishEvery(octx, segs[:2], 300*time.Millisecond, false)).To(Succeed())
		time.Sleep(300 * time.Millisecond)
		m1 := mediaGetMetrics()
		Expect(m1).NotTo(BeNil())
		Expect(r.mediaPublishEvery(octx, segs[2:], 300*time.Millisecond, false)).To(Succeed())
		time.Sleep(300 * time.Millisecond)
		m2 := mediaGetMetrics()
		Expect(m2).NotTo(BeNil())
		h := health()
		for _, c := range []struct{ name, typ string }{
			{"gotrickle_frames_in_total", "counter"}, {"gotrickle_frames_out_total", "counter"},
			{"gotrickle_frames_skipped_total", "counter"}, {"gotrickle_frames_failed_total", "counter"},
			{"gotrickle_handler_seconds", "histogram"}, {"gotrickle_segments_total", "counter"},
			{"gotrickle_segment_bytes_total", "counter"}, {"gotrickle_state", "gauge"},
		} {
			Expect(m2.types).To(HaveKeyWithValue(c.name, c.typ), "metric family %s", c.name)
		}
		for _, name := range []string{"gotrickle_frames_in_total", "gotrickle_frames_out_total", "gotrickle_frames_skipped_total", "gotrickle_frames_failed_total"} {
			for _, media := range []string{"video", "audio"} {
				Expect(m2.has(name, fmt.Sprintf("media=%q", media))).To(BeTrue(), "%s{media=%q}", name, media)
			}
		}
		Expect(m2.has("gotrickle_handler_seconds_count", "kind=")).To(BeTrue(), "gotrickle_handler_seconds with label kind")
		for _, st := range []string{"LOADING", "IDLE", "OK", "ERROR"} {
			want := 0.0
			if st == h {
				want = 1
			}
			Expect(m2.samples).To(HaveKeyWithValue(fmt.Sprintf("gotrickle_state{state=%q}", st), want), "gotrickle_state for %s while /health says %s", st, h)
		}
		for _, series := range []string{
			`gotrickle_frames_in_total{media="video"}`, `gotrickle_frames_out_total{media="video"}`,
			`gotrickle_segments_total{direction="in"}`, `gotrickle_segments_total{direction="out"}`,
			`gotrickle_segment_bytes_total{direction="in"}`, `gotrickle_segment_bytes_total{direction="out"}`,
		} {
			Expect(m2.samples).To(HaveKey(series))
			Expect(m2.value(series)).To(BeNumerically(">", m1.value(series)), "%s does not rise while the stream runs", series)
		}
	})
})
