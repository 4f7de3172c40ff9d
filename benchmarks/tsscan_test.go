package benchmarks

import (
	"fmt"
	"testing"
)

// MPEG-TS scanning for the processor benchmarks: which packets make up each
// video frame (one PES per frame), with its PTS, on the input before it is
// sent and on the output while it arrives; and shifting every timestamp of
// a stream so that the input can be sent twice in a row.

const tsPacketSize = 188

// pesTracker follows an MPEG-TS stream packet by packet and reports each
// video PES once it is complete (when the next video PES starts, or at
// end), with its PTS (-1 when it has none) and the stamp given with its
// last packet. The video PID is the first one whose PES has a video
// stream_id (0xE0–0xEF).
type pesTracker struct {
	videoPID int
	open     bool
	pts      int64
	last     int64
	partial  []byte
	bad      int // packets without the sync byte
	done     func(pts, last int64)
}

func newPESTracker(done func(pts, last int64)) *pesTracker {
	return &pesTracker{videoPID: -1, done: done}
}

// write feeds bytes as they arrive (not aligned to packets); every packet
// completed by them gets stamp.
func (t *pesTracker) write(p []byte, stamp int64) {
	if len(t.partial) > 0 {
		n := min(tsPacketSize-len(t.partial), len(p))
		t.partial = append(t.partial, p[:n]...)
		p = p[n:]
		if len(t.partial) < tsPacketSize {
			return
		}
		t.packet(t.partial, stamp)
		t.partial = t.partial[:0]
	}
	for len(p) >= tsPacketSize {
		t.packet(p[:tsPacketSize], stamp)
		p = p[tsPacketSize:]
	}
	t.partial = append(t.partial, p...)
}

// end closes the PES still open: a trickle segment is a whole TS file, so
// its end is the end of its last frame.
func (t *pesTracker) end() {
	if t.open {
		t.done(t.pts, t.last)
		t.open = false
	}
	if len(t.partial) > 0 {
		t.bad++
		t.partial = t.partial[:0]
	}
}

func (t *pesTracker) packet(pkt []byte, stamp int64) {
	if pkt[0] != 0x47 {
		t.bad++
		return
	}
	pid := int(pkt[1]&0x1f)<<8 | int(pkt[2])
	pusi := pkt[1]&0x40 != 0
	pl := tsPayload(pkt)
	if pl == nil {
		return
	}
	if pusi && t.videoPID < 0 && isPES(pl) && pl[3]&0xF0 == 0xE0 {
		t.videoPID = pid
	}
	if pid != t.videoPID {
		return
	}
	if pusi {
		if t.open {
			t.done(t.pts, t.last)
		}
		t.open, t.pts = true, -1
		if isPES(pl) && len(pl) >= 14 && pl[7]&0x80 != 0 {
			t.pts = readTimestamp(pl[9:14])
		}
	}
	if t.open {
		t.last = stamp
	}
}

// tsPayload returns a packet's payload, nil when it has none.
func tsPayload(pkt []byte) []byte {
	afc := pkt[3] >> 4 & 3
	if afc&1 == 0 {
		return nil
	}
	off := 4
	if afc&2 != 0 {
		off += 1 + int(pkt[4])
	}
	if off >= tsPacketSize {
		return nil
	}
	return pkt[off:]
}

func isPES(pl []byte) bool { return len(pl) >= 9 && pl[0] == 0 && pl[1] == 0 && pl[2] == 1 }

// readTimestamp decodes a 33-bit PES timestamp (PTS or DTS, 90 kHz).
func readTimestamp(b []byte) int64 {
	return int64(b[0]>>1&7)<<30 | int64(b[1])<<22 | int64(b[2]>>1)<<15 | int64(b[3])<<7 | int64(b[4]>>1)
}

// writeTimestamp encodes v into a PES timestamp, keeping its prefix and
// marker bits.
func writeTimestamp(b []byte, v int64) {
	v &= 1<<33 - 1
	b[0] = b[0]&0xF1 | byte(v>>29)&0x0E
	b[1] = byte(v >> 22)
	b[2] = byte(v>>14)&0xFE | b[2]&1
	b[3] = byte(v >> 7)
	b[4] = byte(v<<1)&0xFE | b[4]&1
}

// tsFrame is one video frame of a segment: its PTS and the offset just
// past its last packet.
type tsFrame struct {
	pts int64
	end int
}

// tsVideoFrames lists a segment's video frames in order.
func tsVideoFrames(seg []byte) ([]tsFrame, error) {
	if len(seg)%tsPacketSize != 0 {
		return nil, fmt.Errorf("segment of %d bytes is not whole TS packets", len(seg))
	}
	var frames []tsFrame
	t := newPESTracker(func(pts, last int64) { frames = append(frames, tsFrame{pts: pts, end: int(last)}) })
	for off := 0; off < len(seg); off += tsPacketSize {
		t.packet(seg[off:off+tsPacketSize], int64(off+tsPacketSize))
	}
	t.end()
	if t.bad > 0 {
		return nil, fmt.Errorf("%d packets without the sync byte", t.bad)
	}
	for _, f := range frames {
		if f.pts < 0 {
			return nil, fmt.Errorf("a video PES without a PTS")
		}
	}
	return frames, nil
}

// shiftTS returns a copy of seg with every PES timestamp (PTS and DTS)
// moved by off (90 kHz) and every PCR with them.
func shiftTS(seg []byte, off int64) []byte {
	out := append([]byte(nil), seg...)
	for i := 0; i+tsPacketSize <= len(out); i += tsPacketSize {
		pkt := out[i : i+tsPacketSize]
		if pkt[0] != 0x47 {
			continue
		}
		afc := pkt[3] >> 4 & 3
		if afc&2 != 0 && pkt[4] >= 7 && pkt[5]&0x10 != 0 {
			p := pkt[6:12]
			base := int64(p[0])<<25 | int64(p[1])<<17 | int64(p[2])<<9 | int64(p[3])<<1 | int64(p[4]>>7)
			base = (base + off) & (1<<33 - 1)
			p[0], p[1], p[2], p[3] = byte(base>>25), byte(base>>17), byte(base>>9), byte(base>>1)
			p[4] = byte(base<<7)&0x80 | p[4]&0x7F
		}
		pl := tsPayload(pkt)
		if pkt[1]&0x40 == 0 || pl == nil || !isPES(pl) || len(pl) < 14 {
			continue
		}
		if sid := pl[3]; sid < 0xBD || sid == 0xBE || sid == 0xBF {
			continue // no optional PES header
		}
		flags := pl[7] >> 6
		if flags&2 != 0 {
			writeTimestamp(pl[9:14], readTimestamp(pl[9:14])+off)
		}
		if flags == 3 && len(pl) >= 19 {
			writeTimestamp(pl[14:19], readTimestamp(pl[14:19])+off)
		}
	}
	return out
}

func TestPESTimestampsRoundTrip(t *testing.T) {
	for _, v := range []int64{0, 1, 126000, 900000 + 126000, 1<<32 + 12345, 1<<33 - 1} {
		for _, prefix := range []byte{0x21, 0x31, 0x11} { // PTS only, PTS of PTS+DTS, DTS
			b := []byte{prefix, 0, 1, 0, 1}
			writeTimestamp(b, v)
			if got := readTimestamp(b); got != v {
				t.Fatalf("wrote %d, read %d", v, got)
			}
			if b[0]&0xF1 != prefix || b[2]&1 != 1 || b[4]&1 != 1 {
				t.Fatalf("prefix or marker bits lost: % x", b)
			}
		}
	}
}

func TestPESTrackerReportsFramesAcrossUnalignedWrites(t *testing.T) {
	pes := func(pid int, pusi bool, pts int64) []byte {
		pkt := make([]byte, tsPacketSize)
		pkt[0], pkt[1], pkt[2], pkt[3] = 0x47, byte(pid>>8), byte(pid), 0x10
		if pusi {
			pkt[1] |= 0x40
			copy(pkt[4:], []byte{0, 0, 1, 0xE0, 0, 0, 0x80, 0x80, 5, 0x21, 0, 1, 0, 1})
			writeTimestamp(pkt[13:18], pts)
		}
		return pkt
	}
	var stream []byte
	stream = append(stream, pes(0x100, true, 3000)...)
	stream = append(stream, pes(0x100, false, 0)...)
	stream = append(stream, pes(0x101, false, 0)...) // another PID: not part of the frame
	stream = append(stream, pes(0x100, true, 6000)...)
	type got struct{ pts, last int64 }
	var frames []got
	tr := newPESTracker(func(pts, last int64) { frames = append(frames, got{pts, last}) })
	for i, stamp := 0, int64(1); i < len(stream); i, stamp = i+100, stamp+1 {
		tr.write(stream[i:min(i+100, len(stream))], stamp)
	}
	tr.end()
	// 100-byte writes: the first frame's last packet (bytes 188–375) completes
	// in write 4, the second frame's (564–751) in write 8.
	want := []got{{3000, 4}, {6000, 8}}
	if fmt.Sprint(frames) != fmt.Sprint(want) || tr.bad != 0 {
		t.Fatalf("frames %v (bad %d), want %v", frames, tr.bad, want)
	}
	shifted := shiftTS(stream, 900000)
	fr, err := tsVideoFrames(shifted)
	if err != nil || len(fr) != 2 || fr[0].pts != 903000 || fr[1].pts != 906000 || fr[0].end != 2*tsPacketSize {
		t.Fatalf("after shifting: %v, %v", fr, err)
	}
}
