package processor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/gotrickle/gotrickle/conformance/harness"
	"github.com/gotrickle/gotrickle/fakes/trickleserver"
	"github.com/gotrickle/gotrickle/fixtures"
	"github.com/gotrickle/gotrickle/internal/mpegts"
	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/media"
	"github.com/gotrickle/gotrickle/pkg/processor"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// mediaQuick runs one stream over segs posted every period (then the end
// of the input) and returns the raw output, read from seq 0 to the end.
func mediaQuick(ctx context.Context, r *run, params map[string]any, segs [][]byte, period time.Duration) *mediaRaw {
	GinkgoHelper()
	r.start(params)
	octx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	out := r.mediaReadRaw(octx, 0)
	Expect(r.mediaPublishEvery(octx, segs, period, true)).To(Succeed())
	o := <-out
	Expect(errors.Is(o.ended, trickle.ErrStreamClosed)).To(BeTrue(), "the output ended with %v, not the end of the stream", o.ended)
	return o
}

// mediaPublishEvery posts whole segments every period, after the pause of
// publish, and ends the input when end.
func (r *run) mediaPublishEvery(ctx context.Context, segs [][]byte, period time.Duration, end bool) error {
	return r.feed(ctx, segs, feedOpts{pause: true, period: period, lastWait: true, end: end, endErr: true})
}

// mediaDecodeOK decodes a raw output and fails the spec if it does not.
func mediaDecodeOK(ctx context.Context, o *mediaRaw, keepPix bool) *mediaDecoded {
	GinkgoHelper()
	d, err := mediaDecode(ctx, o, keepPix)
	Expect(err).NotTo(HaveOccurred())
	return d
}

func mediaPTSOf(fs []outFrame) []int64 {
	pts := make([]int64, len(fs))
	for i, f := range fs {
		pts[i] = f.pts
	}
	return pts
}

// mediaBrokenBytes returns a broken fixture's bytes.
func mediaBrokenBytes(name string) []byte {
	GinkgoHelper()
	fx, err := manifest.Fixture(name)
	if err != nil {
		harness.HarnessError(err)
	}
	b, err := fx.Bytes()
	if err != nil {
		harness.HarnessError(err)
	}
	return b
}

// mediaWatchHealth polls /health every 100 ms until stop is closed (or the
// spec ends) and returns every distinct value seen, in order, "" (no
// answer) included.
func mediaWatchHealth(stop <-chan struct{}) <-chan []string {
	ctx, cancel := context.WithCancel(context.Background())
	DeferCleanup(cancel)
	go func() {
		select {
		case <-stop:
		case <-ctx.Done():
		}
		cancel()
	}()
	w := watchHealth(ctx, 100*time.Millisecond, true)
	res := make(chan []string, 1)
	go func() {
		<-w.done
		res <- w.seen()
	}()
	return res
}

var _ = specs.Describe("Media in and out", func() {
	It("keeps every frame's timestamp and ends the output when the input ends", harness.Req("PROC-077", harness.Must, harness.Media), func(ctx SpecContext) {
		needFeature("passthrough")
		fx, segs := fixture("h264-aac-320x240")
		vs, _ := fx.Video()
		r := newRun()
		r.start(map[string]any{"width": vs.Width, "height": vs.Height, "max_framerate": 30})
		octx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		out := r.readOutput(octx)
		Expect(<-r.publish(octx, segs, 300*time.Millisecond, true)).To(Succeed())
		o := <-out
		Expect(errors.Is(o.ended, trickle.ErrStreamClosed)).To(BeTrue(), "the output ended with %v, not the end of the stream", o.ended)
		pts := make([]int64, len(o.frames))
		for i, f := range o.frames {
			pts[i] = f.pts
		}
		Expect(pts).To(Equal(vs.PTS), "output PTS must be the input's")
		Expect(o.audio).To(BeNumerically(">", 0), "the input has audio; the output has none")
		waitHealth("IDLE", 10*time.Second)
	})

	It("keeps the timestamps of variable-frame-rate input", harness.Req("PROC-077", harness.Must, harness.Media), func(ctx SpecContext) {
		needFeature("passthrough")
		fx, _ := fixture("h264-aac-vfr-320x240")
		vs, _ := fx.Video()
		r := newRun()
		// A cap of 60 keeps every frame of this 30-then-15 fps input.
		o := mediaQuick(ctx, r, map[string]any{"width": 320, "height": 240, "max_framerate": 60}, mediaSegs("h264-aac-vfr-320x240"), 150*time.Millisecond)
		d := mediaDecodeOK(ctx, o, false)
		Expect(mediaPTSOf(d.frames)).To(Equal(vs.PTS), "output PTS must be the input's")
	})

	It("subscribes from seq -2 and decodes the input's video and audio", harness.Req("PROC-072", harness.Must, harness.Media), func(ctx SpecContext) {
		fx, _ := fixture("h264-aac-320x240")
		vs, _ := fx.Video()
		r := newRun()
		o := mediaQuick(ctx, r, map[string]any{"width": 320, "height": 240, "max_framerate": 30}, mediaSegs("h264-aac-320x240"), 200*time.Millisecond)
		var gets []trickleserver.Request
		for _, q := range suite.Requests() {
			if q.Channel == r.in && q.Method == "GET" {
				gets = append(gets, q)
			}
		}
		Expect(gets).NotTo(BeEmpty(), "the processor never read its input")
		Expect(gets[0].HasSeq && gets[0].Seq == -2).To(BeTrue(), "the first input request was GET %s, not GET {subscribe_url}/-2", gets[0].Path)
		d := mediaDecodeOK(ctx, o, false)
		if cfg.features["passthrough"] {
			Expect(mediaPTSOf(d.frames)).To(Equal(vs.PTS), "every input video frame decoded and sent")
		} else {
			Expect(d.frames).NotTo(BeEmpty(), "no output video")
		}
		Expect(d.audio).NotTo(BeEmpty(), "the input's audio was not decoded")
	})

	It("decodes H.264 with Opus audio", harness.Req("PROC-072", harness.Must, harness.Media), func(ctx SpecContext) {
		fx, _ := fixture("h264-opus-320x240")
		vs, _ := fx.Video()
		r := newRun()
		o := mediaQuick(ctx, r, map[string]any{"width": 320, "height": 240, "max_framerate": 30}, mediaSegs("h264-opus-320x240"), 150*time.Millisecond)
		d := mediaDecodeOK(ctx, o, false)
		if cfg.features["passthrough"] {
			Expect(mediaPTSOf(d.frames)).To(Equal(vs.PTS), "every input video frame decoded and sent")
		} else {
			Expect(d.frames).NotTo(BeEmpty(), "no output video")
		}
		Expect(d.audio).NotTo(BeEmpty(), "the input's Opus audio was not decoded")
	})

	It("publishes complete MPEG-TS segments from seq 0, each starting with PSI and an IDR", harness.Req("PROC-073", harness.Must, harness.Media), func(ctx SpecContext) {
		r := newRun()
		// An output channel the suite does not create: the processor's
		// first POST creates it with its own Content-Type, which the suite
		// server then serves to readers.
		suite.Trickle().CloseChannel(r.out)
		r.out = r.id + "-autoout"
		r.start(map[string]any{"width": 320, "height": 240})
		octx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		_, segs := fixture("h264-aac-320x240")
		pub := r.publish(octx, segs, 200*time.Millisecond, true)
		Eventually(func() bool {
			for _, q := range suite.Requests() {
				if q.Channel == r.out && q.Method == "POST" && q.BytesIn > 0 {
					return true
				}
			}
			return false
		}).WithTimeout(15*time.Second).WithPolling(20*time.Millisecond).Should(BeTrue(), "no output POST with data")
		time.Sleep(50 * time.Millisecond)
		out := r.mediaReadRaw(octx, 0)
		Expect(<-pub).To(Succeed())
		o := <-out
		Expect(errors.Is(o.ended, trickle.ErrStreamClosed)).To(BeTrue(), "the output ended with %v, not the end of the stream", o.ended)
		Expect(o.segs).NotTo(BeEmpty())
		Expect(o.bad).To(BeZero(), "stray bytes: a segment that is not whole TS packets")
		for i, s := range o.segs {
			Expect(s.seq).To(Equal(int64(i)), "output segments are published on seqs 0, 1, 2, …")
			Expect(strings.ToLower(s.contentType)).To(Equal("video/mp2t"), "segment %d Content-Type", i)
			pmt, psiFirst := mediaPMT(s.data)
			Expect(psiFirst && len(pmt) > 0).To(BeTrue(), "segment %d: the PAT and PMT must come before any media", i)
			nals := mediaFirstVideoNALs(s.data)
			idr := slices.Index(nals, 5)
			slice := slices.Index(nals, 1)
			Expect(idr).To(BeNumerically(">=", 0), "segment %d: its first video picture must be an IDR (NAL types %v)", i, nals)
			Expect(slice == -1 || slice > idr).To(BeTrue(), "segment %d: a non-IDR slice comes before the IDR (NAL types %v)", i, nals)
			d := &mediaDecoded{}
			Expect(mediaDecodeInto(ctx, d, s.data, i, false)).To(Succeed(), "segment %d must decode on its own", i)
			Expect(d.frames).NotTo(BeEmpty(), "segment %d decodes to no video", i)
		}
	})

	It("encodes H.264 yuv420p without B-frames in segments of 0.5 to 4 s", harness.Req("PROC-074", harness.Must, harness.Media), func(ctx SpecContext) {
		r := newRun()
		o := mediaQuick(ctx, r, map[string]any{"width": 320, "height": 240, "max_framerate": 30}, mediaLooped("h264-aac-320x240", 2), 150*time.Millisecond)
		Expect(o.segs).NotTo(BeEmpty())
		for i, s := range o.segs {
			pmt, _ := mediaPMT(s.data)
			Expect(slices.ContainsFunc(pmt, func(e mediaES) bool { return e.streamType == 0x1B })).To(BeTrue(), "segment %d: no H.264 stream (stream_type 0x1B) in %v", i, pmt)
			chroma, depth, ok := mediaSPSChroma(s.data)
			Expect(ok).To(BeTrue(), "segment %d: no SPS with its first picture", i)
			Expect([]int{chroma, depth}).To(Equal([]int{1, 8}), "segment %d: chroma_format_idc and bit depth of yuv420p", i)
		}
		var prev int64 = -1
		for _, f := range o.frames {
			Expect(f.dts == -1 || f.dts == f.pts).To(BeTrue(), "frame %d has DTS %d: B-frames (reordering)", f.pts, f.dts)
			Expect(f.pts).To(BeNumerically(">", prev), "PTS go back in decode order: B-frames")
			prev = f.pts
		}
		d := mediaDecodeOK(ctx, o, false)
		first := map[int]int64{}
		for _, f := range d.frames {
			if _, ok := first[f.segment]; !ok {
				first[f.segment] = f.pts
			}
		}
		for i := 0; i+1 < len(o.segs); i++ {
			dur := float64(first[i+1]-first[i]) / 90000
			Expect(dur).To(BeNumerically(">=", 0.5), "segment %d holds %.2f s of video", i, dur)
			Expect(dur).To(BeNumerically("<=", 4), "segment %d holds %.2f s of video", i, dur)
		}
	})

	It("scales to cover the target size and crops the centre (512x512 by default)", harness.Req("PROC-075", harness.Must, harness.Media), func(ctx SpecContext) {
		segs := mediaSegs("h264-aac-320x240")[:2]
		r := newRun()
		o := mediaQuick(ctx, r, map[string]any{"max_framerate": 30}, segs, 200*time.Millisecond)
		d := mediaDecodeOK(ctx, o, cfg.features["passthrough"])
		Expect(d.frames).NotTo(BeEmpty())
		for _, f := range d.frames {
			Expect([]int{f.w, f.h}).To(Equal([]int{512, 512}), "output size without width/height")
		}
		if !cfg.features["passthrough"] {
			return
		}
		in := &mediaDecoded{}
		for i, s := range segs {
			Expect(mediaDecodeInto(ctx, in, s, i, true)).To(Succeed())
		}
		byPTS := map[int64]*frame.Video{}
		for i, f := range in.frames {
			byPTS[f.pts] = in.pix[i]
		}
		checked := 0
		for i := 0; i < len(d.frames) && checked < 6; i += 9 {
			src := byPTS[d.frames[i].pts]
			Expect(src).NotTo(BeNil(), "output PTS %d matches no input frame", d.frames[i].pts)
			psnr := mediaPSNR(mediaCoverCrop(src, 512, 512), d.pix[i])
			Expect(psnr).To(BeNumerically(">=", 25), "frame %d: PSNR against the input scaled to cover and centre-cropped", d.frames[i].pts)
			checked++
		}
	})

	It("sizes the output by the handler's first frame, or the target size without detect_out_resolution", harness.Req("PROC-076", harness.Must, harness.Media), func(ctx SpecContext) {
		var n int
		var mu sync.Mutex
		useHandler(mediaFuncsVideo(func(v *frame.Video) (*frame.Video, error) {
			mu.Lock()
			n++
			k := n
			mu.Unlock()
			if k > 20 && k%2 == 0 {
				return nil, nil // later frames at the input size
			}
			big, err := frame.NewVideo(2*v.Width, 2*v.Height)
			if err != nil {
				return nil, err
			}
			mediaFill(big, 200, 100, 50)
			big.PTS, big.TimeBase = v.PTS, v.TimeBase
			return big, nil
		}))
		segs := mediaSegs("h264-aac-320x240")[:2]
		for _, detect := range []bool{true, false} {
			mu.Lock()
			n = 0
			mu.Unlock()
			r := newRun()
			params := map[string]any{"width": 320, "height": 240, "max_framerate": 30}
			want := []int{640, 480}
			if !detect {
				params["detect_out_resolution"] = false
				want = []int{320, 240}
			}
			o := mediaQuick(ctx, r, params, segs, 200*time.Millisecond)
			d := mediaDecodeOK(ctx, o, false)
			Expect(len(d.frames)).To(BeNumerically(">", 20))
			for _, f := range d.frames {
				Expect([]int{f.w, f.h}).To(Equal(want), "detect_out_resolution %v: frame %d", detect, f.pts)
			}
			call("POST", stream("stop"), nil, "")
			waitHealth("IDLE", 15*time.Second)
		}
	})

	It("keeps at least 98% of the frames at live pace under a cap of 30", harness.Req("PROC-078", harness.Must, harness.Media), func(ctx SpecContext) {
		res := mediaLiveRun(ctx)
		Expect(res.err).NotTo(HaveOccurred())
		got := 0
		out := res.out.lastByte()
		for pts := range res.feed.last {
			if _, ok := out[pts]; ok {
				got++
			}
		}
		in := len(res.feed.last)
		AddReportEntry("frames", fmt.Sprintf("%d of %d", got, in))
		Expect(float64(got)).To(BeNumerically(">=", 0.98*float64(in)), "%d of %d input frames came out", got, in)
	})

	It("sends Opus audio at 48 kHz holding at least 95% of the input's", harness.Req("PROC-079", harness.Must, harness.Media), func(ctx SpecContext) {
		res := mediaAudioRun(ctx)
		Expect(res.err).NotTo(HaveOccurred())
		opus := false
		for _, s := range res.out.segs {
			pmt, _ := mediaPMT(s.data)
			opus = opus || slices.ContainsFunc(pmt, func(e mediaES) bool { return e.opus })
		}
		Expect(opus).To(BeTrue(), "no Opus stream (registration descriptor \"Opus\") in the output's PMT")
		Expect(res.dec.audio).NotTo(BeEmpty(), "no output audio")
		samples := 0
		for _, a := range res.dec.audio {
			Expect(a.rate).To(Equal(48000), "output audio sample rate")
			samples += a.samples
		}
		out := float64(samples) / 48000
		in := float64(res.in.Samples) / float64(res.in.SampleRate)
		AddReportEntry("audio", fmt.Sprintf("%.3f s out of %.3f s in", out, in))
		Expect(out).To(BeNumerically(">=", 0.95*in), "output audio %.3f s, input %.3f s", out, in)
	})

	It("keeps the audio's channels, duration and timestamps", harness.Req("PROC-080", harness.Should, harness.Media), func(ctx SpecContext) {
		res := mediaAudioRun(ctx)
		Expect(res.err).NotTo(HaveOccurred())
		Expect(res.dec.audio).NotTo(BeEmpty(), "no output audio")
		samples := 0
		worst, worstAt := 0.0, int64(0)
		for _, a := range res.dec.audio {
			Expect(a.channels).To(Equal(res.in.Channels), "output audio channel count")
			want := float64(res.in.FirstPTS.Ticks) + float64(samples)*90000/float64(a.rate)
			if d := math.Abs(float64(a.pts) - want); d > worst {
				worst, worstAt = d, a.pts
			}
			samples += a.samples
		}
		out := float64(samples) / 48000
		in := float64(res.in.Samples) / float64(res.in.SampleRate)
		Expect(math.Abs(out-in)).To(BeNumerically("<=", 0.02*in), "output audio %.3f s, input %.3f s", out, in)
		Expect(worst/90).To(BeNumerically("<=", 50), "audio frame at PTS %d is %.1f ms from the input audio it carries", worstAt, worst/90)
	})

	It("ends the stream cleanly (IDLE) when the first input GET is answered 404", harness.Req("PROC-081", harness.Must, harness.Faults), func(ctx SpecContext) {
		r := newRun()
		suite.AddFault(trickleserver.Fault{Name: "input 404", Method: "GET", Channel: r.in, Nth: 1, Times: 1, Status: 404})
		r.start(nil)
		stop := make(chan struct{})
		seen := mediaWatchHealth(stop)
		deadline := time.Now().Add(cfg.reaction + 5*time.Second)
		for health() != "IDLE" && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		close(stop)
		states := <-seen
		fired := false
		for _, q := range suite.Requests() {
			fired = fired || (q.Channel == r.in && q.Method == "GET" && q.Status == 404)
		}
		if !fired {
			harness.HarnessError(errors.New("the processor never read its input: the 404 did not fire"))
		}
		Expect(states).NotTo(ContainElement("ERROR"), "health went %v", states)
		Expect(health()).To(Equal("IDLE"), "health went %v", states)
	})

	It("goes on publishing after an output POST fails", harness.Req("PROC-082", harness.Must, harness.Faults), func(ctx SpecContext) {
		r := newRun()
		two := int64(2)
		suite.AddFault(trickleserver.Fault{Name: "output seq 2 refused", Method: "POST", Channel: r.out, Seq: &two, Status: 500})
		r.start(mediaParams320)
		octx, cancel := context.WithTimeout(ctx, 40*time.Second)
		defer cancel()
		out := r.mediaReadRaw(octx, 0)
		stop := make(chan struct{})
		seen := mediaWatchHealth(stop)
		// Real time, so that the processor has input to go on with once it
		// gives up on seq 2 (it may retry it with backoff first).
		feed := r.mediaPublish(octx, mediaLooped("h264-aac-320x240", 2)[:8], mediaWholeSegs, false)
		Expect(feed.err).NotTo(HaveOccurred())
		time.Sleep(500 * time.Millisecond)
		st := mediaStatus()
		close(stop)
		call("POST", stream("stop"), nil, "")
		states := <-seen
		o := <-out
		fired := false
		for _, q := range suite.Requests() {
			fired = fired || (q.Channel == r.out && q.Method == "POST" && q.Seq == 2 && q.Status == 500)
		}
		if !fired {
			harness.HarnessError(errors.New("the fault on output seq 2 did not fire"))
		}
		Expect(states).To(Equal([]string{"OK"}), "health while the output POST failed")
		late, frames := 0, 0
		for i, s := range o.segs {
			if s.seq < 3 {
				continue
			}
			late++
			d := &mediaDecoded{}
			Expect(mediaDecodeInto(ctx, d, s.data, i, false)).To(Succeed(), "output seq %d", s.seq)
			frames += len(d.frames)
		}
		Expect(late).To(BeNumerically(">", 0), "no output segment from seq 3 on (read %d segments, ended %v); output POSTs: %s", len(o.segs), o.ended, mediaPostsOf(r.out))
		Expect(frames).To(BeNumerically(">", 0), "no video in the output segments from seq 3 on; output POSTs: %s; counters before the end: %v", mediaPostsOf(r.out), st["counters"])
	})

	for _, broken := range []string{"broken-garbage", "broken-truncated"} {
		It("loses only the frames of a corrupt input segment ("+broken+")", harness.Req("PROC-083", harness.Should, harness.Faults), func(ctx SpecContext) {
			good := mediaSegs("h264-aac-320x240")
			var segs [][]byte
			var lost []int // indexes into good of segments whose frames may be lost
			if broken == "broken-garbage" {
				segs = [][]byte{good[0], good[1], mediaBrokenBytes(broken), good[2], good[3], good[4]}
			} else {
				// The truncated file is segment 1 cut short: moved on by 1 s
				// it takes segment 2's place.
				tr := mpegts.Retime(mediaBrokenBytes(broken), func(t int64) int64 { return t + 90000 })
				segs = [][]byte{good[0], good[1], tr, good[3], good[4]}
				lost = []int{2}
			}
			r := newRun()
			r.start(map[string]any{"width": 320, "height": 240, "max_framerate": 30})
			octx, cancel := context.WithTimeout(ctx, 40*time.Second)
			defer cancel()
			out := r.mediaReadRaw(octx, 0)
			stop := make(chan struct{})
			seen := mediaWatchHealth(stop)
			Expect(r.mediaPublishEvery(octx, segs, 250*time.Millisecond, false)).To(Succeed())
			time.Sleep(500 * time.Millisecond)
			close(stop)
			states := <-seen
			st := mediaStatus()
			call("POST", stream("stop"), nil, "")
			o := <-out
			Expect(states).To(Equal([]string{"OK"}), "health while the corrupt segment was read")
			got := o.lastByte()
			if cfg.features["passthrough"] {
				for k, s := range good {
					if slices.Contains(lost, k) {
						continue
					}
					for _, f := range mediaVideoFrames(s) {
						_, ok := got[f.PTS]
						Expect(ok).To(BeTrue(), "frame %d of good input segment %d is missing", f.PTS, k)
					}
				}
			} else {
				after := 0
				for _, f := range mediaVideoFrames(good[3]) {
					if _, ok := got[f.PTS]; ok {
						after++
					}
				}
				Expect(after).To(BeNumerically(">", 0), "no output for the input after the corrupt segment")
			}
			if _, ok := st["counters"]; ok {
				n, ok := mediaCounter(st, "corrupt_segments_in")
				Expect(ok && n >= 1).To(BeTrue(), "the corrupt segment is not counted (counters %v)", st["counters"])
			}
		})
	}

	It("finishes the output and ends its channel within 5 s of the end of the input", harness.Req("PROC-084", harness.Should, harness.Channels), func(ctx SpecContext) {
		fx, _ := fixture("h264-aac-320x240")
		vs, _ := fx.Video()
		r := newRun()
		o := mediaQuick(ctx, r, map[string]any{"width": 320, "height": 240, "max_framerate": 30}, mediaSegs("h264-aac-320x240"), 200*time.Millisecond)
		d := mediaDecodeOK(ctx, o, false)
		if cfg.features["passthrough"] {
			Expect(mediaPTSOf(d.frames)).To(Equal(vs.PTS), "every decoded frame must be sent")
		} else {
			Expect(d.frames).NotTo(BeEmpty(), "no output video")
		}
		var inEnd, outEnd time.Time
		for _, q := range suite.Requests() {
			if q.Method == "DELETE" && q.Channel == r.in && inEnd.IsZero() {
				inEnd = q.Start
			}
			if q.Method == "DELETE" && q.Channel == r.out && outEnd.IsZero() {
				outEnd = q.Start
			}
		}
		Expect(inEnd.IsZero()).To(BeFalse(), "the suite did not end the input")
		Expect(outEnd.IsZero()).To(BeFalse(), "no DELETE of the output channel")
		Expect(outEnd.Sub(inEnd)).To(BeNumerically("<=", 5*time.Second), "the output channel ended %v after the input", outEnd.Sub(inEnd))
	})
})

// mediaPostsOf lists the POSTs the suite server saw on a channel.
func mediaPostsOf(ch string) string {
	var b strings.Builder
	for _, q := range suite.Requests() {
		if q.Channel == ch && q.Method == "POST" {
			fmt.Fprintf(&b, "[seq %d: %d, %d bytes] ", q.Seq, q.Status, q.BytesIn)
		}
	}
	return b.String()
}

// mediaFill paints v one colour.
func mediaFill(v *frame.Video, r, g, b byte) {
	row := make([]byte, 3*v.Width)
	for x := range v.Width {
		row[3*x], row[3*x+1], row[3*x+2] = r, g, b
	}
	for y := range v.Height {
		copy(v.Pix[y*v.Stride:], row)
	}
}

// mediaInvert makes v its negative in place.
func mediaInvert(v *frame.Video) {
	for y := range v.Height {
		row := v.Pix[y*v.Stride : y*v.Stride+3*v.Width]
		for i := range row {
			row[i] = 255 - row[i]
		}
	}
}

// mediaCoverCrop scales src (bilinear) to cover w×h, aspect kept, and
// crops the centre: the rule of PROC-075, computed independently of the
// processor's scaler.
func mediaCoverCrop(src *frame.Video, w, h int) *frame.Video {
	s := max(float64(w)/float64(src.Width), float64(h)/float64(src.Height))
	ox := (float64(src.Width)*s - float64(w)) / 2
	oy := (float64(src.Height)*s - float64(h)) / 2
	dst, _ := frame.NewVideo(w, h)
	for y := range h {
		sy := (float64(y)+oy+0.5)/s - 0.5
		y0 := int(math.Floor(sy))
		fy := sy - float64(y0)
		y0c, y1c := max(0, min(y0, src.Height-1)), max(0, min(y0+1, src.Height-1))
		for x := range w {
			sx := (float64(x)+ox+0.5)/s - 0.5
			x0 := int(math.Floor(sx))
			fx := sx - float64(x0)
			x0c, x1c := max(0, min(x0, src.Width-1)), max(0, min(x0+1, src.Width-1))
			for c := range 3 {
				p := func(xx, yy int) float64 { return float64(src.Pix[yy*src.Stride+3*xx+c]) }
				v := (1-fy)*((1-fx)*p(x0c, y0c)+fx*p(x1c, y0c)) + fy*((1-fx)*p(x0c, y1c)+fx*p(x1c, y1c))
				dst.Pix[y*dst.Stride+3*x+c] = byte(math.Round(v))
			}
		}
	}
	return dst
}

// mediaPSNR is the PSNR of b against a over all three channels (dB).
func mediaPSNR(a, b *frame.Video) float64 {
	var se float64
	for y := range a.Height {
		for x := range 3 * a.Width {
			d := float64(a.Pix[y*a.Stride+x]) - float64(b.Pix[y*b.Stride+x])
			se += d * d
		}
	}
	mse := se / float64(3*a.Width*a.Height)
	if mse == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/mse)
}

// mediaAudioResult is the shared run of PROC-079 and PROC-080.
type mediaAudioResult struct {
	out *mediaRaw
	dec *mediaDecoded
	in  fixtures.Stream
	err error
}

var (
	mediaAudioMu   sync.Mutex
	mediaAudioDone *mediaAudioResult
)

// mediaAudioRun streams h264-aac-320x240 once (faster than real time, so
// the cap and any skipping are at work) and keeps what came out for every
// audio spec.
func mediaAudioRun(ctx context.Context) *mediaAudioResult {
	GinkgoHelper()
	mediaAudioMu.Lock()
	defer mediaAudioMu.Unlock()
	if mediaAudioDone != nil {
		return mediaAudioDone
	}
	fx, _ := fixture("h264-aac-320x240")
	as, _ := fx.Audio()
	res := &mediaAudioResult{in: as}
	r := newRun()
	res.out = mediaQuick(ctx, r, map[string]any{"width": 320, "height": 240}, mediaSegs("h264-aac-320x240"), 150*time.Millisecond)
	res.dec, res.err = mediaDecode(ctx, res.out, false)
	mediaAudioDone = res
	return res
}

// mediaFuncsVideo is a driver handler with only a video function.
func mediaFuncsVideo(f func(v *frame.Video) (*frame.Video, error)) processor.Funcs {
	return processor.Funcs{Video: func(_ context.Context, v *frame.Video) (*frame.Video, error) { return f(v) }}
}

// ---- media… helpers, shared by media_test.go, handler_test.go,
// perf_test.go and optional_test.go ----

// mediaVideoFrames lists an input segment's video frames in stream order.
func mediaVideoFrames(seg []byte) []mpegts.Frame {
	GinkgoHelper()
	frames, err := mpegts.VideoFrames(seg)
	if err != nil {
		harness.HarnessError(fmt.Errorf("an input segment: %w", err))
	}
	return frames
}

// mediaSegs returns a fixture's 1 s segments as bytes.
func mediaSegs(name string) [][]byte {
	GinkgoHelper()
	_, segs := fixture(name)
	out := make([][]byte, len(segs))
	for i, s := range segs {
		b, err := s.Bytes()
		if err != nil {
			harness.HarnessError(err)
		}
		out[i] = b
	}
	return out
}

// mediaLooped returns a fixture's 1 s segments repeated n times, each
// repetition's timestamps moved on by the length of the fixture's video, so
// that the input runs n × (about 5 s) without a jump back.
func mediaLooped(name string, n int) [][]byte {
	GinkgoHelper()
	fx, _ := fixture(name)
	vs, ok := fx.Video()
	if !ok {
		harness.HarnessError(fmt.Errorf("%s has no video", name))
	}
	span := vs.LastPTS.Ticks - vs.FirstPTS.Ticks + vs.FrameDurations.MinTicks
	one := mediaSegs(name)
	var out [][]byte
	for k := range n {
		for _, s := range one {
			if k == 0 {
				out = append(out, s)
			} else {
				off := int64(k) * span
				out = append(out, mpegts.Retime(s, func(t int64) int64 { return t + off }))
			}
		}
	}
	return out
}

// mediaFeed is what the suite sent: each input video frame's PTS with the
// time its last byte was written, and when the first segment began.
type mediaFeed struct {
	first  time.Time
	last   map[int64]time.Time // PTS → last input byte written
	starts []time.Time         // when each segment's first byte was written
	posts  []time.Time         // when each segment was complete
	err    error
}

// mediaFeedMode says how mediaPublish paces its input.
type mediaFeedMode int

const (
	mediaLive      mediaFeedMode = iota // frame by frame, each when its timestamp comes due
	mediaWholeSegs                      // whole segments, one a second
)

// mediaPublish sends segs to the run's input channel at live pace or as
// whole segments once a second, and closes the channel afterwards when end.
// It blocks; run it in a goroutine where needed.
func (r *run) mediaPublish(ctx context.Context, segs [][]byte, mode mediaFeedMode, end bool) *mediaFeed {
	f := &mediaFeed{last: map[int64]time.Time{}}
	var first int64 = -1
	var t0 time.Time
	var frames []mpegts.Frame
	wait := func(until time.Time) error {
		if d := time.Until(until); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	o := feedOpts{pause: true, end: end}
	o.before = func(k int) error {
		if k == 0 {
			t0 = time.Now()
			f.first = t0
		}
		frames = mediaVideoFrames(segs[k])
		return nil
	}
	o.after = func(int) { f.posts = append(f.posts, time.Now()) }
	if mode == mediaLive {
		o.write = func(_ int, w io.Writer, s []byte) error {
			f.starts = append(f.starts, time.Now())
			prev := 0
			for _, fr := range frames {
				if first < 0 {
					first = fr.PTS
				}
				if err := wait(t0.Add(time.Duration(fr.PTS-first) * time.Second / 90000)); err != nil {
					return err
				}
				if _, err := w.Write(s[prev:fr.End]); err != nil {
					return err
				}
				prev = fr.End
				f.last[fr.PTS] = time.Now()
			}
			if prev < len(s) {
				if _, err := w.Write(s[prev:]); err != nil {
					return err
				}
			}
			return nil
		}
	} else {
		o.write = func(k int, w io.Writer, s []byte) error {
			if err := wait(t0.Add(time.Duration(k) * time.Second)); err != nil {
				return err
			}
			f.starts = append(f.starts, time.Now())
			if _, err := w.Write(s); err != nil {
				return err
			}
			now := time.Now()
			for _, fr := range frames {
				f.last[fr.PTS] = now
			}
			return nil
		}
	}
	f.err = r.feed(ctx, segs, o)
	return f
}

// mediaSeg is one output segment as it arrived.
type mediaSeg struct {
	seq         int64
	contentType string
	data        []byte
	begun       time.Time // the segment's answer
	first       time.Time // first byte
}

// mediaOutFrame is one output video PES: its PTS and DTS (-1 when absent)
// and when its last byte arrived.
type mediaOutFrame struct {
	pts, dts int64
	last     time.Time
}

// mediaRaw is the output channel as it arrived, undecoded.
type mediaRaw struct {
	segs   []mediaSeg
	frames []mediaOutFrame
	bad    int   // stray bytes: packets without the sync byte, segments not whole packets
	ended  error // trickle.ErrStreamClosed is the end of the stream
}

// lastByte maps each output frame's PTS to the arrival of its last byte.
func (o *mediaRaw) lastByte() map[int64]time.Time {
	m := make(map[int64]time.Time, len(o.frames))
	for _, f := range o.frames {
		m[f.pts] = f.last
	}
	return m
}

// mediaReadRaw reads the output channel from seq from until the stream ends
// or ctx ends, stamping every video frame's last byte as it arrives.
func (r *run) mediaReadRaw(ctx context.Context, from int64) <-chan *mediaRaw {
	done := make(chan *mediaRaw, 1)
	go func() {
		defer GinkgoRecover()
		done <- r.readRaw(ctx, from, nil)
	}()
	return done
}

// readRaw is mediaReadRaw, blocking; each (nil: none) is given every
// segment once read whole, and an error from it ends the reading (as
// mediaRaw.ended).
func (r *run) readRaw(ctx context.Context, from int64, each func(i int, s mediaSeg) error) *mediaRaw {
	o := &mediaRaw{}
	sub, err := trickle.NewSubscriber(trickle.SubscriberConfig{URL: cfg.suiteURL + r.out, Start: trickle.StartAt(from), Logger: quiet})
	if err != nil {
		o.ended = err
		return o
	}
	defer sub.Close()
	t := mpegts.NewTracker(func(p mpegts.PES) {
		o.frames = append(o.frames, mediaOutFrame{pts: p.PTS, dts: p.DTS, last: time.Unix(0, p.Last)})
	})
	buf := make([]byte, 64<<10)
	for {
		seg, err := sub.Next(ctx)
		if err != nil {
			o.ended = err
			return o
		}
		ms := mediaSeg{seq: seg.Seq, contentType: seg.ContentType, begun: time.Now()}
		for {
			n, err := seg.Read(buf)
			if n > 0 {
				now := time.Now()
				if ms.first.IsZero() {
					ms.first = now
				}
				ms.data = append(ms.data, buf[:n]...)
				t.Write(buf[:n], now.UnixNano())
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				seg.Close()
				o.ended = err
				return o
			}
		}
		seg.Close()
		t.End()
		o.bad = t.Bad()
		o.segs = append(o.segs, ms)
		if each != nil {
			if err := each(len(o.segs)-1, ms); err != nil {
				o.ended = err
				return o
			}
		}
	}
}

// mediaAudioFrame is one decoded output audio frame.
type mediaAudioFrame struct {
	pts      int64 // 1/90000
	samples  int   // per channel
	rate     int
	channels int
	rms      float64
}

// mediaDecoded is an output decoded in full.
type mediaDecoded struct {
	frames []outFrame
	pix    []*frame.Video // with keepPix: each frame's pixels (a clone)
	audio  []mediaAudioFrame
}

// mediaDecode decodes the segments of a raw output; with keepPix it keeps
// every video frame's pixels.
func mediaDecode(ctx context.Context, o *mediaRaw, keepPix bool) (*mediaDecoded, error) {
	d := &mediaDecoded{}
	for i, s := range o.segs {
		if err := mediaDecodeInto(ctx, d, s.data, i, keepPix); err != nil {
			return d, fmt.Errorf("output segment %d (seq %d) does not decode: %w", i, s.seq, err)
		}
	}
	return d, nil
}

var mediaTB90k = frame.Rational{Num: 1, Den: 90000}

func mediaDecodeInto(ctx context.Context, d *mediaDecoded, data []byte, seg int, keepPix bool) error {
	dec, err := media.NewDecoder(media.DecoderConfig{KeepSize: true, MaxFramerate: media.NoFramerateCap, Threads: 1})
	if err != nil {
		return err
	}
	defer dec.Close()
	_, err = dec.DecodeSegment(ctx, bytes.NewReader(data), media.Handlers{
		Video: func(v *frame.Video) error {
			d.frames = append(d.frames, outFrame{pts: frame.Rescale(v.PTS, v.TimeBase, mediaTB90k), w: v.Width, h: v.Height, segment: seg, mean: mediaMean(v)})
			if keepPix {
				d.pix = append(d.pix, v.Clone())
			}
			v.Release()
			return nil
		},
		Audio: func(a *frame.Audio) error {
			var sum float64
			n := 0
			for _, ch := range a.Samples {
				for _, x := range ch {
					sum += float64(x) * float64(x)
					n++
				}
			}
			af := mediaAudioFrame{pts: frame.Rescale(a.PTS, a.TimeBase, mediaTB90k), rate: a.SampleRate, channels: a.Channels()}
			if len(a.Samples) > 0 {
				af.samples = len(a.Samples[0])
			}
			if n > 0 {
				af.rms = math.Sqrt(sum / float64(n))
			}
			d.audio = append(d.audio, af)
			a.Release()
			return nil
		},
	})
	if errors.Is(err, media.ErrNoStreams) {
		err = nil
	}
	return err
}

// mediaMean is a frame's mean R, G, B.
func mediaMean(v *frame.Video) [3]float64 {
	var sum [3]int
	for y := range v.Height {
		row := v.Pix[y*v.Stride:]
		for x := range v.Width {
			sum[0] += int(row[3*x])
			sum[1] += int(row[3*x+1])
			sum[2] += int(row[3*x+2])
		}
	}
	n := float64(v.Width * v.Height)
	return [3]float64{float64(sum[0]) / n, float64(sum[1]) / n, float64(sum[2]) / n}
}

// mediaLuma is the BT.601 luma of a mean colour.
func mediaLuma(m [3]float64) float64 { return 0.299*m[0] + 0.587*m[1] + 0.114*m[2] }

// mediaMeanDiff is the largest per-channel difference of two mean colours.
func mediaMeanDiff(a, b [3]float64) float64 {
	return max(math.Abs(a[0]-b[0]), math.Abs(a[1]-b[1]), math.Abs(a[2]-b[2]))
}

// mediaInputMeans decodes input segments at their own size: each video
// frame's mean colour by PTS (1/90000), and the PTS in order.
func mediaInputMeans(ctx context.Context, segs [][]byte) (map[int64][3]float64, []int64) {
	GinkgoHelper()
	d := &mediaDecoded{}
	for i, s := range segs {
		if err := mediaDecodeInto(ctx, d, s, i, false); err != nil {
			harness.HarnessError(fmt.Errorf("decoding input segment %d: %w", i, err))
		}
	}
	m := make(map[int64][3]float64, len(d.frames))
	pts := make([]int64, 0, len(d.frames))
	for _, f := range d.frames {
		m[f.pts] = f.mean
		pts = append(pts, f.pts)
	}
	return m, pts
}

// mediaCounter reads counters.<name> of a status body; ok false when absent.
func mediaCounter(st map[string]any, name string) (float64, bool) {
	c, _ := st["counters"].(map[string]any)
	v, ok := c[name].(float64)
	return v, ok
}

// mediaPMT lists the elementary streams of a TS segment's first PMT:
// stream_type and whether its descriptors carry the registration "Opus".
type mediaES struct {
	streamType int
	opus       bool
}

func mediaPMT(seg []byte) (pmt []mediaES, psiFirst bool) {
	pmtPID := -1
	sawPAT := false
	for off := 0; off+mpegts.PacketSize <= len(seg); off += mpegts.PacketSize {
		pkt := seg[off : off+mpegts.PacketSize]
		if pkt[0] != 0x47 {
			return nil, false
		}
		pid := int(pkt[1]&0x1f)<<8 | int(pkt[2])
		pl := mpegts.Payload(pkt)
		if pl == nil {
			continue
		}
		pusi := pkt[1]&0x40 != 0
		switch {
		case pid == 0 && pusi:
			sec := pl[1+int(pl[0]):]
			if len(sec) < 16 {
				continue
			}
			sawPAT = true
			// first program after the header (8 bytes)
			for p := 8; p+4 <= len(sec)-4; p += 4 {
				prog := int(sec[p])<<8 | int(sec[p+1])
				if prog != 0 {
					pmtPID = int(sec[p+2]&0x1f)<<8 | int(sec[p+3])
					break
				}
			}
		case pid == pmtPID && pusi:
			sec := pl[1+int(pl[0]):]
			if len(sec) < 12 {
				continue
			}
			secLen := int(sec[1]&0x0f)<<8 | int(sec[2])
			end := min(3+secLen-4, len(sec))
			pil := int(sec[10]&0x0f)<<8 | int(sec[11])
			for p := 12 + pil; p+5 <= end; {
				es := mediaES{streamType: int(sec[p])}
				il := int(sec[p+3]&0x0f)<<8 | int(sec[p+4])
				desc := sec[p+5 : min(p+5+il, end)]
				for q := 0; q+2 <= len(desc); q += 2 + int(desc[q+1]) {
					if desc[q] == 0x05 && q+6 <= len(desc) && string(desc[q+2:q+6]) == "Opus" {
						es.opus = true
					}
				}
				pmt = append(pmt, es)
				p += 5 + il
			}
			return pmt, sawPAT
		case pusi && mpegts.IsPES(pl):
			return nil, false // media before the PSI
		}
	}
	return nil, false
}

// mediaFirstVideoNALs returns the NAL unit types of a segment's first video
// PES (H.264 Annex B).
func mediaFirstVideoNALs(seg []byte) []int {
	es := mpegts.FirstVideoES(seg)
	var types []int
	for i := 0; i+3 < len(es); i++ {
		if es[i] == 0 && es[i+1] == 0 && es[i+2] == 1 {
			types = append(types, int(es[i+3]&0x1f))
			i += 3
		}
	}
	return types
}

// mediaSPSChroma reads chroma_format_idc and bit depth from the first SPS
// of a segment's first video PES; ok false when there is none.
func mediaSPSChroma(seg []byte) (chroma, depth int, ok bool) {
	es := mpegts.FirstVideoES(seg)
	for i := 0; i+4 < len(es); i++ {
		if es[i] != 0 || es[i+1] != 0 || es[i+2] != 1 || es[i+3]&0x1f != 7 {
			continue
		}
		// Drop emulation-prevention bytes.
		var rbsp []byte
		for j := i + 4; j < len(es); j++ {
			if j+2 < len(es) && es[j] == 0 && es[j+1] == 0 && es[j+2] == 1 {
				break
			}
			if j >= i+6 && es[j] == 3 && es[j-1] == 0 && es[j-2] == 0 {
				continue
			}
			rbsp = append(rbsp, es[j])
		}
		if len(rbsp) < 4 {
			return 0, 0, false
		}
		br := &mediaBits{b: rbsp, pos: 24}
		profile := int(rbsp[0])
		br.ue() // seq_parameter_set_id
		chroma, depth = 1, 8
		switch profile {
		case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
			chroma = br.ue()
			if chroma == 3 {
				br.bit()
			}
			depth = 8 + br.ue()
		}
		return chroma, depth, true
	}
	return 0, 0, false
}

type mediaBits struct {
	b   []byte
	pos int
}

func (r *mediaBits) bit() int {
	if r.pos/8 >= len(r.b) {
		return 0
	}
	v := int(r.b[r.pos/8]>>(7-r.pos%8)) & 1
	r.pos++
	return v
}

func (r *mediaBits) ue() int {
	zeros := 0
	for r.bit() == 0 && zeros < 32 {
		zeros++
	}
	v := 1
	for range zeros {
		v = v<<1 | r.bit()
	}
	return v - 1
}
