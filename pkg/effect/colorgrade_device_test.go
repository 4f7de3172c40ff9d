package effect

import (
	"bytes"
	"context"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/gpu"
	"github.com/gotrickle/gotrickle/pkg/processor"
)

func TestColorGradeOnADeviceFrameEqualsTheHostGrade(t *testing.T) {
	ctx := context.Background()
	dev, err := gpu.Open(gpu.Config{Kind: gpu.KindCPU})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	s, err := dev.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	dc := frame.NewDeviceContext(dev, s)
	defer dc.Close()
	for _, k := range []float64{0.25, 0.5, 0.75, 1} {
		host, _ := frame.NewVideo(64, 16)
		for i := range host.Pix {
			host.Pix[i] = byte(i * 13)
		}
		onDev := host.Clone()
		if err := dc.Upload(ctx, onDev); err != nil {
			t.Fatal(err)
		}
		g := &ColorGrade{}
		if err := g.SetIntensity(k); err != nil {
			t.Fatal(err)
		}
		if _, err := g.HandleVideo(ctx, host); err != nil {
			t.Fatal(err)
		}
		if _, err := g.HandleVideo(ctx, onDev); err != nil {
			t.Fatal(err)
		}
		if !onDev.OnDevice() {
			t.Fatalf("intensity %v: the device frame was brought to the host to be graded", k)
		}
		if err := onDev.Host(ctx); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(onDev.Pix, host.Pix) {
			t.Fatalf("intensity %v: the device grade differs from the host grade", k)
		}
		host.Release()
		onDev.Release()
	}
}

var (
	_ processor.DeviceVideoHandler = (*ColorGrade)(nil)
	_ processor.DeviceVideoHandler = Passthrough{}
)
