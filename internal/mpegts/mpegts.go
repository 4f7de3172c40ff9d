// Package mpegts is minimal MPEG-TS packet and PES scanning for tests and
// benchmarks: packet payloads, PES starts with their PTS (and DTS),
// per-frame last-packet positions, and timestamp rewriting. It also holds
// the nearest-rank percentile the latency figures use.
//
// It is no demuxer: it knows one video PID (the first whose PES has a video
// stream_id) and trusts its input to be whole 188-byte packets.
package mpegts

import (
	"fmt"
	"math"
)

// PacketSize is the size of an MPEG-TS packet.
const PacketSize = 188

// PES is one complete video PES: its PTS and DTS (-1 when absent) and the
// stamp given with its last packet (a time, or a byte offset).
type PES struct {
	PTS, DTS int64
	Last     int64
}

// Tracker follows an MPEG-TS stream packet by packet and reports each video
// PES once it is complete (when the next video PES starts, or at End). The
// video PID is the first one whose PES has a video stream_id (0xE0–0xEF).
type Tracker struct {
	videoPID int
	open     bool
	cur      PES
	partial  []byte
	bad      int
	done     func(PES)
}

// NewTracker returns a Tracker that calls done with each complete video PES.
func NewTracker(done func(PES)) *Tracker {
	return &Tracker{videoPID: -1, done: done}
}

// Bad is the number of stray packets so far: packets without the sync
// byte, and bytes left over at End that are not a whole packet.
func (t *Tracker) Bad() int { return t.bad }

// Write feeds bytes as they arrive (not aligned to packets); every packet
// completed by them gets stamp.
func (t *Tracker) Write(p []byte, stamp int64) {
	if len(t.partial) > 0 {
		n := min(PacketSize-len(t.partial), len(p))
		t.partial = append(t.partial, p[:n]...)
		p = p[n:]
		if len(t.partial) < PacketSize {
			return
		}
		t.Packet(t.partial, stamp)
		t.partial = t.partial[:0]
	}
	for len(p) >= PacketSize {
		t.Packet(p[:PacketSize], stamp)
		p = p[PacketSize:]
	}
	t.partial = append(t.partial, p...)
}

// End closes the PES still open: a trickle segment is a whole TS file, so
// its end is the end of its last frame.
func (t *Tracker) End() {
	if t.open {
		t.done(t.cur)
		t.open = false
	}
	if len(t.partial) > 0 {
		t.bad++
		t.partial = t.partial[:0]
	}
}

// Packet feeds one whole packet.
func (t *Tracker) Packet(pkt []byte, stamp int64) {
	if pkt[0] != 0x47 {
		t.bad++
		return
	}
	pid := PID(pkt)
	pusi := PUSI(pkt)
	pl := Payload(pkt)
	if pl == nil {
		return
	}
	if pusi && t.videoPID < 0 && IsPES(pl) && pl[3]&0xF0 == 0xE0 {
		t.videoPID = pid
	}
	if pid != t.videoPID {
		return
	}
	if pusi {
		if t.open {
			t.done(t.cur)
		}
		t.open, t.cur = true, PES{PTS: -1, DTS: -1}
		if IsPES(pl) && len(pl) >= 14 && pl[7]&0x80 != 0 {
			t.cur.PTS = ReadTimestamp(pl[9:14])
			if pl[7]&0x40 != 0 && len(pl) >= 19 {
				t.cur.DTS = ReadTimestamp(pl[14:19])
			}
		}
	}
	if t.open {
		t.cur.Last = stamp
	}
}

// PID is a packet's PID.
func PID(pkt []byte) int { return int(pkt[1]&0x1f)<<8 | int(pkt[2]) }

// PUSI reports a packet's payload_unit_start_indicator.
func PUSI(pkt []byte) bool { return pkt[1]&0x40 != 0 }

// Payload returns a packet's payload, nil when it has none.
func Payload(pkt []byte) []byte {
	afc := pkt[3] >> 4 & 3
	if afc&1 == 0 {
		return nil
	}
	off := 4
	if afc&2 != 0 {
		off += 1 + int(pkt[4])
	}
	if off >= PacketSize {
		return nil
	}
	return pkt[off:]
}

// FirstVideoES returns the elementary-stream bytes of a segment's first
// video PES (stream_id 0xE0–0xEF): its payload from the PES header on, up
// to the next PES start on the same PID. Nil when there is none.
func FirstVideoES(seg []byte) []byte {
	var es []byte
	videoPID := -1
	for off := 0; off+PacketSize <= len(seg); off += PacketSize {
		pkt := seg[off : off+PacketSize]
		pl := Payload(pkt)
		if pl == nil {
			continue
		}
		switch {
		case videoPID < 0 && PUSI(pkt) && IsPES(pl) && pl[3]&0xF0 == 0xE0:
			videoPID = PID(pkt)
			if hdr := 9 + int(pl[8]); hdr <= len(pl) {
				es = append(es, pl[hdr:]...)
			}
		case PID(pkt) == videoPID:
			if PUSI(pkt) {
				return es
			}
			es = append(es, pl...)
		}
	}
	return es
}

// IsPES reports whether a payload starts a PES (its start code prefix and
// room for the fixed header).
func IsPES(pl []byte) bool { return len(pl) >= 9 && pl[0] == 0 && pl[1] == 0 && pl[2] == 1 }

// ReadTimestamp decodes a 33-bit PES timestamp (PTS or DTS, 90 kHz).
func ReadTimestamp(b []byte) int64 {
	return int64(b[0]>>1&7)<<30 | int64(b[1])<<22 | int64(b[2]>>1)<<15 | int64(b[3])<<7 | int64(b[4]>>1)
}

// WriteTimestamp encodes v into a PES timestamp, keeping its prefix and
// marker bits.
func WriteTimestamp(b []byte, v int64) {
	v &= 1<<33 - 1
	b[0] = b[0]&0xF1 | byte(v>>29)&0x0E
	b[1] = byte(v >> 22)
	b[2] = byte(v>>14)&0xFE | b[2]&1
	b[3] = byte(v >> 7)
	b[4] = byte(v<<1)&0xFE | b[4]&1
}

// Frame is one video frame of a segment: its PTS and the offset just past
// its last packet.
type Frame struct {
	PTS int64
	End int
}

// VideoFrames lists a segment's video frames in order. It fails when seg is
// not whole packets, has a packet without the sync byte, or has a video PES
// without a PTS.
func VideoFrames(seg []byte) ([]Frame, error) {
	if len(seg)%PacketSize != 0 {
		return nil, fmt.Errorf("segment of %d bytes is not whole TS packets", len(seg))
	}
	var frames []Frame
	t := NewTracker(func(p PES) { frames = append(frames, Frame{PTS: p.PTS, End: int(p.Last)}) })
	for off := 0; off < len(seg); off += PacketSize {
		t.Packet(seg[off:off+PacketSize], int64(off+PacketSize))
	}
	t.End()
	if t.bad > 0 {
		return nil, fmt.Errorf("%d packets without the sync byte", t.bad)
	}
	for _, f := range frames {
		if f.PTS < 0 {
			return nil, fmt.Errorf("a video PES without a PTS")
		}
	}
	return frames, nil
}

// Retime returns a copy of seg with every PES timestamp (PTS and DTS) and
// every PCR mapped through f (90 kHz; results wrap at 33 bits).
func Retime(seg []byte, f func(int64) int64) []byte {
	out := append([]byte(nil), seg...)
	for i := 0; i+PacketSize <= len(out); i += PacketSize {
		pkt := out[i : i+PacketSize]
		if pkt[0] != 0x47 {
			continue
		}
		afc := pkt[3] >> 4 & 3
		if afc&2 != 0 && pkt[4] >= 7 && pkt[5]&0x10 != 0 {
			p := pkt[6:12]
			base := int64(p[0])<<25 | int64(p[1])<<17 | int64(p[2])<<9 | int64(p[3])<<1 | int64(p[4]>>7)
			base = f(base) & (1<<33 - 1)
			p[0], p[1], p[2], p[3] = byte(base>>25), byte(base>>17), byte(base>>9), byte(base>>1)
			p[4] = byte(base<<7)&0x80 | p[4]&0x7F
		}
		pl := Payload(pkt)
		if !PUSI(pkt) || pl == nil || !IsPES(pl) || len(pl) < 14 {
			continue
		}
		if sid := pl[3]; sid < 0xBD || sid == 0xBE || sid == 0xBF {
			continue // no optional PES header
		}
		flags := pl[7] >> 6
		if flags&2 != 0 {
			WriteTimestamp(pl[9:14], f(ReadTimestamp(pl[9:14])))
		}
		if flags == 3 && len(pl) >= 19 {
			WriteTimestamp(pl[14:19], f(ReadTimestamp(pl[14:19])))
		}
	}
	return out
}

// Shift returns a copy of seg with every timestamp moved by off (90 kHz).
func Shift(seg []byte, off int64) []byte {
	return Retime(seg, func(t int64) int64 { return t + off })
}

// Percentile of sorted values, nearest rank; NaN when there are none.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
