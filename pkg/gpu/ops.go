package gpu

import (
	"fmt"
	"image"
	"math"

	"github.com/gotrickle/gotrickle/pkg/gpu/kernels"
)

// The kernels, by their PTX names (kernels.Table).
var (
	kYUV420PToRGB = mustKernel("yuv420p_to_rgb24")
	kNV12ToRGB    = mustKernel("nv12_to_rgb24")
	kRGBToYUV420P = mustKernel("rgb24_to_yuv420p")
	kResize       = mustKernel("resize_rgb24")
	kToF32        = mustKernel("rgb24_to_f32")
	kColorGrade   = mustKernel("colorgrade_rgb24")
)

func mustKernel(name string) kernels.Kernel {
	for _, k := range kernels.Table {
		if k.Name == name {
			return k
		}
	}
	panic("gpu: kernel " + name + " is not in kernels.Table")
}

// run checks that imgs' buffers are usable, validates the arguments with
// check, then launches k with args over the output size w×h.
func (s *Stream) run(k kernels.Kernel, w, h int, check func() error, args func() []any, imgs ...Image) error {
	bufs := make([]*Buffer, len(imgs))
	for i, img := range imgs {
		bufs[i] = img.Buf
	}
	if err := s.begin(bufs...); err != nil {
		return err
	}
	defer s.dev.mu.RUnlock()
	if err := check(); err != nil {
		return err
	}
	units := [2]int{w, h}
	if k.Unit == kernels.Per2x2 {
		units = [2]int{(w + 1) / 2, (h + 1) / 2}
	}
	if err := s.sb.launch(k, units, args()); err != nil {
		return fmt.Errorf("gpu: %s: %w", k.Name, err)
	}
	return nil
}

// sameSize is an error when dst and src differ in size.
func sameSize(dst, src Image) error {
	if dst.Width != src.Width || dst.Height != src.Height {
		return fmt.Errorf("%w: dst is %dx%d, src %dx%d", ErrSize, dst.Width, dst.Height, src.Width, src.Height)
	}
	return nil
}

func checks(fs ...func() error) func() error {
	return func() error {
		for _, f := range fs {
			if err := f(); err != nil {
				return err
			}
		}
		return nil
	}
}

// YUV420PToRGB enqueues the conversion of src (YUV420P) to dst (RGB24, the
// same size): BT.601 limited range, as swscale does by default.
func (s *Stream) YUV420PToRGB(dst, src Image) error {
	return s.run(kYUV420PToRGB, dst.Width, dst.Height,
		checks(
			func() error { return dst.check("dst", RGB24) },
			func() error { return src.check("src", YUV420P) },
			func() error { return sameSize(dst, src) },
			func() error { return overlaps(dst, src) }),
		func() []any {
			d, ds := dst.ptr(0)
			y, ys := src.ptr(0)
			u, us := src.ptr(1)
			v, vs := src.ptr(2)
			return []any{d, ds, y, ys, u, us, v, vs, int32(dst.Width), int32(dst.Height)}
		}, dst, src)
}

// NV12ToRGB enqueues the conversion of src (NV12) to dst (RGB24, the same
// size).
func (s *Stream) NV12ToRGB(dst, src Image) error {
	return s.run(kNV12ToRGB, dst.Width, dst.Height,
		checks(
			func() error { return dst.check("dst", RGB24) },
			func() error { return src.check("src", NV12) },
			func() error { return sameSize(dst, src) },
			func() error { return overlaps(dst, src) }),
		func() []any {
			d, ds := dst.ptr(0)
			y, ys := src.ptr(0)
			uv, uvs := src.ptr(1)
			return []any{d, ds, y, ys, uv, uvs, int32(dst.Width), int32(dst.Height)}
		}, dst, src)
}

// RGBToYUV420P enqueues the conversion of src (RGB24) to dst (YUV420P, the
// same size) for the encoder; each chroma sample is its 2×2 block's mean.
func (s *Stream) RGBToYUV420P(dst, src Image) error {
	return s.run(kRGBToYUV420P, dst.Width, dst.Height,
		checks(
			func() error { return dst.check("dst", YUV420P) },
			func() error { return src.check("src", RGB24) },
			func() error { return sameSize(dst, src) },
			func() error { return overlaps(dst, src) }),
		func() []any {
			y, ys := dst.ptr(0)
			u, us := dst.ptr(1)
			v, vs := dst.ptr(2)
			sp, ss := src.ptr(0)
			return []any{y, ys, u, us, v, vs, sp, ss, int32(dst.Width), int32(dst.Height)}
		}, dst, src)
}

// Resize enqueues the bilinear scaling of the crop rectangle of src
// (RGB24) to dst (RGB24, any size). The zero rectangle is the whole of src;
// otherwise crop must be non-empty and lie inside src.
func (s *Stream) Resize(dst, src Image, crop image.Rectangle) error {
	if crop == (image.Rectangle{}) {
		crop = image.Rect(0, 0, src.Width, src.Height)
	}
	return s.run(kResize, dst.Width, dst.Height,
		checks(
			func() error { return dst.check("dst", RGB24) },
			func() error { return src.check("src", RGB24) },
			func() error {
				if crop.Empty() || !crop.In(image.Rect(0, 0, src.Width, src.Height)) {
					return fmt.Errorf("%w: crop %v is not inside the %dx%d src", ErrSize, crop, src.Width, src.Height)
				}
				return nil
			},
			func() error { return overlaps(dst, src) }),
		func() []any {
			d, ds := dst.ptr(0)
			sp, ss := src.ptr(0)
			return []any{d, ds, int32(dst.Width), int32(dst.Height), sp, ss,
				int32(crop.Min.X), int32(crop.Min.Y), int32(crop.Dx()), int32(crop.Dy())}
		}, dst, src)
}

// ToFloat32 enqueues the conversion of src (RGB24) to dst (F32Planar or
// F32Packed, the same size), values in [0, 1].
func (s *Stream) ToFloat32(dst, src Image) error {
	return s.run(kToF32, dst.Width, dst.Height,
		checks(
			func() error { return dst.check("dst", F32Planar, F32Packed) },
			func() error { return src.check("src", RGB24) },
			func() error { return sameSize(dst, src) },
			func() error { return overlaps(dst, src) }),
		func() []any {
			d, _ := dst.ptr(0)
			sp, ss := src.ptr(0)
			planar := int32(0)
			if dst.Format == F32Planar {
				planar = 1
			}
			return []any{d, sp, ss, int32(dst.Width), int32(dst.Height), planar}
		}, dst, src)
}

// ColorGrade enqueues the colour grade of img (RGB24) in place, as
// pkg/effect's ColorGrade does at intensity (0..1).
func (s *Stream) ColorGrade(img Image, intensity float32) error {
	return s.run(kColorGrade, img.Width, img.Height,
		checks(
			func() error { return img.check("img", RGB24) },
			func() error {
				if math.IsNaN(float64(intensity)) || intensity < 0 || intensity > 1 {
					return fmt.Errorf("%w: intensity %v (want 0..1)", ErrInvalid, intensity)
				}
				return nil
			}),
		func() []any {
			p, ps := img.ptr(0)
			return []any{p, ps, int32(img.Width), int32(img.Height), intensity}
		}, img)
}
