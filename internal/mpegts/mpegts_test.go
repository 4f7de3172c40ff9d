package mpegts

import (
	"fmt"
	"math"
	"testing"
)

// pkt builds one packet of pid; with pusi it starts a video PES carrying
// pts and, when dts >= 0, a DTS.
func pkt(pid int, pusi bool, pts, dts int64) []byte {
	p := make([]byte, PacketSize)
	p[0], p[1], p[2], p[3] = 0x47, byte(pid>>8), byte(pid), 0x10
	if pusi {
		p[1] |= 0x40
		if dts < 0 {
			copy(p[4:], []byte{0, 0, 1, 0xE0, 0, 0, 0x80, 0x80, 5, 0x21, 0, 1, 0, 1})
		} else {
			copy(p[4:], []byte{0, 0, 1, 0xE0, 0, 0, 0x80, 0xC0, 10, 0x31, 0, 1, 0, 1, 0x11, 0, 1, 0, 1})
			WriteTimestamp(p[18:23], dts)
		}
		WriteTimestamp(p[13:18], pts)
	}
	return p
}

func concat(pkts ...[]byte) []byte {
	var b []byte
	for _, p := range pkts {
		b = append(b, p...)
	}
	return b
}

func TestTimestampsRoundTrip(t *testing.T) {
	for _, v := range []int64{0, 1, 126000, 900000 + 126000, 1<<32 + 12345, 1<<33 - 1} {
		for _, prefix := range []byte{0x21, 0x31, 0x11} { // PTS only, PTS of PTS+DTS, DTS
			t.Run(fmt.Sprintf("%d/%#x", v, prefix), func(t *testing.T) {
				b := []byte{prefix, 0, 1, 0, 1}
				WriteTimestamp(b, v)
				if got := ReadTimestamp(b); got != v {
					t.Fatalf("wrote %d, read %d", v, got)
				}
				if b[0]&0xF1 != prefix || b[2]&1 != 1 || b[4]&1 != 1 {
					t.Fatalf("prefix or marker bits lost: % x", b)
				}
			})
		}
	}
}

func TestPayload(t *testing.T) {
	for _, c := range []struct {
		name string
		afc  byte
		afl  byte
		want int // payload length, -1 for none
	}{
		{"payload only", 0x10, 0, PacketSize - 4},
		{"adaptation field only", 0x20, 183, -1},
		{"both", 0x30, 7, PacketSize - 4 - 8},
		{"adaptation field filling the packet", 0x30, 183, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := make([]byte, PacketSize)
			p[0], p[3], p[4] = 0x47, c.afc, c.afl
			pl := Payload(p)
			if got := len(pl); (pl == nil && c.want != -1) || (pl != nil && got != c.want) {
				t.Fatalf("payload of %d bytes (nil %v), want %d", got, pl == nil, c.want)
			}
		})
	}
}

func TestTrackerReportsFramesAcrossUnalignedWrites(t *testing.T) {
	stream := concat(
		pkt(0x100, true, 3000, -1),
		pkt(0x100, false, 0, -1),
		pkt(0x101, false, 0, -1), // another PID: not part of the frame
		pkt(0x100, true, 6000, 3000),
	)
	for _, c := range []struct {
		chunk int
		want  []PES
	}{
		// 100-byte writes: the first frame's last packet (bytes 188–375)
		// completes in write 4, the second frame's (564–751) in write 8.
		{100, []PES{{3000, -1, 4}, {6000, 3000, 8}}},
		{PacketSize, []PES{{3000, -1, 2}, {6000, 3000, 4}}},
		{len(stream), []PES{{3000, -1, 1}, {6000, 3000, 1}}},
	} {
		t.Run(fmt.Sprint(c.chunk), func(t *testing.T) {
			var got []PES
			tr := NewTracker(func(p PES) { got = append(got, p) })
			for i, stamp := 0, int64(1); i < len(stream); i, stamp = i+c.chunk, stamp+1 {
				tr.Write(stream[i:min(i+c.chunk, len(stream))], stamp)
			}
			tr.End()
			if fmt.Sprint(got) != fmt.Sprint(c.want) || tr.Bad() != 0 {
				t.Fatalf("frames %v (bad %d), want %v", got, tr.Bad(), c.want)
			}
		})
	}
}

func TestTrackerCountsStrayBytes(t *testing.T) {
	bad := pkt(0x100, false, 0, -1)
	bad[0] = 0
	var got []PES
	tr := NewTracker(func(p PES) { got = append(got, p) })
	tr.Write(concat(pkt(0x100, true, 3000, -1), bad, []byte{0x47, 1, 2}), 7)
	tr.End()
	if tr.Bad() != 2 || len(got) != 1 || got[0] != (PES{3000, -1, 7}) {
		t.Fatalf("bad %d, frames %v", tr.Bad(), got)
	}
}

func TestVideoFrames(t *testing.T) {
	noSync := pkt(0x100, false, 0, -1)
	noSync[0] = 0
	noPTS := pkt(0x100, true, 0, -1)
	noPTS[11] = 0 // PTS_DTS_flags 00
	for _, c := range []struct {
		name    string
		seg     []byte
		want    []Frame
		wantErr bool
	}{
		{"two frames", concat(pkt(0x100, true, 3000, -1), pkt(0x100, false, 0, -1), pkt(0x100, true, 6000, -1)),
			[]Frame{{3000, 2 * PacketSize}, {6000, 3 * PacketSize}}, false},
		{"not whole packets", pkt(0x100, true, 3000, -1)[:100], nil, true},
		{"a packet without the sync byte", concat(pkt(0x100, true, 3000, -1), noSync), nil, true},
		{"a PES without a PTS", noPTS, nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := VideoFrames(c.seg)
			if (err != nil) != c.wantErr || fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("%v, %v; want %v (error %v)", got, err, c.want, c.wantErr)
			}
		})
	}
}

func TestRetime(t *testing.T) {
	// A packet with a PCR (adaptation field of 7 bytes) and a PES with PTS
	// and DTS.
	withPCR := pkt(0x100, true, 1<<33-1000, 1<<33-4000)
	withPCR[3] = 0x30
	copy(withPCR[4:], make([]byte, 8))
	copy(withPCR[12:], pkt(0x100, true, 1<<33-1000, 1<<33-4000)[4:4+19])
	withPCR[4], withPCR[5] = 7, 0x10
	withPCR[6], withPCR[7], withPCR[8], withPCR[9], withPCR[10] = 0xFF, 0xFF, 0xFF, 0xFF, 0x80 // PCR base 2^33-1
	pcr := func(p []byte) int64 {
		b := p[6:12]
		return int64(b[0])<<25 | int64(b[1])<<17 | int64(b[2])<<9 | int64(b[3])<<1 | int64(b[4]>>7)
	}
	for _, c := range []struct {
		name           string
		f              func(int64) int64
		pts, dts, wpcr int64
	}{
		{"shift wraps at 33 bits", func(t int64) int64 { return t + 5000 }, 4000, 1000, 4999},
		{"identity", func(t int64) int64 { return t }, 1<<33 - 1000, 1<<33 - 4000, 1<<33 - 1},
		{"halve", func(t int64) int64 { return t / 2 }, (1<<33 - 1000) / 2, (1<<33 - 4000) / 2, (1<<33 - 1) / 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			orig := append([]byte(nil), withPCR...)
			out := Retime(withPCR, c.f)
			if string(orig) != string(withPCR) {
				t.Fatal("Retime changed its input")
			}
			pl := Payload(out)
			if pts, dts := ReadTimestamp(pl[9:14]), ReadTimestamp(pl[14:19]); pts != c.pts || dts != c.dts {
				t.Fatalf("PTS %d DTS %d, want %d %d", pts, dts, c.pts, c.dts)
			}
			if got := pcr(out); got != c.wpcr {
				t.Fatalf("PCR %d, want %d", got, c.wpcr)
			}
		})
	}
	// Shift moves the frames VideoFrames sees.
	stream := concat(pkt(0x100, true, 3000, -1), pkt(0x100, false, 0, -1), pkt(0x101, false, 0, -1), pkt(0x100, true, 6000, -1))
	fr, err := VideoFrames(Shift(stream, 900000))
	if err != nil || len(fr) != 2 || fr[0].PTS != 903000 || fr[1].PTS != 906000 || fr[0].End != 2*PacketSize {
		t.Fatalf("after shifting: %v, %v", fr, err)
	}
}

func TestPercentile(t *testing.T) {
	ten := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct {
		sorted []float64
		p      float64
		want   float64
	}{
		{ten, 50, 5},
		{ten, 95, 10},
		{ten, 0, 1},
		{ten, 100, 10},
		{ten, 11, 2},
		{[]float64{42}, 99, 42},
	} {
		if got := Percentile(c.sorted, c.p); got != c.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", c.sorted, c.p, got, c.want)
		}
	}
	if got := Percentile(nil, 50); !math.IsNaN(got) {
		t.Errorf("Percentile of nothing = %v, want NaN", got)
	}
}

func TestFirstVideoESStopsAtTheNextPES(t *testing.T) {
	first, cont, second, other := pkt(0x100, true, 9000, -1), pkt(0x100, false, 0, -1), pkt(0x100, true, 12000, -1), pkt(0x101, false, 0, -1)
	hdrEnd := 4 + 9 + 5 // TS header, PES header, PTS
	for _, c := range []struct {
		name string
		seg  []byte
		want int // bytes of ES
	}{
		{"one packet gives its payload after the PES header", concat(first), PacketSize - hdrEnd},
		{"a continuation on the same PID is added", concat(first, cont), 2*PacketSize - hdrEnd - 4},
		{"another PID is left out", concat(first, other, cont), 2*PacketSize - hdrEnd - 4},
		{"the next PES on the PID ends it", concat(first, cont, second, cont), 2*PacketSize - hdrEnd - 4},
		{"no video PES gives nothing", concat(cont, other), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := len(FirstVideoES(c.seg)); got != c.want {
				t.Fatalf("%d ES bytes, want %d", got, c.want)
			}
		})
	}
}
