package trickleserver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

func TestStatusFaultsFireOnTheRequestsTheyCount(t *testing.T) {
	h := newHarness(t, Config{Faults: []Fault{
		{Method: "GET", Channel: "s", Seq: new(int64(1)), Nth: 2, Status: 500},
		{Method: "get", Seq: new(int64(2)), Times: 2, Status: 503},
		{Method: "GET", Seq: new(int64(2)), Status: 502, Nth: 1}, // shadowed by the fault above on its one chance
	}})
	h.publish("zero", "one", "two")
	steps := []struct {
		name, path string
		want       int
	}{
		{"the first GET of seq 1 is served", "/s/1", 200},
		{"a GET of another seq is not counted against the seq 1 fault", "/s/0", 200},
		{"the second GET of seq 1 gets the fault", "/s/1", 500},
		{"the third GET of seq 1 is served again", "/s/1", 200},
		{"a fault with Times fires on its first match", "/s/2", 503},
		{"a fault with Times fires on its second match", "/s/2", 503},
		{"a fault with Times is spent after its last", "/s/2", 200},
		{"a seq filter does not match the alias that resolves to it", "/s/-2", 200},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			resp, body := h.do(http.MethodGet, st.path, nil)
			if resp.StatusCode != st.want {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, st.want, body)
			}
			if st.want >= 500 && !strings.Contains(body, "injected") {
				t.Fatalf("fault answer body %q does not say it was injected", body)
			}
		})
	}
	t.Run("the recording names the fault applied", func(t *testing.T) {
		var faults []string
		for _, r := range h.srv.Requests() {
			if r.Method == http.MethodGet {
				faults = append(faults, r.Fault)
			}
		}
		want := []string{"", "", "GET s/1 #2: status 500", "", "GET */2 x2: status 503", "GET */2 x2: status 503", "", ""}
		if strings.Join(faults, "|") != strings.Join(want, "|") {
			t.Fatalf("faults recorded %q, want %q", faults, want)
		}
	})
	t.Run("cleared faults no longer fire", func(t *testing.T) {
		h.srv.ClearFaults()
		h.srv.AddFault(Fault{Method: "DELETE", Status: 500})
		if resp, _ := h.do(http.MethodGet, "/s/1", nil); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

func TestA470FaultCarriesTheRealLatest(t *testing.T) {
	h := newHarness(t, Config{Faults: []Fault{
		{Method: "GET", Channel: "s", Seq: new(int64(0)), Status: trickle.StatusSequenceNonexistent},
		{Method: "GET", Channel: "s", Seq: new(int64(-1)), Status: trickle.StatusSequenceNonexistent},
		{Channel: "nope", Status: trickle.StatusSequenceNonexistent},
	}})
	h.publish("zero", "one", "two")
	cases := []struct {
		name, path          string
		wantLatest, wantSeq string
	}{
		{"a held seq answered 470 names the latest and echoes the seq", "/s/0", "3", "0"},
		{"seq -1 answered 470 names the seq it stands for", "/s/-1", "3", "3"},
		{"a channel that does not exist gets no latest", "/nope/0", "", "0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, _ := h.do(http.MethodGet, c.path, nil)
			if resp.StatusCode != trickle.StatusSequenceNonexistent {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := resp.Header.Get(trickle.HeaderLatest); got != c.wantLatest {
				t.Errorf("%s %q, want %q", trickle.HeaderLatest, got, c.wantLatest)
			}
			if got := resp.Header.Get(trickle.HeaderSeq); got != c.wantSeq {
				t.Errorf("%s %q, want %q", trickle.HeaderSeq, got, c.wantSeq)
			}
		})
	}
}

func TestAHeaderFaultAddsHeadersToARealAnswer(t *testing.T) {
	h := newHarness(t, Config{Faults: []Fault{
		{Method: "GET", Seq: new(int64(0)), Header: map[string]string{"X-Fault": "yes", trickle.HeaderLatest: "99"}},
	}})
	h.publish("zero", "one")
	resp, body := h.do(http.MethodGet, "/s/0", nil)
	if resp.StatusCode != 200 || body != "zero" {
		t.Fatalf("the segment was not served: %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Fault") != "yes" || resp.Header.Get(trickle.HeaderLatest) != "99" {
		t.Fatalf("headers %v", resp.Header)
	}
}

func TestALatencyFaultDelaysHandling(t *testing.T) {
	// Long enough that an unmatched request answered without the delay
	// comes in well under it, even on a loaded machine under -race.
	const latency = 400 * time.Millisecond
	h := newHarness(t, Config{Faults: []Fault{{Method: "GET", Seq: new(int64(0)), Latency: latency}}})
	h.publish("zero")
	t.Run("a matching request is answered no sooner than the latency", func(t *testing.T) {
		start := time.Now()
		if _, body := h.do(http.MethodGet, "/s/0", nil); body != "zero" {
			t.Fatalf("body %q", body)
		}
		if el := time.Since(start); el < latency {
			t.Fatalf("answered after %v, want at least %v", el, latency)
		}
		r := h.finished(http.MethodGet, "/s/0")
		if d := r.FirstByteOut.Sub(r.Start); d < latency {
			t.Fatalf("recorded first byte %v after start, want at least %v", d, latency)
		}
	})
	t.Run("a request the fault does not match is not delayed", func(t *testing.T) {
		start := time.Now()
		h.do(http.MethodGet, "/s/next", nil)
		if el := time.Since(start); el >= latency {
			t.Fatalf("answered after %v", el)
		}
	})
}

func TestDropAfterBytesCutsAGetShort(t *testing.T) {
	segment := bytes.Repeat([]byte("0123456789"), 100) // 1000 bytes
	cases := []struct {
		name     string
		drop     int64
		wantN    int
		wantDrop bool
	}{
		{"the client sees the body end early after N bytes", 100, 100, true},
		{"a drop at 0 sends the headers and no body", 0, 0, true},
		{"a drop at the body's exact length still withholds its end", 1000, 1000, true},
		{"a body shorter than N is served whole", 5000, 1000, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, Config{Faults: []Fault{{Method: "GET", Seq: new(int64(0)), DropAfterBytes: new(c.drop)}}})
			h.do(http.MethodPost, "/s/0", bytes.NewReader(segment))
			resp, body, err := h.try(http.MethodGet, "/s/0", nil)
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if len(body) != c.wantN || body != string(segment[:c.wantN]) {
				t.Fatalf("got %d bytes, want the first %d", len(body), c.wantN)
			}
			if c.wantDrop && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("read error %v, want an unexpected EOF", err)
			}
			if !c.wantDrop && err != nil {
				t.Fatalf("read error %v", err)
			}
			if r := h.finished(http.MethodGet, "/s/0"); r.BytesOut != int64(c.wantN) {
				t.Fatalf("recorded %d bytes out, want %d", r.BytesOut, c.wantN)
			}
		})
	}
}

func TestDropAfterBytesClosesAPostsConnection(t *testing.T) {
	h := newHarness(t, Config{Faults: []Fault{{Method: "POST", Seq: new(int64(0)), DropAfterBytes: new(int64(10))}}})
	segment := bytes.Repeat([]byte("abcdefghij"), 100)
	resp, _, err := h.try(http.MethodPost, "/s/0", bytes.NewReader(segment))
	if err == nil {
		t.Fatalf("the publisher got status %d, want a broken connection", resp.StatusCode)
	}
	t.Run("the server read exactly N bytes", func(t *testing.T) {
		if r := h.finished(http.MethodPost, "/s/0"); r.BytesIn != 10 || r.Status != 0 {
			t.Fatalf("recorded %d bytes in and status %d, want 10 and none", r.BytesIn, r.Status)
		}
	})
	t.Run("the segment ends at the bytes the server read", func(t *testing.T) {
		if _, body := h.do(http.MethodGet, "/s/0", nil); body != string(segment[:10]) {
			t.Fatalf("segment %q", body)
		}
	})
}

func TestStallAfterBytesHoldsTheResponseOpen(t *testing.T) {
	segment := bytes.Repeat([]byte("x"), 100)
	stall := Fault{Method: "GET", Seq: new(int64(0)), StallAfterBytes: new(int64(10))}

	// open starts a GET and reads the bytes before the stall.
	open := func(t *testing.T, h *harness, ctx context.Context) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.base+"/s/0", nil)
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if _, err := io.ReadFull(resp.Body, make([]byte, 10)); err != nil {
			t.Fatalf("the bytes before the stall: %v", err)
		}
		return resp
	}
	// readRest reads what follows the stall in the background.
	readRest := func(resp *http.Response) <-chan error {
		done := make(chan error, 1)
		go func() {
			_, err := io.ReadAll(resp.Body)
			done <- err
		}()
		return done
	}

	t.Run("nothing follows N bytes until the client leaves", func(t *testing.T) {
		h := newHarness(t, Config{Faults: []Fault{stall}})
		h.do(http.MethodPost, "/s/0", bytes.NewReader(segment))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rest := readRest(open(t, h, ctx))
		select {
		case err := <-rest:
			t.Fatalf("the body went on after the stall (err %v)", err)
		case <-time.After(200 * time.Millisecond):
		}
		cancel()
		if err := <-rest; err == nil {
			t.Fatal("the stalled body ended cleanly")
		}
		if r := h.finished(http.MethodGet, "/s/0"); r.BytesOut != 10 {
			t.Fatalf("recorded %d bytes out", r.BytesOut)
		}
	})
	t.Run("closing the server ends a stall with a broken body", func(t *testing.T) {
		h := newHarness(t, Config{Faults: []Fault{stall}})
		h.do(http.MethodPost, "/s/0", bytes.NewReader(segment))
		rest := readRest(open(t, h, context.Background()))
		h.srv.Close()
		select {
		case err := <-rest:
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("read error %v, want an unexpected EOF", err)
			}
		case <-time.After(time.Second):
			t.Fatal("the stall outlived the server")
		}
	})
}

func TestOverHTTP2ADropResetsTheStream(t *testing.T) {
	// HTTP/2 cannot hand a connection over; the drop becomes a stream
	// reset, which the client sees as a failed body all the same.
	srv := New(Config{Trickle: trickle.ServerConfig{Autocreate: true, Logger: discardLogger()},
		Faults: []Fault{{Method: "GET", DropAfterBytes: new(int64(10))}}})
	hs := httptest.NewUnstartedServer(srv)
	hs.EnableHTTP2 = true
	hs.Config.ErrorLog = log.New(io.Discard, "", 0)
	hs.StartTLS()
	client := hs.Client()
	defer func() {
		srv.Close()
		hs.Close()
		client.CloseIdleConnections()
	}()
	resp, err := client.Post(hs.URL+"/s/0", "video/mp2t", bytes.NewReader(make([]byte, 100)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = client.Get(hs.URL + "/s/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("served over %s", resp.Proto)
	}
	body, err := io.ReadAll(resp.Body)
	if err == nil || len(body) != 10 {
		t.Fatalf("read %d bytes, err %v; want 10 and a stream error", len(body), err)
	}
}
