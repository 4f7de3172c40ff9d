//go:build cuda

package gpu

/*
#cgo LDFLAGS: -lcuda
#include <cuda.h>
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/gotrickle/gotrickle/pkg/gpu/kernels"
)

// cudaBuilt reports whether this binary has the cuda backend.
const cudaBuilt = true

// blockDim is the thread block of every launch: 16×16 units.
const blockDim = 16

// cudaBackend is one CUDA device: its primary context (shared with other
// users of the device in this process, such as FFmpeg's cuda hwaccel), and
// the kernels module loaded from kernels.PTX (JIT-compiled by the driver).
type cudaBackend struct {
	index int
	dev   cu.Device
	ctx   cu.CUContext
	mod   cu.Module
	fns   map[string]cu.Function
	label string
}

func openCUDA(index int) (backend, error) {
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("%w: counting devices: %w", ErrNoDevice, err)
	}
	if index >= n {
		return nil, fmt.Errorf("%w: device %d asked for, %d present", ErrNoDevice, index, n)
	}
	dev, err := cu.GetDevice(index)
	if err != nil {
		return nil, fmt.Errorf("%w: device %d: %w", ErrNoDevice, index, err)
	}
	name, err := dev.Name()
	if err != nil {
		return nil, fmt.Errorf("%w: device %d name: %w", ErrNoDevice, index, err)
	}
	// FFmpeg's cuda hwaccel (NVDEC) shares the primary context only when
	// its flags are blocking sync, and refuses it once it is active with
	// others; setting them first lets a decoder opened later share it.
	// Best effort: an active context with other flags keeps them, and
	// only NVDEC, which then says so, cannot share it.
	_ = dev.SetPrimaryCtxFlags(cu.SchedBlockingSync)
	ctx, err := dev.RetainPrimaryCtx()
	if err != nil {
		return nil, fmt.Errorf("%w: device %d context: %w", ErrNoDevice, index, err)
	}
	b := &cudaBackend{index: index, dev: dev, ctx: ctx, fns: map[string]cu.Function{},
		label: fmt.Sprintf("%s (cuda:%d)", name, index)}
	err = b.do(func() error {
		jitLog := &cu.JITErrorLogBuffer{Buffer: make([]byte, 4096)}
		mod, err := cu.LoadDataEx(kernels.PTX, jitLog)
		if err != nil {
			msg := strings.TrimSpace(strings.TrimRight(string(jitLog.Buffer), "\x00"))
			return fmt.Errorf("gpu: loading the kernels' PTX (needs a driver for CUDA 11.8 or later): %w: %s", err, msg)
		}
		b.mod = mod
		for _, k := range kernels.Table {
			fn, err := mod.Function(k.Name)
			if err != nil {
				return fmt.Errorf("gpu: kernel %s not in the PTX: %w", k.Name, err)
			}
			b.fns[k.Name] = fn
		}
		return nil
	})
	if err != nil {
		_ = b.close()
		return nil, err
	}
	return b, nil
}

// do runs f with the device's context current on a locked OS thread (the
// driver API keeps the current context per thread), restoring the thread's
// previous context after.
func (b *cudaBackend) do(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.PushCurrentCtx(b.ctx); err != nil {
		return fmt.Errorf("making the context current: %w", err)
	}
	ferr := f()
	if _, err := cu.PopCurrentCtx(); err != nil && ferr == nil {
		return fmt.Errorf("restoring the context: %w", err)
	}
	return ferr
}

func (b *cudaBackend) kind() Kind   { return KindCUDA }
func (b *cudaBackend) name() string { return b.label }

func (b *cudaBackend) alloc(n int) (any, error) {
	var p cu.DevicePtr
	err := b.do(func() (err error) {
		p, err = cu.MemAlloc(int64(n))
		return err
	})
	return p, err
}

func (b *cudaBackend) free(mem any) error {
	return b.do(func() error { return cu.MemFree(mem.(cu.DevicePtr)) })
}

func (b *cudaBackend) newStream() (streamBackend, error) {
	var s cu.Stream
	err := b.do(func() (err error) {
		s, err = cu.MakeStream(cu.NonBlocking)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &cudaStream{b: b, s: s}, nil
}

func (b *cudaBackend) close() error {
	var errs []error
	if b.mod != (cu.Module{}) {
		errs = append(errs, b.do(func() error { return b.mod.Unload() }))
	}
	errs = append(errs, b.dev.ReleasePrimaryCtx())
	return errors.Join(errs...)
}

// cudaStream is a non-blocking CUDA stream with a pinned staging buffer
// that uploads and downloads go through (a copy from pageable Go memory
// could not be asynchronous, and Go memory cannot be pinned).
type cudaStream struct {
	b    *cudaBackend
	s    cu.Stream
	pin  []byte // pinned host memory (cuMemAllocHost), nil until needed
	busy bool   // a copy on pin may still be pending on the stream
}

// staging returns n bytes of pinned memory that no pending copy uses.
func (s *cudaStream) staging(n int) ([]byte, error) {
	if s.busy {
		if err := s.b.do(func() error { return s.s.Synchronize() }); err != nil {
			return nil, err
		}
		s.busy = false
	}
	if len(s.pin) >= n {
		return s.pin[:n], nil
	}
	if err := s.freePin(); err != nil {
		return nil, err
	}
	var p unsafe.Pointer
	err := s.b.do(func() error {
		if r := C.cuMemAllocHost(&p, C.size_t(n)); r != C.CUDA_SUCCESS {
			return fmt.Errorf("cuMemAllocHost(%d): CUresult %d", n, int(r))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.pin = unsafe.Slice((*byte)(p), n)
	return s.pin, nil
}

func (s *cudaStream) freePin() error {
	if s.pin == nil {
		return nil
	}
	p := unsafe.Pointer(&s.pin[0])
	s.pin = nil
	return s.b.do(func() error { return cu.MemFreeHost(p) })
}

func (s *cudaStream) upload(ctx context.Context, dst any, src []byte) error {
	pin, err := s.staging(len(src))
	if err != nil {
		return err
	}
	copy(pin, src)
	err = s.b.do(func() error {
		return cu.MemcpyHtoDAsync(dst.(cu.DevicePtr), unsafe.Pointer(&pin[0]), int64(len(src)), s.s)
	})
	if err != nil {
		return err
	}
	s.busy = true
	return s.wait(ctx)
}

func (s *cudaStream) download(ctx context.Context, dst []byte, src any) error {
	pin, err := s.staging(len(dst))
	if err != nil {
		return err
	}
	err = s.b.do(func() error {
		return cu.MemcpyDtoHAsync(unsafe.Pointer(&pin[0]), src.(cu.DevicePtr), int64(len(dst)), s.s)
	})
	if err != nil {
		return err
	}
	s.busy = true
	if err := s.wait(ctx); err != nil {
		return err
	}
	copy(dst, pin)
	return nil
}

// launch passes each argument as cuLaunchKernel wants it: a pointer to its
// value. cu's Function.Launch copies 8 bytes from each pointer into C
// memory, so every value sits in its own uint64, 32-bit ones in the low
// half (little-endian: where the kernel reads an int or a float).
func (s *cudaStream) launch(k kernels.Kernel, units [2]int, args []any) error {
	fn, ok := s.b.fns[k.Name]
	if !ok {
		return fmt.Errorf("kernel %q not loaded", k.Name)
	}
	vals := make([]uint64, len(args))
	ptrs := make([]unsafe.Pointer, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case devPtr:
			vals[i] = uint64(v.mem.(cu.DevicePtr)) + uint64(v.off)
		case int32:
			vals[i] = uint64(uint32(v))
		case float32:
			vals[i] = uint64(math.Float32bits(v))
		default:
			return fmt.Errorf("argument %d has type %T", i, a)
		}
		ptrs[i] = unsafe.Pointer(&vals[i])
	}
	gx, gy := (units[0]+blockDim-1)/blockDim, (units[1]+blockDim-1)/blockDim
	return s.b.do(func() error {
		return fn.Launch(gx, gy, 1, blockDim, blockDim, 1, 0, s.s, ptrs)
	})
}

// copyPlanes copies planes another user of the primary context wrote
// (FFmpeg's NVDEC, which queues its own copies on the legacy default
// stream unless told otherwise): that stream is waited for first, since
// this non-blocking stream does not wait for it, and the copies are waited
// for before returning, so the planes can go back to their owner.
func (s *cudaStream) copyPlanes(ctx context.Context, cp []planeCopy) error {
	err := s.b.do(func() error {
		if err := cu.NoStream.Synchronize(); err != nil {
			return fmt.Errorf("waiting for the default stream: %w", err)
		}
		// cu.Memcpy2DAsync cannot be used: its parameter conversion
		// dereferences the nil array handle of a copy between linear
		// memory. The driver is called directly.
		hs := C.CUstream(unsafe.Pointer(s.s.C()))
		for _, c := range cp {
			p := C.CUDA_MEMCPY2D{
				srcMemoryType: C.CU_MEMORYTYPE_DEVICE,
				srcDevice:     C.CUdeviceptr(c.src),
				srcPitch:      C.size_t(c.srcPitch),
				dstMemoryType: C.CU_MEMORYTYPE_DEVICE,
				dstDevice:     C.CUdeviceptr(uintptr(c.dst.mem.(cu.DevicePtr)) + uintptr(c.dst.off)),
				dstPitch:      C.size_t(c.dstPitch),
				WidthInBytes:  C.size_t(c.rowBytes),
				Height:        C.size_t(c.rows),
			}
			if r := C.cuMemcpy2DAsync(&p, hs); r != C.CUDA_SUCCESS {
				return fmt.Errorf("cuMemcpy2DAsync: CUresult %d", int(r))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.wait(ctx)
}

func (s *cudaStream) sync(ctx context.Context) error { return s.wait(ctx) }

// wait waits for the stream: blocking in the driver when ctx cannot end,
// else polling it so that ctx can end the wait.
func (s *cudaStream) wait(ctx context.Context) error {
	if ctx.Done() == nil {
		if err := s.b.do(func() error { return s.s.Synchronize() }); err != nil {
			return err
		}
		s.busy = false
		return nil
	}
	delay := 5 * time.Microsecond
	var t *time.Timer
	for {
		err := s.b.do(func() error { return s.s.Query() })
		if err == nil {
			s.busy = false
			return nil
		}
		if !errors.Is(err, cu.NotReady) {
			return err
		}
		if t == nil {
			t = time.NewTimer(delay)
			defer t.Stop()
		} else {
			t.Reset(delay)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, time.Millisecond)
	}
}

func (s *cudaStream) close() error {
	var errs []error
	errs = append(errs, s.b.do(func() error { return s.s.Synchronize() }))
	s.busy = false
	errs = append(errs, s.freePin())
	errs = append(errs, s.b.do(func() error { return s.s.Destroy() }))
	return errors.Join(errs...)
}

// devAddr is a cuda buffer's device address.
func devAddr(mem any) uintptr { return uintptr(mem.(cu.DevicePtr)) }
