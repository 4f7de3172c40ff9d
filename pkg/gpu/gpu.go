// Package gpu is gotrickle's GPU frame path: device memory, images on the
// device, and the image kernels of pkg/gpu/kernels run on a stream.
//
// One API, two builds. Built with the `cuda` tag, Kind "cuda" runs on an
// NVIDIA GPU through gorgonia.org/cu (the CUDA driver API): one primary
// context per device, streams, device buffers, copies through pinned host
// memory, and the kernels loaded from the PTX embedded in pkg/gpu/kernels.
// Kind "cpu" (every build) runs the Go reference implementations of the same
// kernels on host memory, with the same validation and the same errors, so
// code written against this package compiles and runs unchanged without a
// GPU. A binary built with `cuda` needs the NVIDIA driver (libcuda.so.1) at
// run time, and gorgonia.org/cu ends the process when cuInit fails, so the
// cuda build is for machines that have a GPU.
//
// Usage:
//
//	dev, err := gpu.Open(gpu.Config{}) // cuda when it works, else cpu
//	s, err := dev.NewStream()
//	yuv, err := dev.NewImage(gpu.YUV420P, w, h)
//	rgb, err := dev.NewImage(gpu.RGB24, w, h)
//	err = s.Upload(ctx, yuv.Buf, frameBytes) // YUV420P's packed layout (Layout)
//	err = s.YUV420PToRGB(rgb, yuv)
//	err = s.ColorGrade(rgb, 0.5)
//	err = s.Download(ctx, out, rgb.Buf)
//
// A Device is safe for concurrent use; a Stream is used by one goroutine at
// a time. Operations on one stream run in the order they were enqueued;
// between streams, order them with Sync. Kernel operations are enqueued and
// may still be running when they return (Sync waits for them); Upload and
// Download return when the copy is done.
package gpu

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/gotrickle/gotrickle/pkg/gpu/kernels"
)

// Kind names a backend.
type Kind string

const (
	// KindAuto is CUDA when this build has it and device Index opens, else
	// CPU (whatever the reason; open KindCUDA to get the error).
	KindAuto Kind = "auto"
	// KindCPU runs the Go reference kernels on host memory.
	KindCPU Kind = "cpu"
	// KindCUDA runs the CUDA kernels on an NVIDIA GPU (needs the cuda build tag).
	KindCUDA Kind = "cuda"
)

// Config selects a device. The zero value is KindAuto, device 0.
type Config struct {
	// Kind is "auto" (also ""), "cpu" or "cuda".
	Kind Kind
	// Index is the CUDA device ordinal (default 0); ignored for cpu.
	Index int
}

var (
	// ErrNotBuilt: cuda was asked for in a build without the cuda tag.
	ErrNotBuilt = errors.New("gpu: cuda requested but this binary was built without the cuda tag")
	// ErrNoDevice: cuda was asked for but no usable device is there (the
	// wrapped error says why: the driver's error, or the index is out of
	// range). Note that when the driver is missing or cuInit fails the cuda
	// build does not get this far: the binary does not load without
	// libcuda.so.1, and gorgonia.org/cu's package init exits the process
	// when cuInit fails.
	ErrNoDevice = errors.New("gpu: no usable CUDA device")
	// ErrClosed: the device or stream is closed.
	ErrClosed = errors.New("gpu: closed")
	// ErrFreed: the buffer was freed.
	ErrFreed = errors.New("gpu: buffer freed")
	// ErrSize: a size, stride, offset or rectangle does not fit.
	ErrSize = errors.New("gpu: bad size")
	// ErrFormat: an image has the wrong or an unknown format for the operation.
	ErrFormat = errors.New("gpu: bad format")
	// ErrInvalid: another bad argument (a nil buffer, a buffer of another
	// device, an intensity outside 0..1).
	ErrInvalid = errors.New("gpu: invalid argument")
)

// Open opens the device cfg selects. Close it when done.
func Open(cfg Config) (*Device, error) {
	if cfg.Index < 0 {
		return nil, fmt.Errorf("%w: device index %d", ErrInvalid, cfg.Index)
	}
	var b backend
	var err error
	switch cfg.Kind {
	case KindCPU:
		b = newCPU()
	case KindCUDA:
		b, err = openCUDA(cfg.Index)
		if err != nil {
			return nil, err
		}
	case KindAuto, "":
		b, err = openCUDA(cfg.Index)
		if err != nil {
			b = newCPU()
		}
	default:
		return nil, fmt.Errorf("%w: kind %q (want auto, cpu or cuda)", ErrInvalid, cfg.Kind)
	}
	index := cfg.Index
	if b.kind() == KindCPU {
		index = 0
	}
	return &Device{b: b, index: index, bufs: map[*Buffer]struct{}{}, streams: map[*Stream]struct{}{}}, nil
}

// Device is an opened device: the GPU (cuda) or the host (cpu).
type Device struct {
	b     backend
	index int
	// mu guards the fields below and the state of this device's buffers
	// and streams; operations hold it for reading while they run (cpu) or
	// are enqueued (cuda), Free and Close for writing.
	mu      sync.RWMutex
	closed  bool
	bufs    map[*Buffer]struct{}
	streams map[*Stream]struct{}
}

// Kind is KindCPU or KindCUDA.
func (d *Device) Kind() Kind { return d.b.kind() }

// Index is the CUDA device ordinal (0 for the cpu device): what other
// users of the device, such as FFmpeg's NVDEC, must be given to share it.
func (d *Device) Index() int { return d.index }

// Name describes the device, e.g. "NVIDIA H100 80GB HBM3 (cuda:0)" or "cpu".
func (d *Device) Name() string { return d.b.name() }

// Close syncs and closes the device's streams, frees its buffers and
// releases the device. Using any of them afterwards returns ErrClosed.
// Closing twice returns ErrClosed.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	d.closed = true
	var errs []error
	for s := range d.streams {
		errs = append(errs, s.sb.close())
		s.closed = true
	}
	for b := range d.bufs {
		errs = append(errs, d.b.free(b.mem))
		b.freed = true
	}
	d.streams, d.bufs = nil, nil
	errs = append(errs, d.b.close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gpu: close: %w", err)
	}
	return nil
}

// Buffer is device memory: Len bytes on the device (host memory on cpu).
type Buffer struct {
	dev   *Device
	mem   any // the backend's handle
	n     int
	freed bool // guarded by dev.mu
}

// Alloc allocates n bytes of device memory (n > 0). Its contents are
// undefined until written.
func (d *Device) Alloc(n int) (*Buffer, error) {
	if n <= 0 {
		return nil, fmt.Errorf("%w: alloc %d bytes", ErrSize, n)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, ErrClosed
	}
	m, err := d.b.alloc(n)
	if err != nil {
		return nil, fmt.Errorf("gpu: alloc %d bytes: %w", n, err)
	}
	b := &Buffer{dev: d, mem: m, n: n}
	d.bufs[b] = struct{}{}
	return b, nil
}

// Len is the buffer's size in bytes.
func (b *Buffer) Len() int { return b.n }

// Free frees the buffer; call it after the operations that use it are done
// (after Sync). Freeing twice returns ErrFreed.
func (b *Buffer) Free() error {
	d := b.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	if b.freed {
		return ErrFreed
	}
	b.freed = true
	delete(d.bufs, b)
	if err := d.b.free(b.mem); err != nil {
		return fmt.Errorf("gpu: free: %w", err)
	}
	return nil
}

// usable reports why b cannot be used on d; d.mu is held.
func (d *Device) usable(b *Buffer) error {
	switch {
	case b == nil:
		return fmt.Errorf("%w: nil buffer", ErrInvalid)
	case b.dev != d:
		return fmt.Errorf("%w: buffer of another device", ErrInvalid)
	case b.freed:
		return ErrFreed
	}
	return nil
}

// Stream is a queue of operations on a device.
type Stream struct {
	dev    *Device
	sb     streamBackend
	closed bool // guarded by dev.mu
}

// NewStream makes a stream. Close it when done (Device.Close closes it too).
func (d *Device) NewStream() (*Stream, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, ErrClosed
	}
	sb, err := d.b.newStream()
	if err != nil {
		return nil, fmt.Errorf("gpu: new stream: %w", err)
	}
	s := &Stream{dev: d, sb: sb}
	d.streams[s] = struct{}{}
	return s, nil
}

// Device is the device the stream runs on.
func (s *Stream) Device() *Device { return s.dev }

// Close waits for the stream's operations and releases it.
func (s *Stream) Close() error {
	d := s.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || s.closed {
		return ErrClosed
	}
	s.closed = true
	delete(d.streams, s)
	if err := s.sb.close(); err != nil {
		return fmt.Errorf("gpu: close stream: %w", err)
	}
	return nil
}

// begin takes the device's read lock for an operation on s and checks that
// s and bufs are usable; on success the caller must call d.mu.RUnlock.
func (s *Stream) begin(bufs ...*Buffer) error {
	d := s.dev
	d.mu.RLock()
	err := func() error {
		if d.closed || s.closed {
			return ErrClosed
		}
		for _, b := range bufs {
			if err := d.usable(b); err != nil {
				return err
			}
		}
		return nil
	}()
	if err != nil {
		d.mu.RUnlock()
	}
	return err
}

// Upload copies src to the start of dst (len(src) ≤ dst.Len()) after the
// stream's earlier operations, and returns when the copy is done: src may
// be reused at once.
func (s *Stream) Upload(ctx context.Context, dst *Buffer, src []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.begin(dst); err != nil {
		return err
	}
	defer s.dev.mu.RUnlock()
	if len(src) > dst.n {
		return fmt.Errorf("%w: upload %d bytes into a %d-byte buffer", ErrSize, len(src), dst.n)
	}
	if len(src) == 0 {
		return nil
	}
	if err := s.sb.upload(ctx, dst.mem, src); err != nil {
		return fmt.Errorf("gpu: upload: %w", err)
	}
	return nil
}

// Download copies the first len(dst) bytes of src (len(dst) ≤ src.Len())
// into dst after the stream's earlier operations, and returns when dst holds
// them.
func (s *Stream) Download(ctx context.Context, dst []byte, src *Buffer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.begin(src); err != nil {
		return err
	}
	defer s.dev.mu.RUnlock()
	if len(dst) > src.n {
		return fmt.Errorf("%w: download %d bytes from a %d-byte buffer", ErrSize, len(dst), src.n)
	}
	if len(dst) == 0 {
		return nil
	}
	if err := s.sb.download(ctx, dst, src.mem); err != nil {
		return fmt.Errorf("gpu: download: %w", err)
	}
	return nil
}

// Sync waits until the stream's operations are done, or ctx ends. It
// returns the first error of an operation that failed on the device.
func (s *Stream) Sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.begin(); err != nil {
		return err
	}
	defer s.dev.mu.RUnlock()
	if err := s.sb.sync(ctx); err != nil {
		return fmt.Errorf("gpu: sync: %w", err)
	}
	return nil
}

// backend is one implementation: cpu (cpu.go) or cuda (cuda.go).
type backend interface {
	kind() Kind
	name() string
	alloc(n int) (any, error)
	free(mem any) error
	newStream() (streamBackend, error)
	close() error
}

// streamBackend is one stream of a backend. upload and download are given
// non-empty slices that fit.
type streamBackend interface {
	upload(ctx context.Context, dst any, src []byte) error
	download(ctx context.Context, dst []byte, src any) error
	// launch enqueues kernel k over the grid of units (units[0] × units[1]
	// threads, see kernels.Table) with args in the kernel's CUDA parameter
	// order: devPtr, int32 or float32 values.
	launch(k kernels.Kernel, units [2]int, args []any) error
	// copyPlanes copies foreign planes into a buffer (planes.go) and
	// returns when the copy is done.
	copyPlanes(ctx context.Context, cp []planeCopy) error
	sync(ctx context.Context) error
	close() error
}

// devPtr is a pointer argument: offset off into a buffer's memory, with n
// bytes from there belonging to the argument (the CPU backend slices them).
type devPtr struct {
	mem    any
	off, n int
}
