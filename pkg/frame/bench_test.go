package frame

import "testing"

// 720p, the size the pools exist for: 2.7 MB of pixels, an 11 MB tensor.
const benchW, benchH = 1280, 720

func benchFrame(b *testing.B) *Video {
	v, err := GetVideo(benchW, benchH)
	if err != nil {
		b.Fatal(err)
	}
	fillPattern(v)
	b.SetBytes(int64(len(v.Pix)))
	b.ReportAllocs()
	return v
}

// BenchmarkTensor720p is the pooled path a handler takes: Tensor, then
// ReleaseTensor when done with it.
func BenchmarkTensor720p(b *testing.B) {
	v := benchFrame(b)
	for b.Loop() {
		ReleaseTensor(v.Tensor())
	}
}

// BenchmarkTensorInto720p fills a buffer the caller keeps.
func BenchmarkTensorInto720p(b *testing.B) {
	v := benchFrame(b)
	buf := make([]float32, TensorLen(benchW, benchH))
	for b.Loop() {
		buf = v.TensorInto(buf)
	}
}

func BenchmarkReplaceTensor720p(b *testing.B) {
	v := benchFrame(b)
	t := v.Tensor()
	for b.Loop() {
		if err := v.ReplaceTensor(t); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTensorRoundTrip720p is a whole tensor handler's overhead.
func BenchmarkTensorRoundTrip720p(b *testing.B) {
	v := benchFrame(b)
	for b.Loop() {
		t := v.Tensor()
		if err := v.ReplaceTensor(t); err != nil {
			b.Fatal(err)
		}
		ReleaseTensor(t)
	}
}

// BenchmarkGetRelease720p is the decoder's per-frame cost of a frame.
func BenchmarkGetRelease720p(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		v, err := GetVideo(benchW, benchH)
		if err != nil {
			b.Fatal(err)
		}
		v.Release()
	}
}

func BenchmarkClone720p(b *testing.B) {
	v := benchFrame(b)
	for b.Loop() {
		v.Clone().Release()
	}
}

// BenchmarkSetRGB720p writes every pixel through the typed fast path.
func BenchmarkSetRGB720p(b *testing.B) {
	v := benchFrame(b)
	for b.Loop() {
		for y := range benchH {
			for x := range benchW {
				v.SetRGB(x, y, RGB{byte(x), byte(y), 0})
			}
		}
	}
}

func BenchmarkRescale(b *testing.B) {
	b.ReportAllocs()
	var s int64
	for i := int64(0); b.Loop(); i++ {
		s += Rescale(i, tbNTSC, tb90k)
	}
	_ = s
}
