package gpu

import (
	"context"
	"fmt"
	"unsafe"

	"github.com/gotrickle/gotrickle/pkg/gpu/kernels"
)

// cpuBackend keeps "device" memory on the Go heap and runs the reference
// kernels of pkg/gpu/kernels when an operation is enqueued, so a stream is
// always synced. Its kernels take the same argument lists as the CUDA ones
// (see cpuKernels), so the CPU tests check the CUDA launch arguments too.
type cpuBackend struct{}

func newCPU() backend { return cpuBackend{} }

func (cpuBackend) kind() Kind   { return KindCPU }
func (cpuBackend) name() string { return "cpu" }
func (cpuBackend) close() error { return nil }
func (cpuBackend) free(any) error {
	return nil // the garbage collector frees it
}

func (cpuBackend) alloc(n int) (any, error) {
	// float32 images live in byte buffers: keep them 4-byte aligned.
	words := make([]uint32, (n+3)/4)
	return unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), n), nil
}

func (cpuBackend) newStream() (streamBackend, error) { return cpuStream{}, nil }

type cpuStream struct{}

func (cpuStream) upload(_ context.Context, dst any, src []byte) error {
	copy(dst.([]byte), src)
	return nil
}

func (cpuStream) download(_ context.Context, dst []byte, src any) error {
	copy(dst, src.([]byte))
	return nil
}

func (cpuStream) copyPlanes(_ context.Context, cp []planeCopy) error {
	for _, c := range cp {
		dst := c.dst.mem.([]byte)[c.dst.off:]
		for y := range c.rows {
			copy(dst[y*c.dstPitch:y*c.dstPitch+c.rowBytes], c.srcMem[y*c.srcPitch:y*c.srcPitch+c.rowBytes])
		}
	}
	return nil
}

func (cpuStream) sync(context.Context) error { return nil }
func (cpuStream) close() error               { return nil }

func (cpuStream) launch(k kernels.Kernel, _ [2]int, args []any) error {
	f, ok := cpuKernels[k.Name]
	if !ok {
		return fmt.Errorf("no CPU kernel %q", k.Name)
	}
	a := cpuArgs(args)
	if want := f.nargs; len(args) != want {
		return fmt.Errorf("%d arguments, want %d", len(args), want)
	}
	f.run(a)
	return nil
}

// cpuArgs reads a CUDA argument list.
type cpuArgs []any

func (a cpuArgs) bytes(i int) []byte {
	p := a[i].(devPtr)
	return p.mem.([]byte)[p.off : p.off+p.n]
}

func (a cpuArgs) int(i int) int { return int(a[i].(int32)) }

func (a cpuArgs) f32(i int) float32 { return a[i].(float32) }

func (a cpuArgs) floats(i int) []float32 {
	b := a.bytes(i)
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
}

// plane is the 8-bit plane at argument i with stride argument i+1.
func (a cpuArgs) plane(i, width, height int) kernels.Plane {
	return kernels.Plane{Pix: a.bytes(i), Width: width, Height: height, Stride: a.int(i + 1)}
}

// cpuKernels runs each kernel of kernels.Table from its CUDA argument list
// (the parameter orders documented in pkg/gpu/kernels).
var cpuKernels = map[string]struct {
	nargs int
	run   func(cpuArgs)
}{
	// (dst, dstStride, y, yStride, u, uStride, v, vStride, width, height)
	"yuv420p_to_rgb24": {10, func(a cpuArgs) {
		w, h := a.int(8), a.int(9)
		cw, ch := (w+1)/2, (h+1)/2
		kernels.YUV420PToRGB24(a.plane(0, w, h), a.plane(2, w, h), a.plane(4, cw, ch), a.plane(6, cw, ch))
	}},
	// (dst, dstStride, y, yStride, uv, uvStride, width, height)
	"nv12_to_rgb24": {8, func(a cpuArgs) {
		w, h := a.int(6), a.int(7)
		kernels.NV12ToRGB24(a.plane(0, w, h), a.plane(2, w, h), a.plane(4, (w+1)/2, (h+1)/2))
	}},
	// (y, yStride, u, uStride, v, vStride, src, srcStride, width, height)
	"rgb24_to_yuv420p": {10, func(a cpuArgs) {
		w, h := a.int(8), a.int(9)
		cw, ch := (w+1)/2, (h+1)/2
		kernels.RGB24ToYUV420P(a.plane(0, w, h), a.plane(2, cw, ch), a.plane(4, cw, ch), a.plane(6, w, h))
	}},
	// (dst, dstStride, dstWidth, dstHeight, src, srcStride, cx, cy, cw, ch)
	"resize_rgb24": {10, func(a cpuArgs) {
		dst := a.plane(0, a.int(2), a.int(3))
		// The kernel reads src only inside the crop: give it the plane
		// from row 0 to the crop's last row, as wide as the crop's right.
		cx, cy, cw, ch := a.int(6), a.int(7), a.int(8), a.int(9)
		src := a.plane(4, cx+cw, cy+ch)
		kernels.ResizeRGB24(dst, src, cx, cy, cw, ch)
	}},
	// (dst, src, srcStride, width, height, planar)
	"rgb24_to_f32": {6, func(a cpuArgs) {
		w, h := a.int(3), a.int(4)
		src := kernels.Plane{Pix: a.bytes(1), Width: w, Height: h, Stride: a.int(2)}
		kernels.RGB24ToF32(a.floats(0), src, a.int(5) != 0)
	}},
	// (p, stride, width, height, intensity)
	"colorgrade_rgb24": {5, func(a cpuArgs) {
		kernels.ColorGradeRGB24(a.plane(0, a.int(2), a.int(3)), a.f32(4))
	}},
}
