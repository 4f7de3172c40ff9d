package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/gpu"
)

// rawLedger wraps a Decoder's raw frames to see what it made and count
// each one's Release.
type rawLedger struct {
	mu       sync.Mutex
	raws     []frame.Raw // as the decoder made them
	released []int       // Release calls, per raw frame
}

func watchRaw(d *Decoder) *rawLedger {
	l := &rawLedger{}
	d.newRaw = func(w, h int, r frame.Raw) (*frame.Video, error) {
		l.mu.Lock()
		i := len(l.raws)
		l.raws = append(l.raws, r)
		l.released = append(l.released, 0)
		l.mu.Unlock()
		inner := r.Release
		r.Release = func() {
			l.mu.Lock()
			l.released[i]++
			l.mu.Unlock()
			inner()
		}
		return frame.NewRawVideo(w, h, r)
	}
	return l
}

func (l *rawLedger) made() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.raws)
}

// checkReleasedOnce fails unless every raw frame was released exactly once.
func (l *rawLedger) checkReleasedOnce(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, n := range l.released {
		if n != 1 {
			t.Fatalf("raw frame %d of %d released %d times, want once", i, len(l.released), n)
		}
	}
}

// picture is a decoded frame's RGB pixels (after Host for a raw one).
type picture struct {
	pts  int64
	w, h int
	pix  []byte // packed RGB24
}

func segmentBytes(t *testing.T, fixture string, d time.Duration, n int) [][]byte {
	t.Helper()
	segs := fixtureSegments(t, fixture, d)
	var out [][]byte
	for _, s := range segs[:min(n, len(segs))] {
		b, err := s.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// decodePictures decodes inputs with d. Raw frames are held until every
// input has been decoded (so a raw frame must outlive its segment), then
// converted with Host; each must be raw before Host and not after.
func decodePictures(t *testing.T, d *Decoder, inputs [][]byte) []picture {
	t.Helper()
	var held []*frame.Video
	var out []picture
	for i, b := range inputs {
		_, err := d.DecodeSegment(context.Background(), bytes.NewReader(b), Handlers{Video: func(v *frame.Video) error {
			held = append(held, v)
			return nil
		}})
		if err != nil {
			t.Fatalf("input %d: %v", i, err)
		}
	}
	for _, v := range held {
		if v.IsRaw() != d.cfg.Raw {
			t.Fatalf("frame at %d: IsRaw %v with Raw %v", v.PTS, v.IsRaw(), d.cfg.Raw)
		}
		if err := v.Host(context.Background()); err != nil {
			t.Fatal(err)
		}
		if v.IsRaw() {
			t.Fatal("a raw frame is still raw after Host")
		}
		p := picture{pts: v.PTS, w: v.Width, h: v.Height, pix: make([]byte, 3*v.Width*v.Height)}
		for y := range v.Height {
			copy(p.pix[y*3*v.Width:(y+1)*3*v.Width], v.Pix[y*v.Stride:])
		}
		out = append(out, p)
		v.Release()
	}
	return out
}

// comparePix compares two w-pixel-wide RGB24 pictures on their first cols
// columns: the PSNR of b against a in dB over RGB, the PSNR of their BT.601
// luma, and the largest difference of one sample.
func comparePix(a, b []byte, w, cols int) (rgb, luma float64, maxDiff int) {
	var se, sel float64
	n := 0
	for i := 0; i < len(a); i += 3 {
		if (i/3)%w >= cols {
			continue
		}
		n++
		var l float64
		for c, k := range [3]float64{0.299, 0.587, 0.114} {
			d := int(a[i+c]) - int(b[i+c])
			se += float64(d * d)
			maxDiff = max(maxDiff, d, -d)
			l += k * float64(d)
		}
		sel += l * l
	}
	db := func(se float64, samples int) float64 {
		if se == 0 {
			return math.Inf(1)
		}
		return 10 * math.Log10(255*255*float64(samples)/se)
	}
	return db(se, 3*n), db(sel, n), maxDiff
}

// Raw frames, converted on the CPU by the kernels' arithmetic, show what
// the converted path (swscale) shows: the same frames at the same times,
// the same crop of the picture, within bilinear-versus-bicubic resampling;
// and without scaling, swscale's very pixels.
//
// The scaled comparison is on luma. swscale's RGB output (no
// SWS_FULL_CHR_H_INT) shares each chroma sample between two output
// columns, the kernels do not, and on testsrc2's saturated edges that
// alone costs down to 25 dB of RGB PSNR (the ffmpeg CLI's bicubic scale of
// h264-aac-320x240 to 160×120 with and without full_chroma_int); luma is
// nearly blind to chroma, so it shows the crop and the resampling. RGB is
// held to a floor that catches a wrong colour conversion.
//
// Unscaled, the comparison covers every column: swscale's x86 yuv2rgb
// once left the last width%8 of them black in the converted frames
// (scaler.frameToPacked works around it), which the 854-wide fixture
// kept at its size shows.
func TestRawFramesShowWhatTheConvertedOnesShow(t *testing.T) {
	for _, fx := range []string{"h264-aac-320x240", "h264-aac-854x480", "h264-aac-1280x720"} {
		f, err := loadManifest(t).Fixture(fx)
		if err != nil {
			t.Fatal(err)
		}
		vs, _ := f.Video()
		pw, ph := vs.Width, vs.Height
		inputs := segmentBytes(t, fx, time.Second, 2)
		targets := []struct {
			name     string
			w, h     int
			keepSize bool
		}{
			{"a 512×512 target", 512, 512, false},
			{"the picture's own size", pw, ph, false},
			{"the kept size", 64, 64, true},
			{"half the size", pw / 2, ph / 2, false},
			{"a portrait target", 144, 256, false},
		}
		for _, tg := range targets {
			t.Run(fmt.Sprintf("%s on %s matches swscale", fx, tg.name), func(t *testing.T) {
				cfg := DecoderConfig{Width: tg.w, Height: tg.h, KeepSize: tg.keepSize, MaxFramerate: frame.Rational{Num: 8, Den: 1}}
				conv, err := NewDecoder(cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer conv.Close()
				cfg.Raw = true
				raw, err := NewDecoder(cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer raw.Close()
				ledger := watchRaw(raw)
				want := decodePictures(t, conv, inputs)
				got := decodePictures(t, raw, inputs)
				if len(got) != len(want) || len(got) == 0 {
					t.Fatalf("%d raw frames, %d converted", len(got), len(want))
				}
				if ledger.made() != len(got) {
					t.Fatalf("%d frames handed out, %d made raw", len(got), ledger.made())
				}
				ledger.checkReleasedOnce(t)
				exact := tg.keepSize || tg.w == pw && tg.h == ph
				for i := range got {
					g, w := got[i], want[i]
					if g.pts != w.pts || g.w != w.w || g.h != w.h {
						t.Fatalf("frame %d: raw %d×%d at %d, converted %d×%d at %d", i, g.w, g.h, g.pts, w.w, w.h, w.pts)
					}
					rgb, luma, maxDiff := comparePix(w.pix, g.pix, g.w, g.w)
					if luma < 30 || rgb < 22 {
						t.Fatalf("frame %d (pts %d): PSNR against swscale %.1f dB luma (want ≥ 30), %.1f dB RGB (want ≥ 22)",
							i, g.pts, luma, rgb)
					}
					if exact && maxDiff > 1 {
						t.Fatalf("frame %d (pts %d): unscaled conversion differs from swscale by %d, want ≤ 1", i, g.pts, maxDiff)
					}
				}
				for _, r := range ledger.raws {
					if r.Format != gpu.YUV420P || r.Width != pw || r.Height != ph || r.Host == nil {
						t.Fatalf("raw picture %v %d×%d (host %v), want the %d×%d yuv420p picture in host memory",
							r.Format, r.Width, r.Height, r.Host != nil, pw, ph)
					}
				}
			})
		}
	}
}

// Every raw frame's picture is given back exactly once, whatever happens
// to the frame: converted, released as it is, or left with a handler that
// failed.
func TestRawPicturesAreGivenBackOnce(t *testing.T) {
	inputs := segmentBytes(t, "h264-aac-320x240", time.Second, 2)
	boom := errors.New("handler failed")
	cases := []struct {
		name    string
		handle  func(n int, v *frame.Video) error
		wantErr error
	}{
		{"frames released without conversion", func(_ int, v *frame.Video) error { v.Release(); return nil }, nil},
		{"frames converted, then released", func(_ int, v *frame.Video) error {
			if err := v.Host(context.Background()); err != nil {
				return err
			}
			v.Release()
			return nil
		}, nil},
		{"a handler that fails on the fifth frame", func(n int, v *frame.Video) error {
			v.Release()
			if n == 4 {
				return boom
			}
			return nil
		}, boom},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := NewDecoder(DecoderConfig{Raw: true, MaxFramerate: NoFramerateCap})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			ledger := watchRaw(d)
			frames := 0
			for _, b := range inputs {
				_, err := d.DecodeSegment(context.Background(), bytes.NewReader(b), Handlers{Video: func(v *frame.Video) error {
					if !v.IsRaw() {
						t.Error("a yuv420p picture did not come raw")
					}
					frames++
					return c.handle(frames-1, v)
				}})
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("DecodeSegment: %v, want %v", err, c.wantErr)
				}
				if err != nil {
					break
				}
			}
			if ledger.made() != frames || frames == 0 {
				t.Fatalf("%d raw frames made, %d handed out", ledger.made(), frames)
			}
			ledger.checkReleasedOnce(t)
		})
	}
}

// Pictures the kernels do not convert (full range, 10-bit, 4:2:2) go the
// converted path even with Raw; a plain yuv420p stream from the same
// encoder comes raw.
func TestRawLeavesOtherPicturesConverted(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("no ffmpeg on PATH to make the streams")
	}
	cases := []struct {
		name string
		args []string
		raw  bool
	}{
		{"yuv420p comes raw", []string{"-pix_fmt", "yuv420p"}, true},
		{"yuvj420p is converted", []string{"-pix_fmt", "yuvj420p"}, false},
		{"full-range yuv420p is converted", []string{"-pix_fmt", "yuv420p", "-color_range", "pc"}, false},
		{"10-bit 4:2:0 is converted", []string{"-pix_fmt", "yuv420p10le"}, false},
		{"4:2:2 is converted", []string{"-pix_fmt", "yuv422p"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=30", "-frames:v", "6"},
				c.args...)
			args = append(args, "-c:v", "libx264", "-f", "mpegts", "pipe:1")
			ts, err := exec.Command(ffmpeg, args...).Output()
			if err != nil {
				t.Fatalf("ffmpeg: %v", err)
			}
			d, err := NewDecoder(DecoderConfig{Raw: true, Width: 48, Height: 48, MaxFramerate: NoFramerateCap})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			ledger := watchRaw(d)
			frames := 0
			_, err = d.DecodeSegment(context.Background(), bytes.NewReader(ts), Handlers{Video: func(v *frame.Video) error {
				defer v.Release()
				frames++
				if v.IsRaw() != c.raw {
					return fmt.Errorf("IsRaw %v, want %v", v.IsRaw(), c.raw)
				}
				return nil
			}})
			if err != nil {
				t.Fatal(err)
			}
			if frames != 6 {
				t.Fatalf("%d frames, want 6", frames)
			}
			if want := map[bool]int{true: frames}[c.raw]; ledger.made() != want {
				t.Fatalf("%d raw frames made, want %d", ledger.made(), want)
			}
			ledger.checkReleasedOnce(t)
		})
	}
}

func TestCoverCropIsThePartTheConverterShows(t *testing.T) {
	cases := []struct {
		name         string
		sw, sh, w, h int
		want         image.Rectangle
	}{
		{"a 16:9 picture on a square target loses its sides", 1280, 720, 512, 512, image.Rect(280, 0, 999, 720)},
		{"a 4:3 picture on a 16:9 target loses top and bottom", 320, 240, 256, 144, image.Rect(0, 30, 320, 210)},
		{"the same aspect keeps the whole picture", 1280, 720, 640, 360, image.Rect(0, 0, 1280, 720)},
		{"the picture's own size keeps the whole picture", 854, 480, 854, 480, image.Rect(0, 0, 854, 480)},
		{"each edge rounds to the nearest pixel", 854, 480, 512, 512, image.Rect(187, 0, 667, 480)},
		{"a sliver keeps the middle rows", 1000, 10, 1000, 3, image.Rect(0, 3, 1000, 6)},
		{"a crop never vanishes", 1000, 1, 1, 1000, image.Rect(500, 0, 501, 1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := coverCrop(c.sw, c.sh, c.w, c.h); got != c.want {
				t.Fatalf("coverCrop(%d, %d, %d, %d) = %v, want %v", c.sw, c.sh, c.w, c.h, got, c.want)
			}
		})
	}
	t.Run("every crop is inside the picture, spans a side, and is the converter's window rounded", func(t *testing.T) {
		for sw := 1; sw <= 96; sw += 3 {
			for sh := 1; sh <= 96; sh += 5 {
				for _, tg := range [][2]int{{512, 512}, {16, 9}, {9, 16}, {1, 7}, {sw, sh}, {2 * sw, sh}} {
					w, h := tg[0], tg[1]
					r := coverCrop(sw, sh, w, h)
					if r.Empty() || !r.In(image.Rect(0, 0, sw, sh)) {
						t.Fatalf("%d×%d on %d×%d: crop %v", sw, sh, w, h, r)
					}
					if r.Dx() != sw && r.Dy() != sh {
						t.Fatalf("%d×%d on %d×%d: crop %v spans neither side", sw, sh, w, h, r)
					}
					// The converter shows [o, o+w) of the picture scaled
					// to cw pixels: o·sw/cw .. (o+w)·sw/cw in the picture.
					cw, ch, ox, oy := coverRect(sw, sh, w, h)
					near := func(edge, o, s, c int) bool {
						return math.Abs(float64(edge)-float64(o)*float64(s)/float64(c)) <= 0.5
					}
					thin := r.Dx() == 1 || r.Dy() == 1 // widened to a pixel
					if !thin && !(near(r.Min.X, ox, sw, cw) && near(r.Max.X, ox+w, sw, cw) &&
						near(r.Min.Y, oy, sh, ch) && near(r.Max.Y, oy+h, sh, ch)) {
						t.Fatalf("%d×%d on %d×%d: crop %v is not the converter's window rounded", sw, sh, w, h, r)
					}
				}
			}
		}
	})
}

// A steady stream of raw frames reuses its plane buffers.
func BenchmarkRawHostFrame(b *testing.B) {
	m, err := loadManifestF()
	if err != nil {
		b.Fatal(err)
	}
	fx, err := m.Fixture("h264-aac-1280x720")
	if err != nil {
		b.Fatal(err)
	}
	segs, err := fx.Segments(time.Second)
	if err != nil {
		b.Fatal(err)
	}
	seg, err := segs[0].Bytes()
	if err != nil {
		b.Fatal(err)
	}
	d, err := NewDecoder(DecoderConfig{Raw: true, MaxFramerate: NoFramerateCap})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	b.ReportAllocs()
	frames := 0
	for b.Loop() {
		_, err := d.DecodeSegment(context.Background(), bytes.NewReader(seg), Handlers{Video: func(v *frame.Video) error {
			frames++
			v.Release()
			return nil
		}})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(frames)/float64(b.N), "frames/op")
}
