package statuspage

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gotrickle/gotrickle/pkg/processor"
)

func TestTheClientOutboxIsBoundedAndCoalesces(t *testing.T) {
	c := newClient(nil, 4)
	for i := range 10 {
		c.pushEvent([]byte{byte('0' + i)})
	}
	c.setSnapshot([]byte("s1"))
	c.setSnapshot([]byte("s2"))
	c.setPreview([]byte("p1"))
	c.setPreview([]byte("p2"))
	if n := c.pending(); n != 6 {
		t.Fatalf("%d messages waiting, want 6 (4 events, 1 snapshot, 1 preview)", n)
	}
	o := c.take()
	var got []string
	for _, e := range o.events {
		got = append(got, string(e))
	}
	if strings.Join(got, ",") != "6,7,8,9" || o.dropped != 6 {
		t.Errorf("events %v with %d dropped, want the newest 4 (6,7,8,9) and 6 dropped", got, o.dropped)
	}
	if string(o.snapshot) != "s2" || string(o.preview) != "p2" {
		t.Errorf("snapshot %q, preview %q; want only the newest of each (s2, p2)", o.snapshot, o.preview)
	}
	if c.pending() != 0 || c.take().dropped != 0 {
		t.Error("take left something behind")
	}
	c.close()
	c.close()
	c.pushEvent([]byte("late"))
	if c.pending() != 0 {
		t.Error("a closed client still queues events")
	}
}

func TestASlowBrowserNeverBlocksThePipelineNorTheOthers(t *testing.T) {
	tp := newTestPage(t, newFakeSource(processor.StateOK), Config{SendQueue: 8, WriteTimeout: 300 * time.Millisecond})

	// The slow browser completes the handshake, then never reads; its
	// receive buffer is small so that the server's writes block soon.
	d := websocket.Dialer{HandshakeTimeout: waitLimit, NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4 << 10)
		}
		return c, err
	}}
	slow, resp, err := d.Dial(tp.wsURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	defer slow.Close()
	fast := tp.mustDial(t)
	eventually(t, "two browsers", func() bool { return tp.Clients() == 2 })

	// The fast browser reads everything, looking for the last event.
	got := make(chan error, 1)
	go func() {
		for {
			_ = fast.SetReadDeadline(time.Now().Add(waitLimit))
			_, b, err := fast.ReadMessage()
			if err != nil {
				got <- err
				return
			}
			if strings.Contains(string(b), `"final"`) {
				got <- nil
				return
			}
		}
	}()

	big := strings.Repeat("x", 16<<10)
	var clients []*client
	tp.hub.mu.Lock()
	for c := range tp.hub.clients {
		clients = append(clients, c)
	}
	tp.hub.mu.Unlock()
	var slowest time.Duration
	start := time.Now()
	const events = 2000
	for i := range events {
		t0 := time.Now()
		tp.ObserveEvent(map[string]any{"type": "load", "i": i, "pad": big}, "q")
		slowest = max(slowest, time.Since(t0))
		for _, c := range clients {
			if n := c.pending(); n > 8+2 {
				t.Fatalf("a browser has %d messages waiting, more than its queue of 8 plus a snapshot and a preview", n)
			}
		}
	}
	total := time.Since(start)
	if total > 5*time.Second || slowest > 500*time.Millisecond {
		t.Errorf("%d events took %v, the slowest call %v: the publisher waited on a browser", events, total, slowest)
	}
	t.Logf("%d events of 16 KiB observed in %v (slowest call %v)", events, total, slowest)

	// The slow browser is dropped once a write has waited WriteTimeout; the
	// fast one still gets what comes next.
	eventually(t, "the slow browser to be disconnected", func() bool { return tp.Clients() == 1 })
	tp.ObserveEvent(map[string]any{"type": "final"}, "q")
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("the fast browser: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("the fast browser did not get the last event")
	}
}

func TestBrowsersAreCleanedUpWhenTheyGoAndOnClose(t *testing.T) {
	tp := newTestPage(t, newFakeSource(processor.StateIdle), Config{MaxClients: 3})
	var conns []*websocket.Conn
	for range 3 {
		conns = append(conns, tp.mustDial(t))
	}
	eventually(t, "three browsers", func() bool { return tp.Clients() == 3 })
	_, resp, err := tp.dial(t, "")
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a fourth browser past MaxClients 3: %v, %v; want 503", err, resp)
	}
	// One closes properly, one just drops the connection.
	_ = conns[0].WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
		time.Now().Add(time.Second))
	conns[1].Close()
	eventually(t, "one browser left", func() bool { return tp.Clients() == 1 })

	// Close says goodbye to the last one and refuses new ones.
	last := conns[2]
	tp.Close()
	if n := tp.Clients(); n != 0 {
		t.Errorf("%d browsers after Close", n)
	}
	var closeErr *websocket.CloseError
	for {
		_ = last.SetReadDeadline(time.Now().Add(waitLimit))
		if _, _, err := last.ReadMessage(); err != nil {
			if !errors.As(err, &closeErr) || closeErr.Code != websocket.CloseGoingAway {
				t.Errorf("the browser saw %v, want a going-away close", err)
			}
			break
		}
	}
	_, resp, err = tp.dial(t, "")
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a browser after Close: %v, %v; want 503", err, resp)
	}
	tp.Close() // twice is fine
}

func TestAnUnansweringBrowserIsDroppedAfterThePingTimeout(t *testing.T) {
	tp := newTestPage(t, newFakeSource(processor.StateIdle), Config{PingInterval: 100 * time.Millisecond,
		WriteTimeout: 100 * time.Millisecond})
	conn := tp.mustDial(t)
	// gorilla answers pings only while the application reads: this
	// browser never reads, so it never pongs.
	conn.SetPingHandler(func(string) error { return nil })
	eventually(t, "the browser to connect", func() bool { return tp.Clients() == 1 })
	eventually(t, "the silent browser to be dropped", func() bool { return tp.Clients() == 0 })
}

func TestTheOriginCheck(t *testing.T) {
	for _, c := range []struct {
		origin, host string
		allowed      []string
		ok           bool
	}{
		{"", "proc:8000", nil, true}, // not a browser
		{"http://proc:8000", "proc:8000", nil, true},
		{"https://PROC:8000", "proc:8000", nil, true},
		{"http://proc:8001", "proc:8000", nil, false},
		{"http://evil.example", "proc:8000", nil, false},
		{"http://proc:8000.evil.example", "proc:8000", nil, false},
		{"null", "proc:8000", nil, false},
		{"::", "proc:8000", nil, false},
		{"https://dash.example", "proc:8000", []string{"https://dash.example/"}, true},
		{"http://dash.example", "proc:8000", []string{"https://dash.example"}, false},
		{"http://anything.example", "proc:8000", []string{"*"}, true},
	} {
		if got := originAllowed(c.origin, c.host, c.allowed); got != c.ok {
			t.Errorf("origin %q, host %q, allowed %v: %v, want %v", c.origin, c.host, c.allowed, got, c.ok)
		}
	}

	tp := newTestPage(t, newFakeSource(processor.StateIdle), Config{AllowedOrigins: []string{"https://dash.example"}})
	var wg sync.WaitGroup
	for _, c := range []struct {
		origin string
		want   int
	}{
		{"http://evil.example", http.StatusForbidden},
		{tp.hs.URL, http.StatusSwitchingProtocols},
		{"https://dash.example", http.StatusSwitchingProtocols},
	} {
		wg.Go(func() {
			_, resp, _ := tp.dial(t, c.origin)
			if resp == nil || resp.StatusCode != c.want {
				t.Errorf("origin %s: %v, want %d", c.origin, resp, c.want)
			}
		})
	}
	wg.Wait()
	if tp.Clients() > 2 {
		t.Errorf("%d browsers connected, want at most the 2 allowed", tp.Clients())
	}
}
