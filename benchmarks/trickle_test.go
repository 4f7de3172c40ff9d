// Package benchmarks holds gotrickle's go test -bench suites. The trickle
// benchmarks drive a server over loopback HTTP: by default gotrickle's own
// server in-process, or any server at TRICKLE_BENCH_URL (its base URL, with
// auto-create on), so that another implementation can be measured with the
// same load in the same run. TRICKLE_BENCH_PID names that server's process
// for the memory figures.
package benchmarks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// segmentBytes is the size of one benchmark segment: about 1 s of 2 Mb/s
// video.
const segmentBytes = 256 << 10

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// target returns the base URL under test and a func to stop it.
func target(b *testing.B) (string, func()) {
	b.Helper()
	if u := os.Getenv("TRICKLE_BENCH_URL"); u != "" {
		return strings.TrimRight(u, "/") + "/", func() {}
	}
	srv := trickle.NewServer(trickle.ServerConfig{Autocreate: true, Logger: quiet})
	hs := httptest.NewServer(srv)
	return hs.URL + "/", func() { srv.Close(); hs.Close() }
}

func newChannel(b *testing.B, base string) string {
	b.Helper()
	var r [6]byte
	rand.Read(r[:])
	name := "bench-" + hex.EncodeToString(r[:])
	req, _ := http.NewRequest("POST", base+name, nil)
	req.Header.Set(trickle.HeaderExpectContent, "video/mp2t")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("creating %s: %d (the server must auto-create)", name, resp.StatusCode)
	}
	return name
}

// BenchmarkFanout publishes segments of segmentBytes, written in pieces of
// the given size, to N subscribers. Reported: throughput of the published
// stream (MB/s) and of all deliveries together (fanout-MB/s), the delay
// from the publisher writing a segment's first byte to each subscriber
// receiving it (p50/p99), and allocations. The publisher never runs more
// than two segments ahead of the slowest subscriber, as a live stream would
// not, so no subscriber falls out of the server's window.
func BenchmarkFanout(b *testing.B) {
	for _, write := range []int{1316, 32 << 10} {
		for _, subs := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("write=%d/subs=%d", write, subs), func(b *testing.B) {
				benchFanout(b, write, subs)
			})
		}
	}
}

func benchFanout(b *testing.B, write, nsubs int) {
	base, stop := target(b)
	defer stop()
	ch := newChannel(b, base)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	payload := make([]byte, segmentBytes)
	rand.Read(payload)
	n := b.N
	started := make([]atomic.Int64, n) // unix nanos: publisher's first write of seq i
	firstByte := make([][]int64, nsubs)
	var progress = make([]atomic.Int64, nsubs) // segments fully read per subscriber
	var wg sync.WaitGroup
	errs := make(chan error, nsubs+1)

	for s := range nsubs {
		sub, err := trickle.NewSubscriber(trickle.SubscriberConfig{URL: base + ch, Start: trickle.StartAt(0), Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		firstByte[s] = make([]int64, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer sub.Close()
			buf := make([]byte, 64<<10)
			for i := range n {
				seg, err := sub.Next(ctx)
				if err != nil {
					errs <- fmt.Errorf("subscriber %d seq %d: %w", s, i, err)
					return
				}
				firstByte[s][i] = time.Now().UnixNano()
				got := 0
				for {
					k, err := seg.Read(buf)
					got += k
					if err == io.EOF {
						break
					}
					if err != nil {
						errs <- fmt.Errorf("subscriber %d seq %d: %w", s, i, err)
						seg.Close()
						return
					}
				}
				seg.Close()
				if got != segmentBytes || seg.Seq != int64(i) {
					errs <- fmt.Errorf("subscriber %d: seq %d had %d bytes, want seq %d with %d", s, seg.Seq, got, i, segmentBytes)
					return
				}
				progress[s].Store(int64(i + 1))
			}
		}()
	}

	pub, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: base + ch, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close(context.Background())

	b.SetBytes(segmentBytes)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range n {
		// Live pacing: stay at most two segments ahead of the slowest reader.
		for slowest(progress) < int64(i-2) {
			select {
			case err := <-errs:
				b.Fatal(err)
			default:
				runtime.Gosched()
			}
		}
		w, err := pub.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		started[i].Store(time.Now().UnixNano())
		for off := 0; off < segmentBytes; off += write {
			if _, err := w.Write(payload[off:min(off+write, segmentBytes)]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case err := <-errs:
		b.Fatal(err)
	}
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	var lat []float64
	for s := range nsubs {
		for i := range n {
			lat = append(lat, float64(firstByte[s][i]-started[i].Load())/1e3)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(lat[len(lat)/2], "p50-first-byte-µs")
	b.ReportMetric(lat[min(len(lat)-1, len(lat)*99/100)], "p99-first-byte-µs")
	b.ReportMetric(float64(segmentBytes)*float64(n*nsubs)/b.Elapsed().Seconds()/1e6, "fanout-MB/s")
}

func slowest(p []atomic.Int64) int64 {
	m := int64(1 << 62)
	for i := range p {
		m = min(m, p[i].Load())
	}
	return m
}

// BenchmarkMemoryPerSubscriber measures what one more reader of a segment
// costs the server: 256 readers join a 1 MiB segment that is still being
// written and wait for more; the server's memory growth (heap+stacks
// in-process, which counts the readers' client side too, or the RSS of
// TRICKLE_BENCH_PID) is divided by 256. RSS is only meaningful on a freshly
// started server: run this before anything else against it.
func BenchmarkMemoryPerSubscriber(b *testing.B) {
	const readers = 256
	base, stop := target(b)
	defer stop()
	external := os.Getenv("TRICKLE_BENCH_URL") != ""
	pid := os.Getenv("TRICKLE_BENCH_PID")
	if external && pid == "" {
		b.Skip("set TRICKLE_BENCH_PID to the server's process to measure an external server")
	}
	var perSub []float64
	for range b.N {
		ch := newChannel(b, base)
		pr, pw := io.Pipe()
		postDone := make(chan struct{})
		go func() {
			defer close(postDone)
			resp, err := http.Post(base+ch+"/0", "video/mp2t", pr)
			if err == nil {
				resp.Body.Close()
			}
		}()
		chunk := make([]byte, 64<<10)
		for range 16 {
			pw.Write(chunk)
		}
		before := serverMemory(pid)
		tr := &http.Transport{MaxConnsPerHost: 0}
		ctx, cancel := context.WithCancel(context.Background())
		var got sync.WaitGroup
		for range readers {
			got.Add(1)
			go func() {
				req, _ := http.NewRequestWithContext(ctx, "GET", base+ch+"/0", nil)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					got.Done()
					return
				}
				io.CopyN(io.Discard, resp.Body, 1<<20) // the segment so far
				got.Done()
				io.Copy(io.Discard, resp.Body) // then wait for more
				resp.Body.Close()
			}()
		}
		got.Wait()
		time.Sleep(100 * time.Millisecond) // let the server settle its buffers
		after := serverMemory(pid)
		perSub = append(perSub, float64(after-before)/readers)
		cancel()
		pw.Close()
		<-postDone
		tr.CloseIdleConnections()
	}
	slices.Sort(perSub)
	b.ReportMetric(perSub[len(perSub)/2], "B/subscriber")
}

// serverMemory is the server's memory in bytes: this process's heap and
// stacks in-process, or the RSS of pid.
func serverMemory(pid string) int64 {
	if pid == "" {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapInuse + m.StackInuse)
	}
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
