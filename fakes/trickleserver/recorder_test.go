package trickleserver

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestTheRecordingTimesAndCountsEachRequest(t *testing.T) {
	h := newHarness(t, Config{})
	// The POST sends its body in two parts, apart, so that its first and
	// last byte times differ.
	pr, pw := io.Pipe()
	posted := make(chan error, 1)
	go func() {
		_, _, err := h.try(http.MethodPost, "/s/0", pr)
		posted <- err
	}()
	pw.Write(bytes.Repeat([]byte("a"), 400))
	time.Sleep(20 * time.Millisecond)
	pw.Write(bytes.Repeat([]byte("b"), 600))
	pw.Close()
	if err := <-posted; err != nil {
		t.Fatal(err)
	}
	if _, body := h.do(http.MethodGet, "/s/0", nil); len(body) != 1000 {
		t.Fatalf("GET got %d bytes", len(body))
	}
	post := h.finished(http.MethodPost, "/s/0")
	get := h.finished(http.MethodGet, "/s/0")

	cases := []struct {
		name string
		ok   bool
	}{
		{"both requests name channel s, seq 0", post.Channel == "s" && post.Seq == 0 && post.HasSeq &&
			get.Channel == "s" && get.Seq == 0 && get.HasSeq},
		{"both requests record status 200 and no fault", post.Status == 200 && get.Status == 200 && post.Fault == "" && get.Fault == ""},
		{"the POST read 1000 bytes and wrote none", post.BytesIn == 1000 && post.BytesOut == 0},
		{"the GET wrote 1000 bytes and read none", get.BytesIn == 0 && get.BytesOut == 1000},
		{"the POST's body times are ordered within the request", !post.Start.After(post.FirstByteIn) &&
			post.FirstByteIn.Before(post.LastByteIn) && !post.LastByteIn.After(post.End)},
		{"the POST's body parts are recorded apart", post.LastByteIn.Sub(post.FirstByteIn) >= 20*time.Millisecond},
		{"the GET's body times are ordered within the request", !get.Start.After(get.FirstByteOut) &&
			!get.FirstByteOut.After(get.LastByteOut) && !get.LastByteOut.After(get.End)},
		{"the GET has no request-body times", get.FirstByteIn.IsZero() && get.LastByteIn.IsZero()},
		{"the GET started after the POST ended", !get.Start.Before(post.End)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok {
				t.Fatalf("POST %+v\nGET %+v", post, get)
			}
		})
	}
}

func TestARequestIsListedWhileItRuns(t *testing.T) {
	h := newHarness(t, Config{})
	h.publish("zero")
	got := make(chan string, 1)
	go func() {
		_, body, _ := h.try(http.MethodGet, "/s/-1", nil) // parks on seq 1
		got <- body
	}()
	var running Request
	waitFor(t, "the parked GET to be listed", func() bool {
		var ok bool
		running, ok = h.lastRequest(http.MethodGet, "/s/-1")
		return ok
	})
	t.Run("a running request has no status and no end", func(t *testing.T) {
		if running.Status != 0 || !running.End.IsZero() || running.Seq != -1 || !running.HasSeq {
			t.Fatalf("%+v", running)
		}
	})
	h.do(http.MethodPost, "/s/1", strings.NewReader("one"))
	if body := <-got; body != "one" {
		t.Fatalf("parked GET got %q", body)
	}
	t.Run("the same entry is completed when the request ends", func(t *testing.T) {
		r := h.finished(http.MethodGet, "/s/-1")
		if r.Status != 200 || r.BytesOut != 3 || !r.Start.Equal(running.Start) {
			t.Fatalf("%+v", r)
		}
	})
}

func TestTheRecordingNamesWhatEachPathHolds(t *testing.T) {
	h := newHarness(t, Config{})
	cases := []struct {
		name, method, path string
		want               Request
	}{
		{"a channel path has a channel and no seq", "POST", "/s", Request{Channel: "s", Status: 200}},
		{"the next path has a channel and no seq", "GET", "/s/next", Request{Channel: "s", Status: 200}},
		{"a seq the server refuses is still recorded as requested", "GET", "/s/-7", Request{Channel: "s", Seq: -7, HasSeq: true, Status: 400}},
		{"a path outside the protocol has no channel", "GET", "/a/b/c", Request{Status: 404}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.do(c.method, c.path, nil)
			r := h.finished(c.method, c.path)
			got := Request{Channel: r.Channel, Seq: r.Seq, HasSeq: r.HasSeq, Status: r.Status}
			if got != c.want {
				t.Fatalf("recorded %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestRequestsReturnsACopyAndResetForgets(t *testing.T) {
	h := newHarness(t, Config{})
	h.do(http.MethodPost, "/s", nil)
	h.finished(http.MethodPost, "/s")
	t.Run("changing the returned slice does not change the recording", func(t *testing.T) {
		reqs := h.srv.Requests()
		reqs[0].Method = "CHANGED"
		if h.srv.Requests()[0].Method != http.MethodPost {
			t.Fatal("the recording changed")
		}
	})
	t.Run("ResetRecording forgets earlier requests", func(t *testing.T) {
		h.srv.ResetRecording()
		if n := len(h.srv.Requests()); n != 0 {
			t.Fatalf("%d requests after reset", n)
		}
		h.do(http.MethodGet, "/s/next", nil)
		if reqs := h.srv.Requests(); len(reqs) != 1 || reqs[0].Path != "/s/next" {
			t.Fatalf("%+v", reqs)
		}
	})
}
