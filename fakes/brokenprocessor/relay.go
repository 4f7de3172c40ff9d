package brokenprocessor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// relay is a trickle channel stand-in on loopback for a side channel whose
// publisher the processor builds with its own HTTP client (events, data),
// so that no RoundTripper of ours sees it: the processor is given the
// relay's URL and the relay passes every request on to the real channel,
// except the segments its filter drops. Later segments move down to keep
// the channel's seqs gap-free.
type relay struct {
	ln     net.Listener
	srv    *http.Server
	base   string
	client *http.Client

	mu     sync.Mutex
	routes map[string]*route
	n      int
}

// route is one relayed channel.
type route struct {
	upstream string // the real channel URL
	drop     func(body []byte) bool

	mu      sync.Mutex
	next    int64           // lowest seq not yet decided
	shift   int64           // segments dropped so far
	mapped  map[int64]int64 // seq → upstream seq, -1 when dropped
	changed chan struct{}   // closed when next moves
}

// orderWait bounds how long a segment waits for the one before it to be
// decided (that one may have been abandoned).
const orderWait = 5 * time.Second

func newRelay() (*relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rl := &relay{ln: ln, base: "http://" + ln.Addr().String(), routes: map[string]*route{},
		client: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}}
	rl.srv = &http.Server{Handler: rl, ReadHeaderTimeout: 10 * time.Second}
	go rl.srv.Serve(ln)
	return rl, nil
}

// route returns the relay URL that stands for upstream, dropping the
// segments for which drop returns true.
func (rl *relay) route(upstream string, drop func([]byte) bool) string {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	rl.n++
	id := "r" + strconv.Itoa(rl.n)
	rl.routes[id] = &route{upstream: strings.TrimSuffix(upstream, "/"), drop: drop,
		mapped: map[int64]int64{}, changed: make(chan struct{})}
	return rl.base + "/" + id
}

func (rl *relay) close() {
	rl.srv.Close()
	rl.client.CloseIdleConnections()
}

func (rl *relay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	rl.mu.Lock()
	rt := rl.routes[id]
	rl.mu.Unlock()
	if rt == nil {
		http.Error(w, "no such relay route", http.StatusNotFound)
		return
	}
	seq, err := strconv.ParseInt(rest, 10, 64)
	switch {
	case err != nil || seq < 0:
		rl.forward(w, r, rt.upstream+suffix(rest), bodyOf(r))
	case r.Method == http.MethodPost:
		rl.post(w, r, rt, seq)
	default: // DELETE of one seq, after a partial failure
		up, ok := rt.lookup(seq)
		if !ok {
			w.WriteHeader(http.StatusOK)
			return
		}
		rl.forward(w, r, rt.upstream+"/"+strconv.FormatInt(up, 10), bodyOf(r))
	}
}

// bodyOf is r's body to send on: none when it has none.
func bodyOf(r *http.Request) io.Reader {
	if r.ContentLength == 0 {
		return http.NoBody
	}
	return r.Body
}

func suffix(rest string) string {
	if rest == "" {
		return ""
	}
	return "/" + rest
}

// post relays segment seq once every earlier one has been decided: it
// reads the whole body, drops it (answering 200) or sends it on at its new
// seq.
func (rl *relay) post(w http.ResponseWriter, r *http.Request, rt *route, seq int64) {
	if !rt.waitTurn(r.Context(), seq) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	up, drop := rt.decide(seq, body)
	if drop {
		w.WriteHeader(http.StatusOK)
		return
	}
	rl.forward(w, r, rt.upstream+"/"+strconv.FormatInt(up, 10), bytes.NewReader(body))
}

// waitTurn waits until every seq before seq has been decided (or orderWait
// has passed); false when the request has gone.
func (rt *route) waitTurn(ctx context.Context, seq int64) bool {
	deadline := time.NewTimer(orderWait)
	defer deadline.Stop()
	for {
		rt.mu.Lock()
		if seq <= rt.next {
			rt.mu.Unlock()
			return true
		}
		ch := rt.changed
		rt.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		case <-deadline.C:
			rt.mu.Lock()
			rt.advance(seq)
			rt.mu.Unlock()
			return true
		}
	}
}

// decide settles seq (once: a retry gets the first answer again) and
// returns its upstream seq, or drop.
func (rt *route) decide(seq int64, body []byte) (up int64, drop bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if m, ok := rt.mapped[seq]; ok {
		return m, m < 0
	}
	if rt.drop(body) {
		rt.mapped[seq] = -1
		rt.shift++
	} else {
		rt.mapped[seq] = seq - rt.shift
	}
	rt.advance(seq + 1)
	return rt.mapped[seq], rt.mapped[seq] < 0
}

// advance moves next up to seq. Caller holds rt.mu.
func (rt *route) advance(seq int64) {
	if seq > rt.next {
		rt.next = seq
		close(rt.changed)
		rt.changed = make(chan struct{})
	}
}

// lookup returns seq's upstream seq; false when it was dropped.
func (rt *route) lookup(seq int64) (int64, bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	m, ok := rt.mapped[seq]
	if !ok {
		return seq - rt.shift, true
	}
	return m, m >= 0
}

// forward sends r on to url with body and relays the answer as it comes.
func (rl *relay) forward(w http.ResponseWriter, r *http.Request, url string, body io.Reader) {
	out, err := http.NewRequestWithContext(r.Context(), r.Method, url, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for k, vs := range r.Header {
		if k == "Content-Type" || strings.HasPrefix(k, "Lp-Trickle-") {
			out.Header[k] = vs
		}
	}
	resp, err := rl.client.Do(out)
	if err != nil {
		http.Error(w, fmt.Sprintf("relay: %v", err), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

// isHeartbeat reports whether an events segment holds a heartbeat.
func isHeartbeat(body []byte) bool {
	var e struct {
		Event struct {
			Type string `json:"type"`
		} `json:"event"`
	}
	return json.Unmarshal(body, &e) == nil && e.Event.Type == "heartbeat"
}
