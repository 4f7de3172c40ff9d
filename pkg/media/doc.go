// Package media turns trickle segments into frames and back with FFmpeg
// (through go-astiav v0.16.0 on FFmpeg 5.1). It is the only package that
// needs cgo besides the GPU path.
//
// Each trickle segment is a complete MPEG-TS file, so the decoder opens a
// fresh demuxer and decoder per segment and drains them when the segment's
// last byte has been read: every frame of a segment leaves the decoder
// without waiting for the next segment (PyTrickle holds the last frames of
// each segment for a whole segment).
//
// Video pictures go out as RGB24 frames of the configured size, converted
// and scaled here by swscale, or, with DecoderConfig.Raw, as raw frames
// (frame.NewRawVideo) that keep the decoded YUV 4:2:0 planes and are
// converted where they are used, on a device or on the CPU. With
// DecoderConfig.HWAccel "cuda", H.264 decodes on NVDEC (FFmpeg's cuda
// hwaccel, on the device's primary CUDA context, which pkg/gpu shares),
// and raw frames keep the pictures on the device.
package media
