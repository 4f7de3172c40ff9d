package trickleserver

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// With no faults or mutations the wrapping must be invisible; these are the
// behaviours that depend on the writer streaming and on
// http.ResponseController reaching the connection through it.
func TestTheFakeStreamsAsTheRealServerDoes(t *testing.T) {
	t.Run("a reader gets bytes while the POST is still open", func(t *testing.T) {
		h := newHarness(t, Config{})
		if got := observeStreaming(t, h); got != "headers and first bytes while open; whole segment after" {
			t.Fatal(got)
		}
	})
	t.Run("a parked POST is released when its segment is closed", func(t *testing.T) {
		// The real server wakes the POST's blocked body read with a read
		// deadline set through http.ResponseController; that only works if
		// the wrapped writer unwraps to the connection's.
		h := newHarness(t, Config{})
		h.do(http.MethodPost, "/s", nil)
		pr, pw := io.Pipe()
		defer pw.Close()
		type answer struct {
			resp *http.Response
			err  error
		}
		got := make(chan answer, 1)
		go func() {
			resp, _, err := h.try(http.MethodPost, "/s/0", pr)
			got <- answer{resp, err}
		}()
		waitFor(t, "the POST to park", func() bool {
			_, ok := h.lastRequest(http.MethodPost, "/s/0")
			return ok
		})
		time.Sleep(20 * time.Millisecond) // let the real server claim the segment
		if resp, _ := h.do(http.MethodDelete, "/s/0", nil); resp.StatusCode != 200 {
			t.Fatalf("DELETE: %d", resp.StatusCode)
		}
		select {
		case a := <-got:
			if a.err != nil || a.resp.StatusCode != 200 {
				t.Fatalf("parked POST: %v %v", a.resp, a.err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("the parked POST was not released")
		}
	})
	t.Run("a reader parked on the next segment is released by Close", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.do(http.MethodPost, "/s", nil)
		got := make(chan *http.Response, 1)
		go func() {
			resp, _, _ := h.try(http.MethodGet, "/s/-1", nil)
			got <- resp
		}()
		waitFor(t, "the GET to park", func() bool {
			_, ok := h.lastRequest(http.MethodGet, "/s/-1")
			return ok
		})
		time.Sleep(20 * time.Millisecond)
		h.srv.Close()
		select {
		case resp := <-got:
			if resp == nil || resp.Header.Get(trickle.HeaderClosed) != trickle.ClosedValue {
				t.Fatalf("released with %v", resp)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("the parked GET was not released")
		}
	})
}
