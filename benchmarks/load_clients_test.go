package benchmarks

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// The load test's clients: per stream one live-paced publisher, Subs
// regular subscribers that must get every segment whole, and on some
// streams one extra reader that is slow or stops reading.

// chunkRate is how many writes a publisher makes per second of media, as
// an encoder's muxer hands out about one frame at a time at 30 fps.
const chunkRate = 30

// headerLen is the size of the tag each segment starts with (stream and
// seq), which lets readers check they got the segment they asked for.
const headerLen = 16

// readerKind says what extra reader a stream has.
type readerKind int

const (
	plainStream   readerKind = iota
	slowStream               // one reader reads at a tenth of the stream's rate
	stalledStream            // one reader takes a segment's first byte and stops
)

func (k readerKind) String() string {
	return [...]string{"plain", "slow", "stalled"}[k]
}

// loadStream is one channel under load and what its clients saw.
type loadStream struct {
	idx  int
	url  string
	kind readerKind
	cfg  loadConfig

	started   []atomic.Int64 // per seq: unix nanos of the publisher's first byte
	firstByte [][]int64      // [subscriber][seq]: unix nanos of its first byte read
	progress  []atomic.Int64 // per subscriber: segments read whole so far
	published atomic.Int64   // segments the publisher has begun
	lag       []float64      // per seq: the publisher's worst lateness in it, ms (NaN: not published)
	gone      atomic.Int64   // 470 answers the extra reader got
	extraRead atomic.Int64   // bytes the extra reader read
}

// failures collects errors from many goroutines, keeping the first few.
type failures struct {
	mu    sync.Mutex
	n     int
	first []error
}

func (f *failures) add(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if len(f.first) < 10 {
		f.first = append(f.first, err)
	}
}

func newLoadStream(idx int, base string, cfg loadConfig) *loadStream {
	st := &loadStream{
		idx:       idx,
		url:       fmt.Sprintf("%sload-%04d", base, idx),
		cfg:       cfg,
		started:   make([]atomic.Int64, cfg.segments()),
		firstByte: make([][]int64, cfg.Subs),
		progress:  make([]atomic.Int64, cfg.Subs),
		lag:       make([]float64, cfg.segments()),
	}
	switch idx % 10 {
	case 1:
		st.kind = slowStream
	case 6:
		st.kind = stalledStream
	}
	for j := range st.firstByte {
		st.firstByte[j] = make([]int64, cfg.segments())
	}
	for i := range st.lag {
		st.lag[i] = math.NaN() // not published: an error says why
	}
	return st
}

// payload returns segment seq's bytes: the tag, then filler.
func (st *loadStream) payload(filler []byte, seq int) []byte {
	b := make([]byte, st.cfg.segmentBytes())
	copy(b[headerLen:], filler)
	copy(b, "LOAD")
	binary.BigEndian.PutUint32(b[4:], uint32(st.idx))
	binary.BigEndian.PutUint64(b[8:], uint64(seq))
	return b
}

// publish writes every segment live-paced from start: segment n's chunk k
// is due at start + n×Segment + k/chunkRate. It records how late each
// write finished. Once every subscriber has read the last segment it
// closes the channel.
func (st *loadStream) publish(ctx context.Context, client *http.Client, start time.Time, filler []byte, errs *failures) {
	pub, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: st.url, Client: client, Logger: quiet})
	if err != nil {
		errs.add(fmt.Errorf("stream %d: publisher: %w", st.idx, err))
		return
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := pub.Close(cctx); err != nil {
			errs.add(fmt.Errorf("stream %d: closing the channel: %w", st.idx, err))
		}
	}()
	chunks := st.cfg.chunksPerSegment()
	n := st.cfg.segments()
	for seq := range n {
		data := st.payload(filler, seq)
		step := (len(data) + chunks - 1) / chunks
		segStart := start.Add(time.Duration(seq) * st.cfg.Segment)
		sleepUntil(ctx, segStart)
		w, err := pub.Next(ctx)
		if err != nil {
			errs.add(fmt.Errorf("stream %d seq %d: %w", st.idx, seq, err))
			return
		}
		st.published.Store(int64(seq + 1))
		var worst time.Duration
		for k := 0; k*step < len(data); k++ {
			due := segStart.Add(time.Duration(k) * time.Second / chunkRate)
			sleepUntil(ctx, due)
			if k == 0 {
				st.started[seq].Store(time.Now().UnixNano())
			}
			if _, err := w.Write(data[k*step : min((k+1)*step, len(data))]); err != nil {
				errs.add(fmt.Errorf("stream %d seq %d: %w", st.idx, seq, err))
				return
			}
			worst = max(worst, time.Since(due))
		}
		if err := w.Close(); err != nil {
			errs.add(fmt.Errorf("stream %d seq %d: %w", st.idx, seq, err))
			return
		}
		st.lag[seq] = float64(worst) / 1e6
	}
	// Closing the channel ends it for readers still on the last segment's
	// request, so wait (bounded) for the regular ones to have it all.
	deadline := time.Now().Add(10 * time.Second)
	for j := range st.progress {
		for st.progress[j].Load() < int64(n) && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// subscribe reads the channel from seq 0 to its end as subscriber j; every
// segment must come, in order, whole and tagged as asked.
func (st *loadStream) subscribe(ctx context.Context, client *http.Client, j int, errs *failures) {
	sub, err := trickle.NewSubscriber(trickle.SubscriberConfig{URL: st.url, Client: client, Start: trickle.StartAt(0), Logger: quiet})
	if err != nil {
		errs.add(err)
		return
	}
	defer sub.Close()
	n := int64(st.cfg.segments())
	buf := make([]byte, 32<<10)
	for want := int64(0); ; want++ {
		seg, err := sub.Next(ctx)
		now := time.Now().UnixNano()
		if errors.Is(err, trickle.ErrStreamClosed) && want == n {
			break
		}
		if err != nil {
			errs.add(fmt.Errorf("stream %d subscriber %d seq %d: %w", st.idx, j, want, err))
			return
		}
		if seg.Seq != want {
			seg.Close()
			errs.add(fmt.Errorf("stream %d subscriber %d: got seq %d, want %d", st.idx, j, seg.Seq, want))
			return
		}
		st.firstByte[j][want] = now
		err = st.check(seg, buf, want)
		seg.Close()
		if err != nil {
			errs.add(fmt.Errorf("stream %d subscriber %d: %w", st.idx, j, err))
			return
		}
		st.progress[j].Store(want + 1)
	}
	if s := sub.Stats(); s.Skipped > 0 || s.Jumps > 0 {
		errs.add(fmt.Errorf("stream %d subscriber %d skipped %d segments", st.idx, j, s.Skipped))
	}
}

// check reads one segment to its end and checks its tag and length.
func (st *loadStream) check(r io.Reader, buf []byte, seq int64) error {
	var head [headerLen]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return fmt.Errorf("seq %d: reading its tag: %w", seq, err)
	}
	if !bytes.Equal(head[:4], []byte("LOAD")) || binary.BigEndian.Uint32(head[4:]) != uint32(st.idx) ||
		binary.BigEndian.Uint64(head[8:]) != uint64(seq) {
		return fmt.Errorf("seq %d: tagged %q/%d/%d", seq, head[:4], binary.BigEndian.Uint32(head[4:]), binary.BigEndian.Uint64(head[8:]))
	}
	n, err := io.CopyBuffer(io.Discard, r, buf)
	if err != nil {
		return fmt.Errorf("seq %d: %w", seq, err)
	}
	if got := n + headerLen; got != int64(st.cfg.segmentBytes()) {
		return fmt.Errorf("seq %d: %d bytes, want %d", seq, got, st.cfg.segmentBytes())
	}
	return nil
}

// readSlowly reads the channel segment after segment at rate bytes/s.
// Each segment takes it longer than the ring lasts, so the segment after
// it is gone by then: it gets 470 and moves to the server's latest. It
// stops when ctx ends or the channel closes.
func (st *loadStream) readSlowly(ctx context.Context, client *http.Client, rate int, errs *failures) {
	seq := int64(0)
	buf := make([]byte, 4<<10)
	for ctx.Err() == nil {
		resp, err := get(ctx, client, st.url, seq)
		if err != nil {
			if ctx.Err() == nil {
				errs.add(fmt.Errorf("stream %d slow reader: %w", st.idx, err))
			}
			return
		}
		switch {
		case resp.Header.Get(trickle.HeaderClosed) != "" || resp.StatusCode == http.StatusNotFound:
			resp.Body.Close()
			return
		case resp.StatusCode == trickle.StatusSequenceNonexistent:
			resp.Body.Close()
			latest, err := strconv.ParseInt(resp.Header.Get(trickle.HeaderLatest), 10, 64)
			if err != nil || latest <= seq {
				errs.add(fmt.Errorf("stream %d slow reader: 470 for seq %d names latest %q", st.idx, seq, resp.Header.Get(trickle.HeaderLatest)))
				return
			}
			st.gone.Add(1)
			seq = latest
			continue
		case resp.StatusCode != http.StatusOK:
			resp.Body.Close()
			errs.add(fmt.Errorf("stream %d slow reader: seq %d: status %d", st.idx, seq, resp.StatusCode))
			return
		}
		t0, n := time.Now(), 0
		for {
			k, err := resp.Body.Read(buf)
			n += k
			st.extraRead.Add(int64(k))
			if err != nil {
				break // the end, or ctx: both end this segment
			}
			sleepUntil(ctx, t0.Add(time.Duration(float64(n)/float64(rate)*float64(time.Second))))
		}
		resp.Body.Close()
		served, err := strconv.ParseInt(resp.Header.Get(trickle.HeaderSeq), 10, 64)
		if err != nil {
			served = seq
		}
		seq = served + 1
	}
}

// stall asks for segment 0, stops reading once its first byte has come,
// and comes back only when the publisher is Ring+2 segments on: asking
// for segment 1 then must get 470, naming a later seq.
func (st *loadStream) stall(ctx context.Context, client *http.Client, errs *failures) {
	resp, err := get(ctx, client, st.url, 0)
	if err != nil {
		if ctx.Err() == nil {
			errs.add(fmt.Errorf("stream %d stalled reader: %w", st.idx, err))
		}
		return
	}
	for st.published.Load() < int64(st.cfg.Ring+2) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	resp.Body.Close()
	if ctx.Err() != nil {
		return
	}
	resp, err = get(ctx, client, st.url, 1)
	if err != nil {
		errs.add(fmt.Errorf("stream %d stalled reader, coming back: %w", st.idx, err))
		return
	}
	resp.Body.Close()
	latest, _ := strconv.ParseInt(resp.Header.Get(trickle.HeaderLatest), 10, 64)
	if resp.StatusCode != trickle.StatusSequenceNonexistent || latest <= 1 {
		errs.add(fmt.Errorf("stream %d stalled reader: seq 1 after the ring moved on: status %d, latest %q, want 470 naming a later seq",
			st.idx, resp.StatusCode, resp.Header.Get(trickle.HeaderLatest)))
		return
	}
	st.gone.Add(1)
}

func get(ctx context.Context, client *http.Client, url string, seq int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/"+strconv.FormatInt(seq, 10), nil)
	if err != nil {
		return nil, err
	}
	return client.Do(req)
}

func sleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
	}
}

// loadClient is one HTTP client for every regular publisher and
// subscriber: a pool big enough that connections are reused rather than
// redialled (which would run loopback out of ports).
func loadClient() (*http.Client, *http.Transport) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 0
	tr.MaxIdleConnsPerHost = 1 << 14
	tr.DisableCompression = true
	return &http.Client{Transport: tr}, tr
}

// smallWindowClient is for the slow and stalled readers: a 4 KiB receive
// buffer, so that (with the server's capped send buffer) the server's
// writes to them block once about 70 KiB are in flight instead of after
// megabytes of loopback socket buffer.
func smallWindowClient() (*http.Client, *http.Transport) {
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
		}); err != nil {
			return err
		}
		return serr
	}}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = d.DialContext
	tr.MaxIdleConnsPerHost = 1 << 10
	tr.DisableCompression = true
	return &http.Client{Transport: tr}, tr
}
