package media

import (
	"bytes"
	"context"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// FuzzDecodeSegment: any bytes given as a segment decode to frames or an
// error, never a crash.
func FuzzDecodeSegment(f *testing.F) {
	m, err := loadManifestF()
	if err == nil {
		for _, name := range []string{"h264-aac-320x240", "broken-truncated", "broken-no-keyframe"} {
			if fx, err := m.Fixture(name); err == nil {
				if b, err := fx.Bytes(); err == nil {
					f.Add(b[:min(len(b), 24<<10)])
				}
			}
		}
	}
	f.Add([]byte{0x47, 0x40, 0x00, 0x10})
	d, err := NewDecoder(DecoderConfig{Width: 32, Height: 32, MaxFramerate: NoFramerateCap})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(d.Close)
	f.Fuzz(func(t *testing.T, in []byte) {
		d.DecodeSegment(context.Background(), bytes.NewReader(in), Handlers{
			Video: func(v *frame.Video) error { v.Release(); return nil },
			Audio: func(a *frame.Audio) error { a.Release(); return nil },
		})
	})
}
