package trickle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// seqSlack is how far past MaxSeq a client may count in these tests: a
// server that names MaxSeq makes it step on by one per request (and
// refuses those seqs with 400); it must never wrap around to negative.
const seqSlack = 8

// fuzzStatus maps a fuzzed number to a status: small numbers pick the
// codes trickle gives meaning to, larger ones any code from 100 to 599.
func fuzzStatus(n uint16) int {
	known := []int{http.StatusOK, http.StatusNotFound, StatusSequenceNonexistent, http.StatusConflict,
		http.StatusRequestEntityTooLarge, http.StatusInternalServerError, http.StatusTooManyRequests, http.StatusBadRequest}
	if int(n) < len(known) {
		return known[n]
	}
	return 100 + int(n)%500
}

// scriptedAnswer is one answer a scripted server gives.
type scriptedAnswer struct {
	status              int
	seq, latest, closed string // header values; "" leaves the header out
	body                []byte
}

func (a scriptedAnswer) response(req *http.Request) *http.Response {
	h := http.Header{}
	for k, v := range map[string]string{HeaderSeq: a.seq, HeaderLatest: a.latest, HeaderClosed: a.closed} {
		if v != "" {
			h.Set(k, v)
		}
	}
	return &http.Response{
		StatusCode: a.status, Status: fmt.Sprint(a.status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(a.body)), ContentLength: int64(len(a.body)), Request: req,
	}
}

// scriptTransport answers requests from a script, in arrival order, and
// records what it was asked; past the script, GETs get 404 and POSTs are
// read to their end and get 200, as a server that accepts them.
type scriptTransport struct {
	mu       sync.Mutex
	script   []scriptedAnswer
	paths    []string          // every request's method and path
	accepted map[string][]byte // body of every POST answered 200 after reading it, by path
	served   []scriptedAnswer  // GET answers in order, for matching segments
}

func (tr *scriptTransport) next() (scriptedAnswer, bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.script) == 0 {
		return scriptedAnswer{}, false
	}
	a := tr.script[0]
	tr.script = tr.script[1:]
	return a, true
}

func (tr *scriptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tr.mu.Lock()
	tr.paths = append(tr.paths, req.Method+" "+req.URL.Path)
	tr.mu.Unlock()
	a, scripted := tr.next()
	switch req.Method {
	case http.MethodGet:
		if !scripted {
			a = scriptedAnswer{status: http.StatusNotFound, body: []byte("stream not found")}
		}
		tr.mu.Lock()
		tr.served = append(tr.served, a)
		tr.mu.Unlock()
		return a.response(req), nil
	case http.MethodPost:
		if !scripted {
			a = scriptedAnswer{status: http.StatusOK}
		}
		if a.status != http.StatusOK || a.closed != "" {
			// Refused before reading, as a server does.
			req.Body.Close()
			return a.response(req), nil
		}
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err // the publisher gave the request up
		}
		tr.mu.Lock()
		tr.accepted[req.URL.Path] = body
		tr.mu.Unlock()
		return a.response(req), nil
	default: // DELETE
		if req.Body != nil {
			req.Body.Close()
		}
		return scriptedAnswer{status: http.StatusOK}.response(req), nil
	}
}

// checkPaths fails t unless every request named a seq of at least 0 (or,
// for GETs, an alias: -1, -2) that has not wrapped around: a client told
// that a segment is MaxSeq steps one past it per request (a server
// refuses those with 400), no further.
func (tr *scriptTransport) checkPaths(t *testing.T) {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	limit := MaxSeq + int64(len(tr.paths))
	for _, p := range tr.paths {
		method, path, _ := strings.Cut(p, " ")
		elem := path[strings.LastIndexByte(path, '/')+1:]
		if path == "/ch" && method == http.MethodDelete {
			continue
		}
		n, err := strconv.ParseInt(elem, 10, 64)
		if err != nil || n < SeqCurrent || n > limit || n < 0 && method != http.MethodGet {
			t.Fatalf("the client sent %s (seq %q: %v)", p, elem, err)
		}
	}
}

// isClientError reports whether err is one the clients document, or the
// subscriber's complaint that a server answered an alias without saying
// which segment it served.
func isClientError(err error) bool {
	if _, ok := errors.AsType[*HTTPError](err); ok {
		return true
	}
	if strings.HasSuffix(err.Error(), "answer has no "+HeaderSeq+" header") {
		return true
	}
	for _, e := range []error{ErrStreamNotFound, ErrStreamClosed, ErrSegmentGone, ErrSegmentConflict,
		ErrSegmentTooLarge, ErrPartialSegment} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// FuzzSubscriberAnswers gives a Subscriber up to three arbitrary answers
// (status, Lp-Trickle-Seq, -Latest, -Closed, body), then 404s, and checks
// that each Next returns a segment or a documented error, never both; a
// segment carries a seq in range and exactly the body that was sent; the
// subscriber never asks for a seq out of range (no seq+1 overflow); and it
// stops within a bounded number of requests.
func FuzzSubscriberAnswers(f *testing.F) {
	f.Add(int8(-1), uint16(0), "0", "1", "", []byte("seg"), uint16(0), "1", "", "", []byte("next"), uint16(1), "", "", "", []byte(nil))
	f.Add(int8(-2), uint16(2), "", "5", "", []byte(nil), uint16(0), "5", "6", "", []byte("x"), uint16(0), "", "", "terminated", []byte(nil))
	f.Add(int8(3), uint16(2), "", "", "", []byte(nil), uint16(2), "", "-1", "", []byte(nil), uint16(0), "-1", "", "", []byte("y"))
	f.Add(int8(-1), uint16(0), "9007199254740991", "", "", []byte("a"), uint16(0), "", "", "", []byte("b"), uint16(5), "", "", "", []byte("oops"))
	f.Add(int8(-1), uint16(0), "9223372036854775807", "", "", []byte("a"), uint16(2), "", "9223372036854775807", "", []byte(nil), uint16(6), "", "", "", []byte(nil))
	f.Add(int8(0), uint16(2), "", "-3", "", []byte(nil), uint16(0), "-5", "", "", []byte(nil), uint16(300), "", "", "", []byte(nil))
	f.Fuzz(func(t *testing.T, start int8,
		s1 uint16, seq1, latest1, closed1 string, body1 []byte,
		s2 uint16, seq2, latest2, closed2 string, body2 []byte,
		s3 uint16, seq3, latest3, closed3 string, body3 []byte) {
		tr := &scriptTransport{accepted: map[string][]byte{}, script: []scriptedAnswer{
			{fuzzStatus(s1), seq1, latest1, closed1, body1},
			{fuzzStatus(s2), seq2, latest2, closed2, body2},
			{fuzzStatus(s3), seq3, latest3, closed3, body3},
		}}
		first := max(int64(start), SeqCurrent)
		sub, err := NewSubscriber(SubscriberConfig{
			URL: "http://127.0.0.1:1/ch", Client: &http.Client{Transport: tr},
			Start: StartAt(first), MaxRetries: -1, Logger: discardLogger(),
		})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		segments := 0
		for range 6 {
			seg, err := sub.Next(ctx)
			if s := sub.Seq(); s < SeqCurrent || s > MaxSeq+seqSlack {
				t.Fatalf("the subscriber moved to seq %d", s)
			}
			if (seg == nil) == (err == nil) {
				t.Fatalf("Next gave segment %v and error %v", seg, err)
			}
			if err != nil {
				if ctx.Err() != nil || !isClientError(err) {
					t.Fatalf("Next: %T %v", err, err)
				}
				continue
			}
			segments++
			got, rerr := io.ReadAll(seg)
			seg.Close()
			if seg.Seq < 0 || seg.Seq > MaxSeq+seqSlack || rerr != nil {
				t.Fatalf("segment seq %d, read error %v", seg.Seq, rerr)
			}
			found := false
			tr.mu.Lock()
			for _, a := range tr.served {
				found = found || a.status == http.StatusOK && bytes.Equal(a.body, got)
			}
			tr.mu.Unlock()
			if !found {
				t.Fatalf("segment %d body %q was never sent with a 200", seg.Seq, got)
			}
		}
		if st := sub.Stats(); st.Segments != int64(segments) || st.Skipped < 0 {
			t.Fatalf("stats %+v after %d segments", st, segments)
		}
		tr.checkPaths(t)
	})
}

// FuzzPublisherAnswers gives a Publisher up to three arbitrary answers to
// its POSTs (status, Lp-Trickle-Latest, -Closed), then a server that
// accepts everything, and writes three segments. Every Write succeeds
// only if the server read exactly that segment's bytes and answered 200,
// or fails with a documented error; once the stream is reported gone no
// Write succeeds; the stats add up; and no POST names a seq out of range.
func FuzzPublisherAnswers(f *testing.F) {
	f.Add(uint16(0), "", "", uint16(0), "", "", uint16(0), "", "")
	f.Add(uint16(2), "5", "", uint16(3), "7", "", uint16(0), "", "")
	f.Add(uint16(1), "", "", uint16(0), "", "", uint16(0), "", "")
	f.Add(uint16(0), "", "terminated", uint16(0), "", "", uint16(0), "", "")
	f.Add(uint16(5), "", "", uint16(6), "", "", uint16(4), "", "")
	f.Add(uint16(2), "9223372036854775807", "", uint16(3), "9007199254740991", "", uint16(2), "-1", "")
	f.Fuzz(func(t *testing.T, s1 uint16, latest1, closed1 string, s2 uint16, latest2, closed2 string, s3 uint16, latest3, closed3 string) {
		tr := &scriptTransport{accepted: map[string][]byte{}, script: []scriptedAnswer{
			{status: fuzzStatus(s1), latest: latest1, closed: closed1},
			{status: fuzzStatus(s2), latest: latest2, closed: closed2},
			{status: fuzzStatus(s3), latest: latest3, closed: closed3},
		}}
		done := make(chan struct{})
		go func() {
			defer close(done)
			runPublisherScript(t, tr)
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("the publisher hung; requests: %q", tr.paths)
		}
	})
}

func runPublisherScript(t *testing.T, tr *scriptTransport) {
	ctx := context.Background()
	pub, err := NewPublisher(ctx, PublisherConfig{
		URL: "http://127.0.0.1:1/ch", Client: &http.Client{Transport: tr},
		RetryBackoff: time.Microsecond, Logger: discardLogger(),
	})
	if err != nil {
		t.Error(err)
		return
	}
	var okBytes, okSegs int64
	gone := false
	for i := range 3 {
		payload := []byte(fmt.Sprintf("segment-%d", i))
		n, err := pub.Write(ctx, bytes.NewReader(payload))
		if s := pub.Seq(); s < 0 || s > MaxSeq+seqSlack {
			t.Errorf("write %d: the publisher moved to seq %d", i, s)
		}
		if err != nil {
			if !isClientError(err) {
				t.Errorf("write %d: %T %v", i, err, err)
			}
			gone = gone || errors.Is(err, ErrStreamClosed) || errors.Is(err, ErrStreamNotFound)
			continue
		}
		if gone {
			t.Errorf("write %d succeeded after the stream was reported gone", i)
		}
		if n != int64(len(payload)) {
			t.Errorf("write %d: %d of %d bytes", i, n, len(payload))
		}
		found := false
		tr.mu.Lock()
		for _, b := range tr.accepted {
			found = found || bytes.Equal(b, payload)
		}
		tr.mu.Unlock()
		if !found {
			t.Errorf("write %d succeeded but the server never accepted %q", i, payload)
		}
		okBytes += n
		okSegs++
	}
	if err := pub.Close(ctx); err != nil && !isClientError(err) {
		t.Errorf("Close: %T %v", err, err)
	}
	if st := pub.Stats(); st.Segments != okSegs || st.Bytes != okBytes {
		t.Errorf("stats %+v, want %d segments of %d bytes", st, okSegs, okBytes)
	}
	tr.checkPaths(t)
}
