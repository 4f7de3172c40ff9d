// Package media turns trickle segments into frames and back with FFmpeg
// (through go-astiav v0.16.0 on FFmpeg 5.1). It is the only package that
// needs cgo besides the GPU path.
//
// Each trickle segment is a complete MPEG-TS file, so the decoder opens a
// fresh demuxer and decoder per segment and drains them when the segment's
// last byte has been read: every frame of a segment leaves the decoder
// without waiting for the next segment (PyTrickle holds the last frames of
// each segment for a whole segment).
package media
