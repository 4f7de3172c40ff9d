package trickle

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// waitFor polls cond until it holds or two seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestServerRefusesChannelsPastMaxChannelsUntilOneIsFreed(t *testing.T) {
	srv, base := newTestServer(t, ServerConfig{Autocreate: true, MaxChannels: 2})
	for _, ch := range []string{"a", "b"} {
		if resp, body := do(t, "POST", base+"/"+ch, nil); resp.StatusCode != 200 {
			t.Fatalf("create %s: %d %q", ch, resp.StatusCode, body)
		}
	}
	t.Run("POST /{ch} past the cap gets 503 with a text body naming the limit", func(t *testing.T) {
		resp, body := do(t, "POST", base+"/c", nil)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "too many channels (limit 2)") {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	})
	t.Run("a segment POST that would auto-create gets 503 too", func(t *testing.T) {
		resp, body := do(t, "POST", base+"/d/0", strings.NewReader("x"))
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "too many channels") {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	})
	t.Run("CreateChannel reports ErrTooManyChannels", func(t *testing.T) {
		if err := srv.CreateChannel("e", ""); !errors.Is(err, ErrTooManyChannels) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("creating a channel that exists is not refused", func(t *testing.T) {
		if resp, body := do(t, "POST", base+"/a", nil); resp.StatusCode != 200 {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		if resp, _ := do(t, "POST", base+"/a/0", strings.NewReader("seg")); resp.StatusCode != 200 {
			t.Fatalf("segment POST to an existing channel: %d", resp.StatusCode)
		}
	})
	t.Run("deleting a channel frees its place", func(t *testing.T) {
		if resp, _ := do(t, "DELETE", base+"/a", nil); resp.StatusCode != 200 {
			t.Fatalf("delete: %d", resp.StatusCode)
		}
		if resp, body := do(t, "POST", base+"/c", nil); resp.StatusCode != 200 {
			t.Fatalf("create after delete: %d %q", resp.StatusCode, body)
		}
		if n := len(srv.Channels()); n != 2 {
			t.Fatalf("%d channels, want 2", n)
		}
	})
}

func TestServerChannelCapDefaultsAndCanBeLifted(t *testing.T) {
	cases := []struct {
		name    string
		max     int
		creates int
		refused bool
	}{
		{"the zero value caps at DefaultMaxChannels", 0, DefaultMaxChannels + 1, true},
		{"a negative cap means no limit", -1, DefaultMaxChannels + 1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := NewServer(ServerConfig{MaxChannels: c.max, Logger: discardLogger()})
			defer srv.Close()
			var err error
			for i := range c.creates {
				if err = srv.CreateChannel("ch"+formatSeq(int64(i)), ""); err != nil {
					break
				}
			}
			if got := errors.Is(err, ErrTooManyChannels); got != c.refused {
				t.Fatalf("refused %v (err %v), want %v; %d channels", got, err, c.refused, len(srv.Channels()))
			}
			if c.refused && len(srv.Channels()) != DefaultMaxChannels {
				t.Fatalf("%d channels, want %d", len(srv.Channels()), DefaultMaxChannels)
			}
		})
	}
	t.Run("the zero value caps readers at DefaultMaxSubscribers", func(t *testing.T) {
		srv := NewServer(ServerConfig{Logger: discardLogger()})
		defer srv.Close()
		if got := srv.Config().MaxSubscribers; got != DefaultMaxSubscribers {
			t.Fatalf("MaxSubscribers %d, want %d", got, DefaultMaxSubscribers)
		}
	})
}

// openReader starts a GET of base+path that waits on the server; its
// answer (or error) arrives on the returned channel once cancel is called
// or the segment comes.
func openReader(t *testing.T, url string) (context.CancelFunc, <-chan *http.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			out <- nil
			return
		}
		out <- resp
	}()
	return cancel, out
}

func TestServerRefusesReadersPastMaxSubscribersAndFreesPlacesAsTheyLeave(t *testing.T) {
	srv, base := newTestServer(t, ServerConfig{Autocreate: true, MaxSubscribers: 2})
	if err := srv.CreateChannel("ch", ""); err != nil {
		t.Fatal(err)
	}
	readers := func() int64 { return srv.lookup("ch").readers.Load() }
	cancel1, first := openReader(t, base+"/ch/0")
	defer cancel1()
	cancel2, second := openReader(t, base+"/ch/0")
	defer cancel2()
	waitFor(t, "two waiting readers", func() bool { return readers() == 2 })

	t.Run("a third GET gets 503 at once with a text body naming the limit", func(t *testing.T) {
		resp, body := do(t, "GET", base+"/ch/0", nil)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "too many subscribers on this channel (limit 2)") {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	})
	t.Run("HEAD counts as a reader too", func(t *testing.T) {
		resp, _ := do(t, "HEAD", base+"/ch/0", nil)
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
	t.Run("the refusals did not take places", func(t *testing.T) {
		if n := readers(); n != 2 {
			t.Fatalf("%d readers counted, want 2", n)
		}
	})
	t.Run("another channel has places of its own", func(t *testing.T) {
		do(t, "POST", base+"/other/0", strings.NewReader("x"))
		if resp, body := do(t, "GET", base+"/other/0", nil); resp.StatusCode != 200 || body != "x" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	})

	cancel1()
	if resp := <-first; resp != nil {
		resp.Body.Close()
	}
	waitFor(t, "the reader that left to be uncounted", func() bool { return readers() == 1 })
	cancel3, third := openReader(t, base+"/ch/0")
	defer cancel3()
	waitFor(t, "the new reader to take the freed place", func() bool { return readers() == 2 })

	if resp, _ := do(t, "POST", base+"/ch/0", strings.NewReader("segment")); resp.StatusCode != 200 {
		t.Fatalf("post: %d", resp.StatusCode)
	}
	for name, ch := range map[string]<-chan *http.Response{"second": second, "third": third} {
		resp := <-ch
		if resp == nil || resp.StatusCode != 200 {
			t.Fatalf("%s reader: %v", name, resp)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != "segment" {
			t.Fatalf("%s reader got %q, %v", name, b, err)
		}
	}
	waitFor(t, "every reader to be uncounted", func() bool { return readers() == 0 })
}
