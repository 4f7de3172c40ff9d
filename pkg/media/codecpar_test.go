package media

import (
	"bytes"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
)

// opusStartTrim reports whether a segment's first Opus access unit carries
// a start trim (ETSI TS 102 366-style control header of Opus in MPEG-TS:
// 0x7FE0 prefix, start_trim_flag 0x10 in the second byte), and whether it
// found one at all. Opus PES packets use stream id 0xBD.
func opusStartTrim(t *testing.T, seg []byte) (trim, found bool) {
	t.Helper()
	for off := 0; off+188 <= len(seg); off += 188 {
		p := seg[off : off+188]
		if p[0] != 0x47 || p[1]&0x40 == 0 { // a PES starts in a packet with PUSI
			continue
		}
		pl := 4
		if afc := p[3] >> 4 & 3; afc == 2 {
			continue
		} else if afc == 3 {
			pl += 1 + int(p[4])
		}
		if pl+9 > 188 {
			continue
		}
		pes := p[pl:]
		if !bytes.HasPrefix(pes, []byte{0, 0, 1, 0xBD}) {
			continue
		}
		data := pes[9+int(pes[8]):]
		if len(data) < 2 || data[0] != 0x7F || data[1]&0xE0 != 0xE0 {
			t.Fatalf("an Opus PES without the control header: % x", data[:min(4, len(data))])
		}
		return data[1]&0x10 != 0, true
	}
	return false, false
}

func TestOnlyTheFirstOpusSegmentSignalsThePriming(t *testing.T) {
	fx, err := loadManifest(t).Fixture("h264-aac-320x240")
	if err != nil {
		t.Fatal(err)
	}
	vs, _ := fx.Video()
	as, _ := fx.Audio()
	in, err := fx.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	sink := transcode(t, in, vs.Width, vs.Height, EncoderConfig{Preset: "ultrafast", GOP: time.Second,
		SegmentDuration: time.Second, AudioChannels: as.Channels, AudioSampleRate: as.SampleRate})
	if len(sink.segs) < 3 {
		t.Fatalf("only %d segments", len(sink.segs))
	}
	for i, s := range sink.segs {
		trim, found := opusStartTrim(t, s.Bytes())
		if !found {
			t.Fatalf("segment %d has no Opus packet", i)
		}
		if want := i == 0; trim != want {
			t.Fatalf("segment %d: start trim %v, want %v (only the first holds the encoder's priming)", i, trim, want)
		}
	}
}

func TestCodecParametersAreReachable(t *testing.T) {
	cp := astiav.AllocCodecParameters()
	defer cp.Free()
	cp.SetCodecID(astiav.CodecIDOpus)
	if err := setInitialPadding(cp, 312); err != nil {
		t.Fatal(err)
	}
	if n, err := initialPadding(cp); err != nil || n != 312 {
		t.Fatalf("initial padding %d, %v; want 312", n, err)
	}
}
