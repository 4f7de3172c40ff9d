package statuspage

import (
	"bytes"
	"image"
	"image/jpeg"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/processor"
)

func TestTheRateGateLetsOneCallerThroughPerInterval(t *testing.T) {
	g := rateGate{interval: 500 * time.Millisecond}
	t0 := time.Unix(1000, 0)
	for _, c := range []struct {
		at   time.Duration
		want bool
	}{
		{0, true}, {time.Millisecond, false}, {499 * time.Millisecond, false},
		{500 * time.Millisecond, true}, {700 * time.Millisecond, false}, {3 * time.Second, true},
		{3*time.Second + 100*time.Millisecond, false},
	} {
		if got := g.allow(t0.Add(c.at)); got != c.want {
			t.Errorf("at +%v: %v, want %v", c.at, got, c.want)
		}
	}

	// Many goroutines at the same instant: exactly one passes.
	var g2 rateGate
	g2.interval = time.Second
	var passed atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				if g2.allow(t0) {
					passed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := passed.Load(); n != 1 {
		t.Errorf("%d callers passed at one instant, want 1", n)
	}
}

func TestPreviewSize(t *testing.T) {
	for _, c := range []struct{ w, h, max, ww, wh int }{
		{1280, 720, 320, 320, 180},
		{720, 1280, 320, 180, 320},
		{320, 240, 320, 320, 240},
		{100, 50, 320, 100, 50},
		{4000, 2, 320, 320, 1},
	} {
		if w, h := previewSize(c.w, c.h, c.max); w != c.ww || h != c.wh {
			t.Errorf("%dx%d within %d: %dx%d, want %dx%d", c.w, c.h, c.max, w, h, c.ww, c.wh)
		}
	}
}

// quadrants returns a w×h frame whose four quadrants are red, green, blue
// and white, with a row stride wider than the pixels.
func quadrants(t *testing.T, w, h int) *frame.Video {
	t.Helper()
	stride := 3*w + 32
	v := &frame.Video{Pix: make([]byte, stride*h), Stride: stride, Width: w, Height: h}
	colors := [4][3]byte{{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}}
	for y := range h {
		for x := range w {
			q := 0
			if x >= w/2 {
				q++
			}
			if y >= h/2 {
				q += 2
			}
			copy(v.Pix[y*stride+3*x:], colors[q][:])
		}
	}
	return v
}

func TestDownscaleSamplesTheWholeFrame(t *testing.T) {
	v := quadrants(t, 640, 360)
	dst := image.NewRGBA(image.Rect(0, 0, 320, 180))
	downscale(dst, v)
	for _, c := range []struct {
		x, y    int
		r, g, b uint8
	}{
		{0, 0, 255, 0, 0}, {159, 89, 255, 0, 0}, {160, 0, 0, 255, 0}, {319, 89, 0, 255, 0},
		{0, 90, 0, 0, 255}, {319, 179, 255, 255, 255},
	} {
		got := dst.RGBAAt(c.x, c.y)
		if got.R != c.r || got.G != c.g || got.B != c.b || got.A != 255 {
			t.Errorf("pixel (%d,%d) is %v, want %d,%d,%d", c.x, c.y, got, c.r, c.g, c.b)
		}
	}
}

func TestPreviewsAreRateGatedAndOnlyMadeForBrowsers(t *testing.T) {
	tp := newTestPage(t, newFakeSource(processor.StateOK), Config{PreviewInterval: 300 * time.Millisecond,
		SnapshotInterval: time.Hour})
	v := quadrants(t, 1280, 720)

	// No browser: nothing is copied, nothing handed over.
	for range 100 {
		tp.ObserveOutputVideo(v, time.Millisecond)
	}
	if len(tp.previews) != 0 || tp.gate.next.Load() != 0 {
		t.Fatal("a preview was made with no browser connected")
	}

	conn := tp.mustDial(t)
	readUntil(t, conn, ofType(msgSnapshot))
	// 30 fps for 1.5 s: at most one preview per 300 ms gets through.
	got := make(chan []message, 1)
	go func() {
		var ms []message
		_ = conn.SetReadDeadline(time.Now().Add(2500 * time.Millisecond))
		for {
			kind, b, err := conn.ReadMessage()
			if err != nil {
				got <- ms
				return
			}
			ms = append(ms, message{raw: b, binary: kind == websocket.BinaryMessage})
		}
	}()
	tick := time.NewTicker(33 * time.Millisecond)
	for range 45 {
		<-tick.C
		tp.ObserveOutputVideo(v, time.Millisecond)
	}
	tick.Stop()
	var jpegs [][]byte
	for _, m := range <-got {
		if m.binary {
			jpegs = append(jpegs, m.raw)
		}
	}
	if n := len(jpegs); n < 3 || n > 6 {
		t.Errorf("%d previews in 1.5 s at one per 300 ms, want 3 to 6", n)
	}
	for i, b := range jpegs {
		img, err := jpeg.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("preview %d: %v", i, err)
		}
		if s := img.Bounds().Size(); s.X != 320 || s.Y != 180 {
			t.Errorf("preview %d is %v, want 320x180", i, s)
		}
		r, g, b, _ := img.At(40, 40).RGBA()
		if r>>8 < 200 || g>>8 > 60 || b>>8 > 60 {
			t.Errorf("preview %d: top-left pixel %d,%d,%d, want red", i, r>>8, g>>8, b>>8)
		}
	}
}

func TestPreviewsCanBeTurnedOff(t *testing.T) {
	tp := newTestPage(t, newFakeSource(processor.StateOK), Config{PreviewInterval: -1})
	conn := tp.mustDial(t)
	hello := readUntil(t, conn, ofType(msgHello))
	if hello.json["preview_interval_ms"] != float64(-1) {
		t.Errorf("hello says preview_interval_ms %v, want -1", hello.json["preview_interval_ms"])
	}
	eventually(t, "the browser", func() bool { return tp.Clients() == 1 })
	tp.ObserveOutputVideo(quadrants(t, 64, 64), time.Millisecond)
	if len(tp.previews) != 0 {
		t.Error("a preview was made with previews off")
	}
}
