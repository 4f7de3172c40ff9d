package effect

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/processor"
)

var (
	_ processor.VideoHandler  = (*BoxDrawer)(nil)
	_ processor.ParamUpdater  = (*BoxDrawer)(nil)
	_ processor.StreamStarter = (*BoxDrawer)(nil)
)

// slidingSquare is where fixtures/make-fixtures.sh's bars() puts its
// moving element at t seconds into a w×h clip: a 96×96 testsrc2 square
// overlaid at x = mod(t·160, W−96), y = (H−96)/2.
func slidingSquare(w, h int, t float64) image.Rectangle {
	x := int(math.Mod(t*160, float64(w-96)))
	y := (h - 96) / 2
	return image.Rect(x, y, x+96, y+96)
}

func area(r image.Rectangle) int { return r.Dx() * r.Dy() }

func centre(r image.Rectangle) image.Point {
	return image.Pt((r.Min.X+r.Max.X)/2, (r.Min.Y+r.Max.Y)/2)
}

func TestBoxDrawerFindsTheSlidingSquare(t *testing.T) {
	// The fixtures made with bars(): SMPTE bars with a square sliding
	// across at 160 px/s (the 720p testsrc2 fixture has no single moving
	// object, only a rotating line, dots and noise).
	for _, name := range []string{"h264-aac-854x480", "h264-opus-320x240"} {
		t.Run("on every frame of "+name+" after the first, the box covers the square", func(t *testing.T) {
			frames, vs := decodeFixture(t, name)
			var d BoxDrawer
			boxes := make([]image.Rectangle, len(frames))
			squares := make([]image.Rectangle, len(frames))
			first := frames[0].PTS
			for n, f := range frames {
				sec := f.TimeBase.Seconds(f.PTS - first)
				squares[n] = slidingSquare(vs.Width, vs.Height, sec)
				orig := f.Clone()
				out, err := d.HandleVideo(context.Background(), f)
				if err != nil {
					t.Fatalf("frame %d: %v", n, err)
				}
				boxes[n] = d.LastBox()
				if n == 0 {
					if out != nil || !boxes[n].Empty() {
						t.Errorf("frame 0 (nothing to compare with) got box %v", boxes[n])
					}
				} else {
					if out != f {
						t.Errorf("frame %d: HandleVideo returned %p, want the input %p with its box drawn", n, out, f)
					}
					checkOutline(t, n, orig, f, boxes[n], DefaultBoxColor)
				}
				orig.Release()
			}
			for n := 1; n < len(frames); n++ {
				box, sq := boxes[n], squares[n]
				if box.Empty() {
					t.Errorf("frame %d: no box, the square is at %v", n, sq)
					continue
				}
				if prev := squares[n-1]; sq.Min.X < prev.Min.X && !centre(sq).In(box) {
					// The square wrapped from the right edge to the left:
					// the change where it left is as large as where it
					// came, and the box may be on either.
					sq = prev
				}
				if !centre(sq).In(box) {
					t.Errorf("frame %d: box %v misses the square's centre %v", n, box, centre(sq))
				}
				if cov := float64(area(box.Intersect(sq))) / float64(area(sq)); cov < 0.9 {
					t.Errorf("frame %d: box %v covers %.0f %% of the square %v, want ≥ 90 %%", n, box, 100*cov, sq)
				}
				// Compact: the square, plus up to two cells of slack on
				// each side (cell rounding and the previous position).
				if box.Dx() > sq.Dx()+4*BoxCell || box.Dy() > sq.Dy()+4*BoxCell {
					t.Errorf("frame %d: box %v is %dx%d, far bigger than the %dx%d square", n, box, box.Dx(), box.Dy(), sq.Dx(), sq.Dy())
				}
			}
			// Ten frames apart, the box has moved with the square (unless
			// the square wrapped around in between).
			for n := 1; n+10 < len(frames); n += 5 {
				m := n + 10
				want := centre(squares[m]).X - centre(squares[n]).X
				if want <= 0 {
					continue // wrapped
				}
				got := centre(boxes[m]).X - centre(boxes[n]).X
				if got < want/2 || got > want+2*BoxCell {
					t.Errorf("frames %d→%d: box centre moved %d px, the square %d px", n, m, got, want)
				}
			}
		})
	}
}

// checkOutline checks that after drawing, the 2-pixel border inside box
// has colour c and every other pixel is as it was.
func checkOutline(t *testing.T, n int, before, after *frame.Video, box image.Rectangle, c frame.RGB) {
	t.Helper()
	inner := box.Inset(2)
	bad := 0
	for y := range after.Height {
		for x := range after.Width {
			p := image.Pt(x, y)
			got := after.RGBAt(x, y)
			want := before.RGBAt(x, y)
			if p.In(box) && !p.In(inner) {
				want = c
			}
			if got != want {
				if bad++; bad <= 3 {
					t.Errorf("frame %d, box %v: pixel %v is %v, want %v", n, box, p, got, want)
				}
			}
		}
	}
}

func TestBoxDrawerDrawsNothingWithoutMotion(t *testing.T) {
	frames, _ := decodeFixture(t, "h264-aac-854x480")
	still := frames[40]
	tests := []struct {
		name  string
		frame func(t *testing.T) *frame.Video
	}{
		{"a uniform grey frame gets no box and stays unchanged", func(t *testing.T) *frame.Video {
			return uniform(t, 1280, 720, frame.RGB{R: 128, G: 128, B: 128})
		}},
		{"a uniform white frame gets no box and stays unchanged", func(t *testing.T) *frame.Video {
			return uniform(t, 320, 240, frame.RGB{R: 255, G: 255, B: 255})
		}},
		{"a still picture (one decoded frame, shown again) gets no box", func(t *testing.T) *frame.Video {
			f := still.Clone()
			t.Cleanup(f.Release)
			return f
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d BoxDrawer
			f := tt.frame(t)
			want := bytes.Clone(f.Pix)
			for i := range 3 {
				out, err := d.HandleVideo(context.Background(), f)
				if out != nil || err != nil {
					t.Errorf("showing %d: HandleVideo = %v, %v; want nil, nil", i+1, out, err)
				}
				if box := d.LastBox(); !box.Empty() {
					t.Errorf("showing %d: box %v, want none", i+1, box)
				}
			}
			if !bytes.Equal(f.Pix, want) {
				t.Error("the frame was changed")
			}
		})
	}
}

func TestBoxDrawerSyntheticObjects(t *testing.T) {
	bg := frame.RGB{R: 20, G: 20, B: 30}
	tests := []struct {
		name     string
		from, to image.Rectangle
		size     image.Point
	}{
		{"a textured square moving right on a dark frame is boxed",
			image.Rect(100, 100, 164, 164), image.Rect(110, 100, 174, 164), image.Pt(640, 360)},
		{"a textured square moving down and left is boxed",
			image.Rect(400, 50, 440, 90), image.Rect(390, 60, 430, 100), image.Pt(640, 360)},
		{"a textured square partly off the frame's corner is boxed inside the frame",
			image.Rect(290, 210, 322, 242), image.Rect(296, 214, 328, 246), image.Pt(325, 243)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d BoxDrawer
			d.SetColor(frame.RGB{R: 255, G: 0, B: 255})
			a := uniform(t, tt.size.X, tt.size.Y, bg)
			texture(a, tt.from)
			b := uniform(t, tt.size.X, tt.size.Y, bg)
			texture(b, tt.to)
			if _, err := d.HandleVideo(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			before := b.Clone()
			defer before.Release()
			if _, err := d.HandleVideo(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			box := d.LastBox()
			both := tt.from.Union(tt.to).Intersect(b.Bounds())
			if !both.In(box) {
				t.Errorf("box %v does not contain the object's two positions %v", box, both)
			}
			if !box.In(both.Inset(-BoxCell)) {
				t.Errorf("box %v reaches more than a cell beyond the object's positions %v", box, both)
			}
			if !box.In(b.Bounds()) {
				t.Errorf("box %v leaves the frame %v", box, b.Bounds())
			}
			checkOutline(t, 1, before, b, box, d.Color())
		})
	}
}

// texture paints r with 6×6 blocks of bright pseudo-random colours, fixed
// relative to r's corner, so the pattern moves with r. (A flat object is
// seen only by its edges: see BoxDrawer's documentation.)
func texture(f *frame.Video, r image.Rectangle) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if !image.Pt(x, y).In(f.Bounds()) {
				continue
			}
			h := uint32((x-r.Min.X)/6)*2654435761 ^ uint32((y-r.Min.Y)/6)*2246822519
			h ^= h >> 13
			h *= 3266489917
			f.SetRGB(x, y, frame.RGB{R: uint8(h>>24) | 0x40, G: uint8(h >> 16), B: uint8(h >> 8)})
		}
	}
}

func TestBoxDrawerForgetsAcrossSizesAndStreams(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		between func(d *BoxDrawer) *frame.Video
	}{
		{"a new frame size starts afresh", func(*BoxDrawer) *frame.Video {
			return uniform(t, 160, 120, frame.RGB{R: 200, G: 200, B: 200})
		}},
		{"a new stream starts afresh", func(d *BoxDrawer) *frame.Video {
			if err := d.OnStreamStart(ctx, processor.Params{}); err != nil {
				t.Fatal(err)
			}
			return uniform(t, 320, 240, frame.RGB{R: 200, G: 200, B: 200})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d BoxDrawer
			if _, err := d.HandleVideo(ctx, uniform(t, 320, 240, frame.RGB{})); err != nil {
				t.Fatal(err)
			}
			// A white frame after a black one would be all motion; after
			// a reset there is nothing to compare it with.
			f := tt.between(&d)
			out, err := d.HandleVideo(ctx, f)
			if out != nil || err != nil || !d.LastBox().Empty() {
				t.Errorf("HandleVideo = %v, %v with box %v; want nil, nil and no box", out, err, d.LastBox())
			}
		})
	}
}

func TestBoxDrawerIgnoresAWholeFrameChange(t *testing.T) {
	var d BoxDrawer
	ctx := context.Background()
	d.HandleVideo(ctx, uniform(t, 320, 240, frame.RGB{}))
	out, err := d.HandleVideo(ctx, uniform(t, 320, 240, frame.RGB{R: 255, G: 255, B: 255}))
	if out != nil || err != nil || !d.LastBox().Empty() {
		t.Errorf("a cut from black to white: HandleVideo = %v, %v with box %v; want nil, nil and no box", out, err, d.LastBox())
	}
}

func TestBoxDrawerParams(t *testing.T) {
	red := frame.RGB{R: 255}
	tests := []struct {
		name    string
		params  processor.Params
		want    frame.RGB
		wantErr string
	}{
		{"a #rrggbb colour is applied", processor.Params{"color": "#0080ff"}, frame.RGB{G: 0x80, B: 0xff}, ""},
		{"upper-case hex without # is applied", processor.Params{"color": "FFFF00"}, frame.RGB{R: 255, G: 255}, ""},
		{"params without color change nothing", processor.Params{"intensity": 0.2}, red, ""},
		{"a colour name is rejected", processor.Params{"color": "green"}, red, "#rrggbb"},
		{"a short hex colour is rejected", processor.Params{"color": "#0f0"}, red, "#rrggbb"},
		{"a non-hex colour is rejected", processor.Params{"color": "#gg0000"}, red, "#rrggbb"},
		{"a number is rejected", processor.Params{"color": json.Number("255")}, red, "must be a string"},
		{"null is rejected", processor.Params{"color": nil}, red, "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d BoxDrawer
			if got := d.Color(); got != DefaultBoxColor {
				t.Fatalf("the zero value's colour is %v, want %v", got, DefaultBoxColor)
			}
			d.SetColor(red)
			err := d.UpdateParams(context.Background(), tt.params)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("UpdateParams(%v) = %v", tt.params, err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("UpdateParams(%v) succeeded, want an error", tt.params)
			case tt.wantErr != "" && (!strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "color")):
				t.Errorf("error %q should name color and say %q", err, tt.wantErr)
			}
			if got := d.Color(); got != tt.want {
				t.Errorf("colour %v after the update, want %v", got, tt.want)
			}
		})
	}
	t.Run("a start request without color restores the default", func(t *testing.T) {
		var d BoxDrawer
		d.SetColor(red)
		if err := d.OnStreamStart(context.Background(), processor.Params{}); err != nil {
			t.Fatal(err)
		}
		if got := d.Color(); got != DefaultBoxColor {
			t.Errorf("colour %v, want the default %v", got, DefaultBoxColor)
		}
	})
}

func TestBoxDrawerAllocatesNothingPerFrame(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	frames, _ := decodeFixture(t, "h264-aac-854x480")
	var d BoxDrawer
	ctx := context.Background()
	i := 0
	allocs := testing.AllocsPerRun(50, func() {
		i++
		if _, err := d.HandleVideo(ctx, frames[i%len(frames)]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("HandleVideo allocates %.1f times per frame, want 0", allocs)
	}
	if d.LastBox().Empty() {
		t.Error("no box was found, so the drawing path was not measured")
	}
}

func TestBoxDrawerConcurrentUseIsRaceFree(t *testing.T) {
	frames, _ := decodeFixture(t, "h264-opus-320x240")
	var d BoxDrawer
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		colours := []string{"#ff0000", "#00ff00", "#0000ff"}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := d.UpdateParams(ctx, processor.Params{"color": colours[i%3]}); err != nil {
				t.Error(err)
				return
			}
			_ = d.LastBox()
		}
	}()
	for _, f := range frames[:60] {
		if _, err := d.HandleVideo(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

func uniform(t testing.TB, w, h int, c frame.RGB) *frame.Video {
	t.Helper()
	f, err := frame.NewVideo(w, h)
	if err != nil {
		t.Fatal(err)
	}
	fillRect(f, f.Bounds(), c)
	t.Cleanup(f.Release)
	return f
}

func fillRect(f *frame.Video, r image.Rectangle, c frame.RGB) {
	r = r.Intersect(f.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			f.SetRGB(x, y, c)
		}
	}
}

func BenchmarkBoxDrawer720p(b *testing.B) {
	// The bars fixture scaled to 1280×720, so every frame has the moving
	// square to find and box.
	frames, _ := decodeFixtureAt(b, "h264-aac-854x480", 1280, 720)
	var d BoxDrawer
	ctx := context.Background()
	b.SetBytes(int64(3 * 1280 * 720))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := d.HandleVideo(ctx, frames[i%len(frames)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/frame")
	if d.LastBox().Empty() {
		b.Fatal("no box found")
	}
}
