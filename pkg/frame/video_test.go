package frame

import (
	"errors"
	"image"
	"image/color"
	"image/draw"
	"testing"
)

func mustVideo(t testing.TB, w, h int) *Video {
	t.Helper()
	v, err := NewVideo(w, h)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// fillPattern gives every byte of the frame a distinct-ish value.
func fillPattern(v *Video) {
	for i := range v.Pix {
		v.Pix[i] = byte(i*7 + i/3)
	}
}

func TestNewVideoRefusesBadDimensions(t *testing.T) {
	for _, c := range []struct {
		name string
		w, h int
	}{
		{"zero width", 0, 10},
		{"zero height", 10, 0},
		{"negative width", -1, 10},
		{"a side beyond MaxDimension", MaxDimension + 1, 2},
		{"a huge size that would overflow", 1 << 40, 1 << 40},
	} {
		t.Run(c.name+" is refused", func(t *testing.T) {
			for name, f := range map[string]func(int, int) (*Video, error){"NewVideo": NewVideo, "GetVideo": GetVideo} {
				if v, err := f(c.w, c.h); !errors.Is(err, ErrDimensions) || v != nil {
					t.Fatalf("%s(%d, %d) = %v, %v; want ErrDimensions", name, c.w, c.h, v, err)
				}
			}
		})
	}
}

func TestNewVideoIsBlackAndPacked(t *testing.T) {
	v := mustVideo(t, 5, 3)
	if v.Stride != 15 || len(v.Pix) != 45 || v.Bounds() != image.Rect(0, 0, 5, 3) {
		t.Fatalf("stride %d, %d bytes, bounds %v", v.Stride, len(v.Pix), v.Bounds())
	}
	for i, b := range v.Pix {
		if b != 0 {
			t.Fatalf("Pix[%d] = %d, want black", i, b)
		}
	}
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestAtAndSetMatchPix(t *testing.T) {
	for _, c := range []struct {
		name string
		in   color.Color
		want RGB
	}{
		{"an RGB is stored as is", RGB{1, 2, 3}, RGB{1, 2, 3}},
		{"an opaque color.RGBA keeps its channels", color.RGBA{200, 100, 50, 255}, RGB{200, 100, 50}},
		{"an opaque color.NRGBA keeps its channels", color.NRGBA{10, 20, 30, 255}, RGB{10, 20, 30}},
		{"a gray becomes equal channels", color.Gray{77}, RGB{77, 77, 77}},
		{"16-bit colors keep their high byte", color.RGBA64{0x1234, 0xabcd, 0xff00, 0xffff}, RGB{0x12, 0xab, 0xff}},
		{"a half-transparent white is composited over black", color.NRGBA{255, 255, 255, 128}, RGB{128, 128, 128}},
		{"a fully transparent color is black", color.NRGBA{255, 0, 0, 0}, RGB{}},
		{"white is white", color.White, RGB{255, 255, 255}},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := mustVideo(t, 4, 3)
			v.Set(2, 1, c.in)
			i := v.PixOffset(2, 1)
			if got := (RGB{v.Pix[i], v.Pix[i+1], v.Pix[i+2]}); got != c.want {
				t.Fatalf("Set stored %v in Pix, want %v", got, c.want)
			}
			if got := v.At(2, 1); got != c.want {
				t.Fatalf("At = %v, want %v", got, c.want)
			}
			if got := v.RGBAt(2, 1); got != c.want {
				t.Fatalf("RGBAt = %v, want %v", got, c.want)
			}
		})
	}
}

func TestAtReadsWhatPixHolds(t *testing.T) {
	v := padded(t, 7, 5, 4)
	fillPattern(v)
	for y := range v.Height {
		for x := range v.Width {
			i := y*v.Stride + 3*x
			want := RGB{v.Pix[i], v.Pix[i+1], v.Pix[i+2]}
			r, g, b, a := v.At(x, y).RGBA()
			if got := (RGB{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}); got != want || a != 0xffff {
				t.Fatalf("At(%d, %d) = %v alpha %#x, Pix holds %v", x, y, got, a, want)
			}
		}
	}
}

func TestPointsOutsideTheFrame(t *testing.T) {
	v := mustVideo(t, 3, 2)
	fillPattern(v)
	before := append([]byte(nil), v.Pix...)
	for _, p := range []image.Point{{-1, 0}, {0, -1}, {3, 0}, {0, 2}, {100, 100}} {
		if got := v.At(p.X, p.Y); got != (RGB{}) {
			t.Errorf("At(%v) = %v, want black", p, got)
		}
		v.Set(p.X, p.Y, color.White)
	}
	if string(before) != string(v.Pix) {
		t.Fatal("Set outside the bounds changed Pix")
	}
}

func TestTheColorModelConvertsToRGB(t *testing.T) {
	v := mustVideo(t, 1, 1)
	if got := v.ColorModel().Convert(color.NRGBA{100, 50, 0, 255}); got != (RGB{100, 50, 0}) {
		t.Fatalf("Convert = %#v", got)
	}
	if !v.Opaque() {
		t.Fatal("a Video is always opaque")
	}
}

// generic hides *image.RGBA's type from image/draw, so that drawing onto it
// takes the same generic path as drawing onto a Video: the reference for
// the draw tests.
type generic struct{ *image.RGBA }

func TestDrawingWithImageDraw(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 16, 16))
	for i := range src.Pix {
		src.Pix[i] = byte(i * 13)
	}
	for _, c := range []struct {
		name string
		src  image.Image
		op   draw.Op
	}{
		{"a uniform color fills with Src", image.NewUniform(color.RGBA{10, 200, 30, 255}), draw.Src},
		{"a translucent uniform composites with Over", image.NewUniform(color.NRGBA{250, 0, 100, 90}), draw.Over},
		{"an NRGBA image with varying alpha composites with Over", src, draw.Over},
		{"an NRGBA image with varying alpha replaces with Src", src, draw.Src},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := mustVideo(t, 20, 12)
			fillPattern(v)
			ref := generic{image.NewRGBA(v.Bounds())}
			for y := range v.Height {
				for x := range v.Width {
					p := v.RGBAt(x, y)
					ref.SetRGBA(x, y, color.RGBA{p.R, p.G, p.B, 255})
				}
			}
			r := image.Rect(3, 2, 17, 11)
			draw.Draw(v, r, c.src, image.Point{1, 1}, c.op)
			draw.Draw(ref, r, c.src, image.Point{1, 1}, c.op)
			changed := false
			for y := range v.Height {
				for x := range v.Width {
					want := ref.RGBAAt(x, y)
					got := v.RGBAt(x, y)
					if got != (RGB{want.R, want.G, want.B}) {
						t.Fatalf("(%d, %d) = %v, image.RGBA says %v", x, y, got, want)
					}
					inside := image.Pt(x, y).In(r)
					if !inside && got != pixAt(v, x, y) {
						t.Fatalf("(%d, %d) outside the rectangle changed", x, y)
					}
					changed = changed || inside
				}
			}
			if !changed {
				t.Fatal("nothing was drawn")
			}
		})
	}
}

// pixAt returns the pattern fillPattern left at (x, y).
func pixAt(v *Video, x, y int) RGB {
	i := y*v.Stride + 3*x
	f := func(i int) byte { return byte(i*7 + i/3) }
	return RGB{f(i), f(i + 1), f(i + 2)}
}

// padded returns a w×h frame whose rows are pad bytes longer than needed,
// as FFmpeg's aligned frames are, with the padding set to 0xEE.
func padded(t testing.TB, w, h, pad int) *Video {
	t.Helper()
	stride := 3*w + pad
	v := &Video{Pix: make([]byte, stride*h), Stride: stride, Width: w, Height: h}
	for i := range v.Pix {
		v.Pix[i] = 0xEE
	}
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		v    *Video
		want error
	}{
		{"a packed frame is valid", &Video{Pix: make([]byte, 12), Stride: 6, Width: 2, Height: 2}, nil},
		{"a padded frame is valid", &Video{Pix: make([]byte, 16), Stride: 8, Width: 2, Height: 2}, nil},
		{"the last row needs no padding", &Video{Pix: make([]byte, 14), Stride: 8, Width: 2, Height: 2}, nil},
		{"a short Pix is refused", &Video{Pix: make([]byte, 11), Stride: 6, Width: 2, Height: 2}, ErrPixLength},
		{"a stride under 3×width is refused", &Video{Pix: make([]byte, 100), Stride: 5, Width: 2, Height: 2}, ErrPixLength},
		{"a huge stride is refused without overflow", &Video{Pix: make([]byte, 12), Stride: 1 << 62, Width: 2, Height: 2}, ErrPixLength},
		{"the zero Video is refused", &Video{}, ErrDimensions},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.v.Validate(); !errors.Is(err, c.want) || (err == nil) != (c.want == nil) {
				t.Fatalf("Validate = %v, want %v", err, c.want)
			}
		})
	}
}

func TestCloneIsIndependent(t *testing.T) {
	v := padded(t, 5, 4, 3)
	fillPattern(v)
	v.PTS, v.TimeBase = 3003, tb90k
	c := v.Clone()
	defer c.Release()
	if c.Width != 5 || c.Height != 4 || c.Stride != 15 || c.PTS != 3003 || c.TimeBase != tb90k {
		t.Fatalf("clone is %d×%d stride %d pts %d tb %v", c.Width, c.Height, c.Stride, c.PTS, c.TimeBase)
	}
	for y := range 4 {
		for x := range 5 {
			if c.RGBAt(x, y) != v.RGBAt(x, y) {
				t.Fatalf("(%d, %d) differs", x, y)
			}
		}
	}
	c.SetRGB(0, 0, RGB{1, 2, 3})
	v.SetRGB(4, 3, RGB{4, 5, 6})
	if v.RGBAt(0, 0) == (RGB{1, 2, 3}) || c.RGBAt(4, 3) == (RGB{4, 5, 6}) {
		t.Fatal("the clone shares pixels with the original")
	}
}

func TestAReleasedVideoCannotBeUsed(t *testing.T) {
	v, err := GetVideo(4, 4)
	if err != nil {
		t.Fatal(err)
	}
	v.Release()
	v.Release() // a second release does nothing
	(*Video)(nil).Release()
	if v.Pix != nil {
		t.Fatal("Release left Pix set")
	}
	if err := v.Validate(); !errors.Is(err, ErrReleased) {
		t.Fatalf("Validate = %v", err)
	}
	if err := v.ReplaceTensor(make([]float32, 48)); !errors.Is(err, ErrReleased) {
		t.Fatalf("ReplaceTensor = %v", err)
	}
	if err := v.ReplaceTensorSize(2, 2, make([]float32, 12)); !errors.Is(err, ErrReleased) {
		t.Fatalf("ReplaceTensorSize = %v", err)
	}
	for name, f := range map[string]func(){
		"At":         func() { v.At(0, 0) },
		"Set":        func() { v.Set(0, 0, color.White) },
		"Tensor":     func() { v.Tensor() },
		"TensorInto": func() { v.TensorInto(nil) },
		"Clone":      func() { v.Clone() },
	} {
		t.Run(name+" panics with ErrReleased", func(t *testing.T) {
			defer func() {
				if r := recover(); r != ErrReleased {
					t.Fatalf("recovered %v", r)
				}
			}()
			f()
		})
	}
}
