package processor_test

import (
	"errors"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/effect"
	"github.com/gotrickle/gotrickle/pkg/gpu"
	"github.com/gotrickle/gotrickle/pkg/media"
	"github.com/gotrickle/gotrickle/pkg/processor"
)

// The device path on a real GPU: a -tags cuda build on a machine with the
// NVIDIA driver (bin/gpu-bundle, CI/gpu-bundle.sh); elsewhere it skips.
// Decoded in software and uploaded as YUV, then with NVDEC, every frame
// is converted, graded and encoded from the device, none downloaded.
func TestTheDevicePathOnCUDA(t *testing.T) {
	dev, err := gpu.Open(gpu.Config{Kind: gpu.KindCUDA})
	if err != nil {
		t.Skipf("no CUDA device: %v", err)
	}
	defer dev.Close()
	t.Logf("device: %s", dev.Name())
	for _, hw := range []string{"", media.HWAccelCUDA} {
		name := "decoded in software"
		if hw != "" {
			name = "decoded on NVDEC"
		}
		t.Run(name, func(t *testing.T) {
			if hw != "" {
				d, err := media.NewDecoder(media.DecoderConfig{HWAccel: hw})
				if errors.Is(err, media.ErrHWAccel) {
					t.Skipf("NVDEC cannot open here: %v", err)
				}
				if err != nil {
					t.Fatal(err)
				}
				d.Close()
			}
			withHW := func(c *processor.Config) { c.HWDecode = hw }
			plain := runOnDevice(t, processor.Funcs{}, dev, withHW)
			graded := runOnDevice(t, &effect.ColorGrade{}, dev, withHW)
			for _, r := range []deviceRun{plain, graded} {
				c := r.counters
				if r.out.video != r.frames || c.VideoOut != uint64(r.frames) || r.out.w != 320 || r.out.h != 240 {
					t.Fatalf("%d frames in, %d out (counted %d) at %dx%d", r.frames, r.out.video, c.VideoOut, r.out.w, r.out.h)
				}
				if r.raw != int64(c.VideoIn) || c.DeviceUploads != c.VideoIn || c.DeviceDownloads != 0 ||
					c.DeviceEncoded != c.VideoOut || c.DeviceErrors != 0 {
					t.Fatalf("%d raw of %d in; device counters: %d uploads, %d downloads, %d encoded, %d errors",
						r.raw, c.VideoIn, c.DeviceUploads, c.DeviceDownloads, c.DeviceEncoded, c.DeviceErrors)
				}
			}
			if d := graded.luma / plain.luma; d >= 0.85 {
				t.Fatalf("graded mean luma %.1f against the passthrough's %.1f: the grade did not show", graded.luma, plain.luma)
			}
		})
	}
}
