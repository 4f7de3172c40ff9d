package frame

import (
	"errors"
	"math"
	"testing"
)

func TestTensorIsPyTricklesView(t *testing.T) {
	v := mustVideo(t, 3, 2)
	fillPattern(v)
	tensor := v.Tensor()
	defer ReleaseTensor(tensor)
	if len(tensor) != 2*3*3 || len(tensor) != TensorLen(3, 2) {
		t.Fatalf("len = %d, want H×W×3 = 18", len(tensor))
	}
	for y := range 2 {
		for x := range 3 {
			p := v.RGBAt(x, y)
			for c, b := range []byte{p.R, p.G, p.B} {
				// numpy: frame.astype(np.float32) / 255.0 in float32.
				want := float32(b) / float32(255)
				if got := tensor[(y*3+x)*3+c]; got != want {
					t.Fatalf("tensor at y=%d x=%d c=%d = %v, want %v", y, x, c, got, want)
				}
			}
		}
	}
}

func TestTensorRoundTripIsExactForEveryByte(t *testing.T) {
	for _, c := range []struct {
		name string
		v    *Video
	}{
		{"a packed frame", mustVideo(t, 256, 1)},
		{"a frame with padded rows", padded(t, 16, 16, 5)},
	} {
		t.Run(c.name+" comes back unchanged", func(t *testing.T) {
			v := c.v
			for y := range v.Height {
				for x := range v.Width {
					b := byte(y*v.Width + x)
					v.SetRGB(x, y, RGB{b, 255 - b, b ^ 0x55})
				}
			}
			before := append([]byte(nil), v.Pix...)
			tensor := v.Tensor()
			clear(v.Pix[:3*v.Width]) // the first row must be rewritten
			if err := v.ReplaceTensor(tensor); err != nil {
				t.Fatal(err)
			}
			if string(before) != string(v.Pix) {
				t.Fatal("Tensor → ReplaceTensor changed the pixels (or the row padding)")
			}
		})
	}
}

func TestReplaceTensorClampsAndRounds(t *testing.T) {
	for _, c := range []struct {
		name string
		in   float32
		want byte
	}{
		{"0 is black", 0, 0},
		{"1 is full", 1, 255},
		{"negative values clamp to 0", -0.5, 0},
		{"values above 1 clamp to 255 (PyTrickle would wrap)", 1.5, 255},
		{"NaN becomes 0", float32(math.NaN()), 0},
		{"+Inf becomes 255", float32(math.Inf(1)), 255},
		{"-Inf becomes 0", float32(math.Inf(-1)), 0},
		{"negative zero is 0", float32(math.Copysign(0, -1)), 0},
		{"the smallest positive float is 0", math.SmallestNonzeroFloat32, 0},
		{"just under half a step rounds down", 0.49 / 255, 0},
		{"just over half a step rounds up", 0.51 / 255, 1},
		{"128/255 is 128", 128.0 / 255, 128},
		{"the largest float below 1 is 255", math.Nextafter32(1, 0), 255},
		{"0.5 rounds to 128", 0.5, 128},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := mustVideo(t, 1, 1)
			if err := v.ReplaceTensor([]float32{c.in, c.in, c.in}); err != nil {
				t.Fatal(err)
			}
			if got := v.RGBAt(0, 0); got != (RGB{c.want, c.want, c.want}) {
				t.Fatalf("%v became %v, want %d", c.in, got, c.want)
			}
		})
	}
}

func TestWrongTensorLengthsAreRefused(t *testing.T) {
	for _, c := range []struct {
		name string
		n    int
	}{
		{"an empty tensor", 0},
		{"one value short", 4*3*3 - 1},
		{"one value over", 4*3*3 + 1},
		{"a single-channel tensor", 4 * 3},
		{"an RGBA tensor", 4 * 3 * 4},
	} {
		t.Run(c.name+" is refused and changes nothing", func(t *testing.T) {
			v := mustVideo(t, 4, 3)
			fillPattern(v)
			before := append([]byte(nil), v.Pix...)
			tensor := make([]float32, c.n)
			if err := v.ReplaceTensor(tensor); !errors.Is(err, ErrTensorLength) {
				t.Fatalf("ReplaceTensor = %v, want ErrTensorLength", err)
			}
			if err := v.ReplaceTensorSize(4, 3, tensor); !errors.Is(err, ErrTensorLength) {
				t.Fatalf("ReplaceTensorSize = %v, want ErrTensorLength", err)
			}
			if string(before) != string(v.Pix) {
				t.Fatal("a refused tensor changed the pixels")
			}
		})
	}
}

func TestReplaceTensorSizeResizesTheFrame(t *testing.T) {
	v := padded(t, 2, 2, 1)
	v.PTS, v.TimeBase = 42, tb90k
	t.Run("a larger tensor makes a larger packed frame with the same timing", func(t *testing.T) {
		tensor := make([]float32, TensorLen(4, 3))
		for i := range tensor {
			tensor[i] = float32(i) / 255
		}
		if err := v.ReplaceTensorSize(4, 3, tensor); err != nil {
			t.Fatal(err)
		}
		if v.Width != 4 || v.Height != 3 || v.Stride != 12 || len(v.Pix) != 36 || v.PTS != 42 || v.TimeBase != tb90k {
			t.Fatalf("frame is %d×%d stride %d, %d bytes, pts %d %v", v.Width, v.Height, v.Stride, len(v.Pix), v.PTS, v.TimeBase)
		}
		for i, b := range v.Pix {
			if int(b) != i {
				t.Fatalf("Pix[%d] = %d", i, b)
			}
		}
	})
	t.Run("a bad size is refused and changes nothing", func(t *testing.T) {
		if err := v.ReplaceTensorSize(0, 3, nil); !errors.Is(err, ErrDimensions) {
			t.Fatalf("err = %v", err)
		}
		if v.Width != 4 || v.Height != 3 {
			t.Fatal("the frame changed")
		}
	})
	t.Run("the same size writes in place", func(t *testing.T) {
		pix := &v.Pix[0]
		if err := v.ReplaceTensorSize(4, 3, make([]float32, 36)); err != nil {
			t.Fatal(err)
		}
		if &v.Pix[0] != pix || v.Pix[35] != 0 {
			t.Fatal("the frame's buffer was replaced or not written")
		}
	})
}

func TestTensorIntoReusesTheCallersBuffer(t *testing.T) {
	v := mustVideo(t, 4, 4)
	fillPattern(v)
	buf := make([]float32, 10, 100)
	got := v.TensorInto(buf)
	if len(got) != 48 || &got[0] != &buf[0] {
		t.Fatalf("len %d, same buffer %v", len(got), &got[0] == &buf[0])
	}
	small := make([]float32, 3)
	if got := v.TensorInto(small); len(got) != 48 || &got[0] == &small[0] {
		t.Fatal("a buffer too small was not replaced")
	}
	want := v.Tensor()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("TensorInto differs from Tensor at %d", i)
		}
	}
}
