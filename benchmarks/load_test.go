package benchmarks

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// TestLoad puts gotrickle's trickle server (pkg/trickle, in a child
// process on 127.0.0.1) under many live streams at once: per stream one
// publisher writing segments of Kbps×Segment bytes in 30 writes per second
// of media, and Subs subscribers that must each get every segment whole.
// Every tenth stream (index 1 mod 10) also has a reader that takes two
// ring-lengths of time over each segment (a tenth of the stream's rate at
// ring 5), and every tenth (6 mod 10) one that stops reading after a
// segment's first byte. Both have a 4 KiB receive window and the server's
// send buffers are capped (loadSendBuffer), so the server's writes to them
// block. They must fall out of the ring (470), while their streams'
// publishers and subscribers keep the pace of the streams without them in
// the same run.
//
// It is timed, so it runs only when asked: GOTRICKLE_LOAD=60s runs 200
// streams × 4 subscribers for that long (make load), GOTRICKLE_LOAD=smoke a
// five-second version (10 × 2, 0.5 s segments, ring 3) that checks the
// harness. GOTRICKLE_LOAD_STREAMS, _SUBS and _KBPS change the shape, and
// GOTRICKLE_LOAD_REPORT names a JSON file for the figures.
func TestLoad(t *testing.T) {
	if ring := os.Getenv(loadServerEnv); ring != "" {
		serveForLoad(t, ring)
		return
	}
	if os.Getenv("GOTRICKLE_LOAD") == "" {
		t.Skip("set GOTRICKLE_LOAD=60s (or make load) to run the load test, GOTRICKLE_LOAD=smoke for a 5 s version")
	}
	cfg, err := loadConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	limit, err := raiseFDLimit()
	if err != nil {
		t.Fatal(err)
	}
	if need := uint64(cfg.Streams * (cfg.Subs + 2) * 3); limit < need {
		t.Fatalf("open-file limit %d, this load needs about %d", limit, need)
	}
	srv := startLoadServer(t, cfg.Ring)
	res := runLoad(t, cfg, srv)
	res.log(t)
	if path := os.Getenv("GOTRICKLE_LOAD_REPORT"); path != "" {
		res.write(t, path)
	}

	t.Run("every segment reaches every subscriber whole, with no error", func(t *testing.T) {
		if res.Errors > 0 {
			t.Fatalf("%d errors, first: %v", res.Errors, res.FirstErrors)
		}
		if want := int64(cfg.Streams * cfg.Subs * cfg.segments()); res.Delivered != want {
			t.Fatalf("%d segments delivered, want %d", res.Delivered, want)
		}
	})
	t.Run("publishers keep live pace", func(t *testing.T) {
		// A publisher a whole segment late has been blocked, not slowed.
		if limit := float64(cfg.Segment) / 1e6; res.Plain.PubLagP99 >= limit || res.Affected.PubLagP99 >= limit {
			t.Fatalf("publisher lateness p99 %.1f ms (plain streams) / %.1f ms (with a slow reader), want under a segment (%.0f ms)",
				res.Plain.PubLagP99, res.Affected.PubLagP99, limit)
		}
	})
	t.Run("slow and stalled readers fall behind to 470", func(t *testing.T) {
		for _, g := range res.Extra {
			if g.GotGone < g.Readers {
				t.Errorf("%d of %d %s readers got 470", g.GotGone, g.Readers, g.Kind)
			}
		}
	})
	t.Run("a slow reader slows neither its publisher nor the other subscribers", func(t *testing.T) {
		// Compared with the plain streams of the same run, which share the
		// machine's load: a reader that blocked its stream would cost a
		// segment or more, not milliseconds.
		within := func(got, ref float64) bool { return got <= 2*ref+100 }
		if !within(res.Affected.FirstByteP99, res.Plain.FirstByteP99) {
			t.Errorf("first-byte p99 %.1f ms on streams with a slow reader, %.1f ms without", res.Affected.FirstByteP99, res.Plain.FirstByteP99)
		}
		if !within(res.Affected.PubLagP99, res.Plain.PubLagP99) {
			t.Errorf("publisher lateness p99 %.1f ms on streams with a slow reader, %.1f ms without", res.Affected.PubLagP99, res.Plain.PubLagP99)
		}
	})
	t.Run("server memory stays within the ring's bound", func(t *testing.T) {
		if res.ServerPeakHeapMB > res.HeapBoundMB {
			t.Errorf("server heap peaked at %.1f MB, bound %.1f MB", res.ServerPeakHeapMB, res.HeapBoundMB)
		}
		if cfg.Duration >= 30*time.Second && res.LateGrowthPct > 10 {
			t.Errorf("server heap grew %.1f %% from the middle third of the run to the last", res.LateGrowthPct)
		}
	})
}

// loadConfig is the shape of one load run.
type loadConfig struct {
	Duration time.Duration // how long the publishers publish
	Streams  int
	Subs     int           // regular subscribers per stream
	Kbps     int           // each stream's bitrate
	Segment  time.Duration // media per segment
	Ring     int           // the server's RingSize
}

func loadConfigFromEnv() (loadConfig, error) {
	cfg := loadConfig{Duration: 5 * time.Second, Streams: 10, Subs: 2, Kbps: 1500, Segment: 500 * time.Millisecond, Ring: 3}
	if v := os.Getenv("GOTRICKLE_LOAD"); v != "smoke" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 10*time.Second {
			return cfg, fmt.Errorf("GOTRICKLE_LOAD=%q: want a duration of 10s or more", v)
		}
		cfg = loadConfig{Duration: d, Streams: 200, Subs: 4, Kbps: 1500, Segment: 2 * time.Second, Ring: 5}
	}
	for _, o := range []struct {
		env string
		v   *int
	}{{"GOTRICKLE_LOAD_STREAMS", &cfg.Streams}, {"GOTRICKLE_LOAD_SUBS", &cfg.Subs}, {"GOTRICKLE_LOAD_KBPS", &cfg.Kbps}} {
		if s := os.Getenv(o.env); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return cfg, fmt.Errorf("%s=%q: want a positive number", o.env, s)
			}
			*o.v = n
		}
	}
	if cfg.Streams < 7 {
		return cfg, fmt.Errorf("%d streams: at least 7 are needed for a slow and a stalled reader", cfg.Streams)
	}
	return cfg, nil
}

func (c loadConfig) segments() int { return int(c.Duration / c.Segment) }
func (c loadConfig) segmentBytes() int {
	return int(int64(c.Kbps) * 1000 / 8 * int64(c.Segment) / int64(time.Second))
}
func (c loadConfig) chunksPerSegment() int { return max(1, int(c.Segment*chunkRate/time.Second)) }

// slowRate makes the slow reader take two ring-lengths of time per segment.
func (c loadConfig) slowRate() int {
	return int(float64(c.segmentBytes()) / (2 * float64(c.Ring) * c.Segment.Seconds()))
}

// pagesFor is what the server allocates for a segment of n bytes: pages
// from 32 KiB doubling to 1 MiB (pkg/trickle/segment.go).
func pagesFor(n int) int {
	total, page := 0, 32<<10
	for total < n {
		total += page
		page = min(page*2, 1<<20)
	}
	return total
}

// loadResult is what a run measured.
type loadResult struct {
	Config         loadConfig
	Date           string
	Wall           float64 // s, first publisher start to the last close
	Delivered      int64   // segments read whole by regular subscribers
	Errors         int
	FirstErrors    []string
	Plain          groupFigures // streams without an extra reader
	Affected       groupFigures // streams with a slow or stalled reader
	Extra          []extraFigures
	PublishedMBps  float64
	DeliveredMBps  float64
	ServerCPU      float64 // cores the server used on average
	ClientCPU      float64 // cores the load generator (this process) used
	ServerBaseMB   float64 // RSS before any channel
	ServerPeakMB   float64
	ServerSteadyMB float64 // median RSS over the second half
	PerStreamKB    float64 // RSS: (steady − base) ÷ streams
	// The same for the Go heap and stacks in use.
	ServerBaseHeapMB, ServerPeakHeapMB, ServerSteadyHeapMB, PerStreamHeapKB float64
	HeapBoundMB                                                             float64 // what the ring bound allows, with GC headroom
	LateGrowthPct                                                           float64 // heap: max of the last third vs max of the middle third
}

type groupFigures struct {
	Streams                         int
	FirstByteP50, FirstByteP99      float64 // ms, publisher's first byte → subscriber's
	FirstByteMax                    float64
	PubLagP50, PubLagP99, PubLagMax float64 // ms, how late a publisher's writes finished
}

type extraFigures struct {
	Kind    string
	Readers int
	GotGone int   // readers that got at least one 470
	Gone    int64 // 470s in all
	ReadMB  float64
}

func runLoad(t *testing.T, cfg loadConfig, srv *loadServer) *loadResult {
	client, tr := loadClient()
	defer tr.CloseIdleConnections()
	slowClient, slowTr := smallWindowClient()
	defer slowTr.CloseIdleConnections()

	time.Sleep(500 * time.Millisecond) // let the child settle before its baseline
	baseRSS, _ := procRSS(srv.pid)
	baseHeap, err := srv.heap()
	if err != nil {
		t.Fatal(err)
	}
	sampler := srv.sample()
	cpu0, _ := procCPUSeconds(srv.pid)
	self0, _ := procCPUSeconds(os.Getpid())

	filler := make([]byte, cfg.segmentBytes())
	rand.Read(filler)
	streams := make([]*loadStream, cfg.Streams)
	for i := range streams {
		streams[i] = newLoadStream(i, srv.url, cfg)
		if err := createChannel(client, streams[i].url); err != nil {
			t.Fatal(err)
		}
	}
	// Long enough for every client to finish; a publisher or subscriber
	// blocked by the server is cut off by it and reported.
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Duration+30*time.Second)
	defer cancel()
	extraCtx, stopExtra := context.WithCancel(ctx)
	defer stopExtra()

	var errs failures
	var subs, extra, pubs sync.WaitGroup
	for _, st := range streams {
		for j := range cfg.Subs {
			subs.Go(func() { st.subscribe(ctx, client, j, &errs) })
		}
		switch st.kind {
		case slowStream:
			extra.Go(func() { st.readSlowly(extraCtx, slowClient, cfg.slowRate(), &errs) })
		case stalledStream:
			extra.Go(func() { st.stall(extraCtx, slowClient, &errs) })
		}
	}
	// Starts spread over one segment, as independent streams would be.
	start := time.Now().Add(time.Second)
	for i, st := range streams {
		at := start.Add(time.Duration(i) * cfg.Segment / time.Duration(cfg.Streams))
		pubs.Go(func() { st.publish(ctx, client, at, filler, &errs) })
	}
	pubs.Wait()
	wall := time.Since(start)
	cpu1, _ := procCPUSeconds(srv.pid)
	self1, _ := procCPUSeconds(os.Getpid())
	subs.Wait()
	stopExtra()
	extra.Wait()
	sampler.finish()

	res := &loadResult{Config: cfg, Date: time.Now().Format("2006-01-02"), Wall: wall.Seconds(), Errors: errs.n}
	for _, e := range errs.first {
		res.FirstErrors = append(res.FirstErrors, e.Error())
	}
	res.summarize(streams)
	res.ServerCPU = (cpu1 - cpu0) / wall.Seconds()
	res.ClientCPU = (self1 - self0) / wall.Seconds()
	res.PublishedMBps = float64(cfg.Streams*cfg.segments()*cfg.segmentBytes()) / wall.Seconds() / 1e6
	res.DeliveredMBps = float64(res.Delivered) * float64(cfg.segmentBytes()) / wall.Seconds() / 1e6
	res.memory(sampler, baseRSS, baseHeap)
	return res
}

// summarize gathers the per-stream figures into the two groups.
func (r *loadResult) summarize(streams []*loadStream) {
	var fb, lag [2][]float64
	extra := map[readerKind]*extraFigures{}
	for _, st := range streams {
		g := 0
		if st.kind != plainStream {
			g = 1
			e := extra[st.kind]
			if e == nil {
				e = &extraFigures{Kind: st.kind.String()}
				extra[st.kind] = e
			}
			e.Readers++
			if n := st.gone.Load(); n > 0 {
				e.GotGone++
				e.Gone += n
			}
			e.ReadMB += float64(st.extraRead.Load()) / 1e6
		}
		for j := range st.firstByte {
			r.Delivered += st.progress[j].Load()
			for seq, at := range st.firstByte[j] {
				if at != 0 && st.started[seq].Load() != 0 {
					fb[g] = append(fb[g], float64(at-st.started[seq].Load())/1e6)
				}
			}
		}
		for _, l := range st.lag {
			if !math.IsNaN(l) {
				lag[g] = append(lag[g], l)
			}
		}
	}
	for _, k := range []readerKind{slowStream, stalledStream} {
		if e := extra[k]; e != nil {
			r.Extra = append(r.Extra, *e)
		}
	}
	for g, dst := range []*groupFigures{&r.Plain, &r.Affected} {
		slices.Sort(fb[g])
		slices.Sort(lag[g])
		dst.FirstByteP50, dst.FirstByteP99 = percentileOr0(fb[g], 50), percentileOr0(fb[g], 99)
		dst.PubLagP50, dst.PubLagP99 = percentileOr0(lag[g], 50), percentileOr0(lag[g], 99)
		if len(fb[g]) > 0 {
			dst.FirstByteMax = fb[g][len(fb[g])-1]
		}
		if len(lag[g]) > 0 {
			dst.PubLagMax = lag[g][len(lag[g])-1]
		}
	}
	for _, st := range streams {
		if st.kind == plainStream {
			r.Plain.Streams++
		} else {
			r.Affected.Streams++
		}
	}
}

// memory derives the server's memory figures from its samples, and the
// bound the ring sets: per channel RingSize segments, plus one evicted
// segment still held by each slow or stalled reader, twice over for the
// collector's headroom (GOGC 100), plus 64 KiB per connection. The bound
// and the growth check use the Go heap (and stacks), which the race
// detector does not inflate; RSS is reported beside it.
func (r *loadResult) memory(s *serverSampler, baseRSS, baseHeap int64) {
	const mb = 1e6
	c := r.Config
	r.ServerBaseMB, r.ServerBaseHeapMB = float64(baseRSS)/mb, float64(baseHeap)/mb
	if len(s.rss) > 0 {
		r.ServerPeakMB = float64(slices.Max(s.rss)) / mb
		r.ServerSteadyMB = float64(secondHalfMedian(s.rss)) / mb
		r.PerStreamKB = (r.ServerSteadyMB - r.ServerBaseMB) * mb / 1024 / float64(c.Streams)
	}
	if len(s.heap) > 0 {
		r.ServerPeakHeapMB = float64(slices.Max(s.heap)) / mb
		r.ServerSteadyHeapMB = float64(secondHalfMedian(s.heap)) / mb
		r.PerStreamHeapKB = (r.ServerSteadyHeapMB - r.ServerBaseHeapMB) * mb / 1024 / float64(c.Streams)
	}
	held := c.Streams*c.Ring + r.Affected.Streams
	conns := c.Streams * (2 + 2*c.Subs + 1)
	r.HeapBoundMB = r.ServerBaseHeapMB + (2*float64(held)*float64(pagesFor(c.segmentBytes()))+float64(conns*64<<10))/mb
	if third := len(s.heap) / 3; third > 0 {
		mid, last := slices.Max(s.heap[third:2*third]), slices.Max(s.heap[2*third:])
		r.LateGrowthPct = 100 * (float64(last)/float64(mid) - 1)
	}
}

func secondHalfMedian(v []int64) int64 {
	h := slices.Clone(v[len(v)/2:])
	slices.Sort(h)
	return h[len(h)/2]
}

// createChannel makes a channel (POST /{channel}) so that subscribers can
// wait on it before its publisher starts.
func createChannel(client *http.Client, url string) error {
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set(trickle.HeaderExpectContent, trickle.ContentTypeMPEGTS)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("creating %s: status %d", url, resp.StatusCode)
	}
	return nil
}

func (r *loadResult) log(t *testing.T) {
	c := r.Config
	t.Logf("load: %d streams × %d subscribers, %d kbit/s, %v segments (%d B, %d writes each), ring %d, %v of publishing (%d segments a stream)",
		c.Streams, c.Subs, c.Kbps, c.Segment, c.segmentBytes(), c.chunksPerSegment(), c.Ring, c.Duration, c.segments())
	t.Logf("errors %d; segments delivered %d; published %.2f MB/s, delivered %.2f MB/s over %.1f s",
		r.Errors, r.Delivered, r.PublishedMBps, r.DeliveredMBps, r.Wall)
	for _, g := range []struct {
		name string
		f    groupFigures
	}{{"plain streams", r.Plain}, {"streams with a slow/stalled reader", r.Affected}} {
		t.Logf("%s (%d): first byte p50 %.2f ms, p99 %.2f ms, max %.2f ms; publisher lateness p50 %.2f ms, p99 %.2f ms, max %.2f ms",
			g.name, g.f.Streams, g.f.FirstByteP50, g.f.FirstByteP99, g.f.FirstByteMax, g.f.PubLagP50, g.f.PubLagP99, g.f.PubLagMax)
	}
	for _, e := range r.Extra {
		t.Logf("%s readers: %d, %d got 470 (%d in all), %.1f MB read", e.Kind, e.Readers, e.GotGone, e.Gone, e.ReadMB)
	}
	t.Logf("CPU: server %.2f cores, load generator %.2f cores", r.ServerCPU, r.ClientCPU)
	t.Logf("server: RSS %.1f MB before, %.1f MB steady, %.1f MB peak: %.0f KiB a stream",
		r.ServerBaseMB, r.ServerSteadyMB, r.ServerPeakMB, r.PerStreamKB)
	t.Logf("server heap+stacks: %.1f MB before, %.1f MB steady, %.1f MB peak (bound %.1f MB): %.0f KiB a stream; last third vs middle %+.1f %%",
		r.ServerBaseHeapMB, r.ServerSteadyHeapMB, r.ServerPeakHeapMB, r.HeapBoundMB, r.PerStreamHeapKB, r.LateGrowthPct)
}

func (r *loadResult) write(t *testing.T, path string) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
