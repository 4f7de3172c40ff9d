package frame_test

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// A handler in PyTrickle's style: take the tensor, change it, put it back.
// The frame keeps its PTS and time base.
func ExampleVideo_ReplaceTensor() {
	v, _ := frame.GetVideo(2, 1)
	defer v.Release()
	v.SetRGB(0, 0, frame.RGB{R: 255})
	v.SetRGB(1, 0, frame.RGB{G: 51, B: 102})

	t := v.Tensor()
	defer frame.ReleaseTensor(t)
	for i := range t {
		t[i] = 1 - t[i] // invert
	}
	if err := v.ReplaceTensor(t); err != nil {
		panic(err)
	}
	fmt.Println(v.RGBAt(0, 0), v.RGBAt(1, 0))
	// Output: {0 255 255} {255 204 153}
}

// A Video is a draw.Image: the standard library paints on it directly.
func ExampleVideo_drawing() {
	v, _ := frame.NewVideo(4, 4)
	red := image.NewUniform(color.RGBA{R: 255, A: 255})
	draw.Draw(v, image.Rect(1, 1, 3, 3), red, image.Point{}, draw.Src)
	fmt.Println(v.RGBAt(0, 0), v.RGBAt(1, 1), v.RGBAt(2, 2), v.RGBAt(3, 3))
	// Output: {0 0 0} {255 0 0} {255 0 0} {0 0 0}
}

// Timestamps move between time bases exactly: an NTSC frame index to
// MPEG-TS's 90 kHz clock and back.
func ExampleRescale() {
	ntsc, ts := frame.Rational{Num: 1001, Den: 30000}, frame.Rational{Num: 1, Den: 90000}
	ticks := frame.Rescale(1_000_000, ntsc, ts)
	fmt.Println(ticks, frame.Rescale(ticks, ts, ntsc), ts.Duration(ticks))
	// Output: 3003000000 1000000 9h16m6.666666667s
}

// A drift-free frame-rate cap: keep a frame when it reaches the next slot
// of a 24 fps grid, comparing in exact arithmetic.
func ExampleCompareTS() {
	tb, cap24 := frame.Rational{Num: 1, Den: 90000}, frame.Rational{Num: 1, Den: 24}
	var slot int64
	kept := 0
	for i := range 30 { // one second of 30 fps input
		pts := int64(i) * 3000
		if frame.CompareTS(pts, tb, slot, cap24) >= 0 {
			kept++
			slot = frame.RescaleRound(pts, tb, cap24, frame.RoundDown) + 1
		}
	}
	fmt.Println(kept)
	// Output: 24
}
