package gpu

import (
	"context"
	"fmt"
)

// DevicePlanes are the planes of a picture that other code placed in the
// device's memory: FFmpeg's NVDEC decoder hands its pictures out this way.
// CopyPlanes copies them into an Image of the stream's own, so the owner
// can have its memory back at once.
//
// On the cuda backend Ptr holds device addresses in the device's primary
// context (the one this package and FFmpeg's cuda hwaccel, opened with
// primary_ctx, share). The cpu backend has no device memory of its own but
// host memory, so there the planes are Mem; a picture for one backend
// cannot be copied on the other.
type DevicePlanes struct {
	Format        Format // YUV420P or NV12
	Width, Height int
	Ptr           [3]uintptr // device addresses of the planes (cuda)
	Mem           [3][]byte  // the planes (cpu)
	Pitch         [3]int     // bytes from one row of a plane to the next
}

// check validates p for the stream's backend.
func (p DevicePlanes) check(k Kind) error {
	if p.Format != YUV420P && p.Format != NV12 {
		return fmt.Errorf("%w: device planes are %v, want yuv420p or nv12", ErrFormat, p.Format)
	}
	if p.Width <= 0 || p.Height <= 0 || p.Width > 1<<15 || p.Height > 1<<15 {
		return fmt.Errorf("%w: device planes of %dx%d", ErrSize, p.Width, p.Height)
	}
	for i := 0; i < p.Format.planes(); i++ {
		rb, rows := p.Format.plane(i, p.Width, p.Height)
		if p.Pitch[i] < rb || p.Pitch[i] > 1<<30 {
			return fmt.Errorf("%w: device plane %d has pitch %d (rows of %d bytes)", ErrSize, i, p.Pitch[i], rb)
		}
		switch k {
		case KindCPU:
			if need := p.Pitch[i]*(rows-1) + rb; len(p.Mem[i]) < need {
				return fmt.Errorf("%w: device plane %d has %d bytes, needs %d", ErrSize, i, len(p.Mem[i]), need)
			}
		default:
			if p.Ptr[i] == 0 {
				return fmt.Errorf("%w: device plane %d has no address", ErrInvalid, i)
			}
		}
	}
	return nil
}

// CopyPlanes copies the picture p into dst, an image of the same format
// and size, after the stream's earlier operations and after the work
// already queued on the device by other code in this process (the decoder
// that wrote p), and returns when the copy is done: p's memory may be given
// back to its owner at once.
func (s *Stream) CopyPlanes(ctx context.Context, dst Image, p DevicePlanes) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := dst.check("dst", YUV420P, NV12); err != nil {
		return err
	}
	if dst.Format != p.Format || dst.Width != p.Width || dst.Height != p.Height {
		return fmt.Errorf("%w: copying %v %dx%d planes into a %v %dx%d image", ErrInvalid, p.Format, p.Width, p.Height, dst.Format, dst.Width, dst.Height)
	}
	if err := s.begin(dst.Buf); err != nil {
		return err
	}
	defer s.dev.mu.RUnlock()
	if err := p.check(s.dev.b.kind()); err != nil {
		return err
	}
	var cp [3]planeCopy
	for i := 0; i < p.Format.planes(); i++ {
		rb, rows := p.Format.plane(i, p.Width, p.Height)
		d, stride := dst.ptr(i)
		cp[i] = planeCopy{dst: d, dstPitch: int(stride), src: p.Ptr[i], srcMem: p.Mem[i], srcPitch: p.Pitch[i], rowBytes: rb, rows: rows}
	}
	if err := s.sb.copyPlanes(ctx, cp[:p.Format.planes()]); err != nil {
		return fmt.Errorf("gpu: copy planes: %w", err)
	}
	return nil
}

// planeCopy is one plane of a CopyPlanes: rows of rowBytes from the
// foreign plane (src on cuda, srcMem on cpu) into dst.
type planeCopy struct {
	dst            devPtr
	dstPitch       int
	src            uintptr
	srcMem         []byte
	srcPitch       int
	rowBytes, rows int
}
