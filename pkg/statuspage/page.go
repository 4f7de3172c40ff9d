package statuspage

import (
	"encoding/json"
	"image"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/processor"
)

// Source is what the page reports on: a *processor.Processor, or a fake.
// Its methods are called from the page's goroutines.
type Source interface {
	// Status is the body of /stream/status.
	Status() processor.Status
}

// ParamsSource is an optional Source method (a *processor.Processor has
// it): the current stream's parameters, shown in the form. Without it the
// form starts empty.
type ParamsSource interface {
	Params() processor.Params
}

// eventQueue bounds the events waiting between the pipeline's observer
// calls and the page's goroutine; past it an event is dropped (the
// pipeline never waits).
const eventQueue = 256

// Page is the status page: an http.Handler for "/", "/ws" and "/ui/...",
// and a processor.Observer (EventObserver, OutputObserver) that feeds it.
// Make one with New and end it with Close. Its methods are safe for
// concurrent use.
type Page struct {
	src      Source
	cfg      Config
	log      *slog.Logger
	upgrader websocket.Upgrader
	hub      *hub

	// The observer side: handed off by the pipeline, taken by run.
	handler    durations // video handler calls
	processing durations // decoder → encoder, per output frame
	gate       rateGate  // previews
	buffers    *previewBuffers
	previews   chan *image.RGBA // capacity 1: the newest frame to encode
	events     chan []byte      // encoded event messages

	quit      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup // run
}

var (
	_ http.Handler             = (*Page)(nil)
	_ processor.Observer       = (*Page)(nil)
	_ processor.EventObserver  = (*Page)(nil)
	_ processor.OutputObserver = (*Page)(nil)
)

// New makes a page reporting on src and starts its goroutine; call Close
// to end it and disconnect every browser.
func New(src Source, cfg Config) *Page {
	cfg = cfg.withDefaults()
	p := &Page{
		src:      src,
		cfg:      cfg,
		log:      cfg.Logger,
		hub:      newHub(cfg.MaxClients, cfg.RecentEvents),
		buffers:  newPreviewBuffers(),
		previews: make(chan *image.RGBA, 1),
		events:   make(chan []byte, eventQueue),
		quit:     make(chan struct{}),
	}
	p.gate.interval = cfg.PreviewInterval
	p.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   1024,
		WriteBufferSize:  16 << 10,
		CheckOrigin:      p.checkOrigin,
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			http.Error(w, reason.Error(), status)
		},
	}
	p.wg.Go(p.run)
	return p
}

// Close disconnects every browser, refuses new ones and stops the page's
// goroutines, returning once they have ended (within about
// Config.WriteTimeout: a browser may be in the middle of a write). Observer
// calls after Close are harmless. Calling Close again does nothing.
func (p *Page) Close() {
	p.closeOnce.Do(func() {
		close(p.quit)
		p.hub.close()
	})
	p.hub.wait()
	p.wg.Wait()
}

// Clients is how many browsers are connected.
func (p *Page) Clients() int { return p.hub.count() }

// ServeHTTP serves the page at "/", its assets at "/ui/{name}" and the
// websocket at "/ws"; GET and HEAD only.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405: Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	switch path := r.URL.Path; {
	case path == "/":
		serveAsset(w, r, "index.html")
	case path == "/ws":
		p.serveWebsocket(w, r)
	case strings.HasPrefix(path, "/ui/"):
		serveAsset(w, r, strings.TrimPrefix(path, "/ui/"))
	default:
		http.NotFound(w, r)
	}
}

// serveWebsocket upgrades the request and runs the client until it goes.
// The request's goroutine reads (pongs, closes; anything the browser sends
// is ignored), a second goroutine writes.
func (p *Page) serveWebsocket(w http.ResponseWriter, r *http.Request) {
	if !p.hub.accepting() {
		http.Error(w, "the status page takes no more browsers now", http.StatusServiceUnavailable)
		return
	}
	conn, err := p.upgrader.Upgrade(w, r, nil)
	if err != nil {
		p.log.Debug("statuspage: websocket upgrade refused", "origin", r.Header.Get("Origin"), "err", err)
		return // the upgrader has answered
	}
	c := newClient(conn, p.cfg.SendQueue)
	first := p.snapshot(false) // a snapshot at once, not at the next tick
	if err := p.hub.add(c, p.hello); err != nil {
		msg := websocket.FormatCloseMessage(websocket.CloseTryAgainLater, err.Error())
		_ = conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		conn.Close()
		return
	}
	defer p.hub.done() // add counted this goroutine in
	if first != nil {
		c.setSnapshot(first)
	}
	p.log.Debug("statuspage: browser connected", "remote", r.RemoteAddr, "clients", p.hub.count())
	var writer sync.WaitGroup
	writer.Go(func() { c.writeLoop(p.cfg.WriteTimeout, p.cfg.PingInterval) })

	wait := p.cfg.PingInterval + p.cfg.WriteTimeout
	conn.SetReadLimit(4 << 10)
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(wait)) })
	for {
		if _, _, err := conn.NextReader(); err != nil {
			break
		}
		_ = conn.SetReadDeadline(time.Now().Add(wait))
	}
	p.hub.remove(c)
	c.close()
	writer.Wait()
	p.log.Debug("statuspage: browser gone", "remote", r.RemoteAddr, "clients", p.hub.count())
}

// checkOrigin accepts a websocket from the page's own host, from an
// allowed origin, or from a client that sends no Origin (not a browser).
func (p *Page) checkOrigin(r *http.Request) bool {
	return originAllowed(r.Header.Get("Origin"), r.Host, p.cfg.AllowedOrigins)
}

// hello is the first message for a browser, with the recent events.
func (p *Page) hello(recent [][]byte) []byte {
	h := hello{
		Type:               msgHello,
		Title:              p.cfg.Title,
		ParamsURL:          strings.TrimPrefix(p.cfg.RoutePrefix+"/stream/params", "/"),
		SnapshotIntervalMS: p.cfg.SnapshotInterval.Milliseconds(),
		PreviewIntervalMS:  p.cfg.PreviewInterval.Milliseconds(),
		Events:             make([]json.RawMessage, len(recent)),
	}
	if p.cfg.PreviewInterval < 0 {
		h.PreviewIntervalMS = -1
	}
	for i, m := range recent {
		h.Events[i] = m
	}
	b, err := marshal(h)
	if err != nil { // cannot happen: every field encodes
		p.log.Error("statuspage: encoding hello", "err", err)
	}
	return b
}

// run is the page's goroutine: snapshots on a ticker, events as they come,
// previews encoded as the pipeline hands them over.
func (p *Page) run() {
	t := time.NewTicker(p.cfg.SnapshotInterval)
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			return
		case <-t.C:
			if p.hub.count() == 0 {
				p.processing.take() // nobody to show it to: start the next window
				p.handler.take()
				continue
			}
			if msg := p.snapshot(true); msg != nil {
				p.hub.snapshot(msg)
			}
		case msg := <-p.events:
			p.hub.event(msg)
		case img := <-p.previews:
			jpg, err := encodeJPEG(img, p.cfg.PreviewQuality)
			p.buffers.put(img)
			if err != nil {
				p.log.Warn("statuspage: encoding a preview", "err", err)
				continue
			}
			p.hub.preview(jpg)
		}
	}
}

// snapshot encodes what the page shows now. take says whether the latency
// window is taken (and restarted), as the ticker does; a snapshot for a
// new browser leaves it alone. Nil when encoding fails.
func (p *Page) snapshot(take bool) []byte {
	s := snapshot{Type: msgSnapshot, Time: time.Now().UnixMilli(), Status: p.src.Status()}
	if ps, ok := p.src.(ParamsSource); ok {
		s.Params = ps.Params()
	}
	if take {
		l := &s.Latency
		l.Frames, l.ProcessingAvgMS, l.ProcessingMaxMS = p.processing.take()
		_, l.HandlerAvgMS, l.HandlerMaxMS = p.handler.take()
	}
	b, err := marshal(s)
	if err != nil {
		p.log.Warn("statuspage: encoding a snapshot", "err", err)
		return nil
	}
	return b
}

// ObserveHandler implements processor.Observer: video handler timings
// feed the latency chart.
func (p *Page) ObserveHandler(kind string, d time.Duration) {
	if kind == "video" {
		p.handler.add(d)
	}
}

// ObserveEvent implements processor.EventObserver: the event is encoded at
// once (the map is the caller's) and handed to the page's goroutine; when
// that queue is full the event is dropped rather than waited for.
func (p *Page) ObserveEvent(ev map[string]any, queueType string) {
	msg, err := marshal(event{Type: msgEvent, Time: time.Now().UnixMilli(), Queue: queueType, Event: ev})
	if err != nil {
		p.log.Debug("statuspage: event cannot be encoded", "err", err)
		return
	}
	select {
	case p.events <- msg:
	default:
	}
}

// ObserveOutputVideo implements processor.OutputObserver. It records the
// frame's latency; then, only when a browser is connected and a preview is
// due, it downscales the frame into a buffer of the page's own and hands
// it over, dropping it if the previous one is still being encoded.
func (p *Page) ObserveOutputVideo(v *frame.Video, latency time.Duration) {
	p.processing.add(latency)
	if p.cfg.PreviewInterval < 0 || p.hub.count() == 0 || !p.gate.allow(time.Now()) {
		return
	}
	if v.Validate() != nil {
		return
	}
	w, h := previewSize(v.Width, v.Height, p.cfg.PreviewSize)
	img := p.buffers.get(w, h)
	downscale(img, v)
	select {
	case p.previews <- img:
	default:
		p.buffers.put(img)
	}
}
