package frame

import (
	"sync"
	"testing"
)

// reused reports whether get, after put, eventually hands back the buffer
// put gave away. sync.Pool may drop any item (the race detector drops a
// quarter of them on purpose), so a few tries are allowed.
func reused[T any](t *testing.T, put func() *T, get func() *T) bool {
	t.Helper()
	for range 100 {
		p := put()
		if q := get(); q == p {
			return true
		}
	}
	return false
}

func TestPooledVideo(t *testing.T) {
	t.Run("a released frame's buffer comes back for the same size", func(t *testing.T) {
		var last *Video
		ok := reused(t, func() *byte {
			v, _ := GetVideo(64, 36)
			v.Pix[0] = 0xAB
			p := &v.Pix[0]
			v.Release()
			return p
		}, func() *byte {
			v, _ := GetVideo(64, 36)
			last = v
			return &v.Pix[0]
		})
		if !ok {
			t.Fatal("the pool never returned a released buffer")
		}
		// Pooled frames are not zeroed: the documented trade-off.
		if last.Pix[0] != 0xAB {
			t.Fatalf("reused buffer holds %#x, want the old contents", last.Pix[0])
		}
		if len(last.Pix) != 64*36*3 || cap(last.Pix) != 64*36*3+PixPadding || last.Stride != 64*3 || last.Width != 64 || last.Height != 36 {
			t.Fatalf("reused frame: %d×%d stride %d, len %d cap %d", last.Width, last.Height, last.Stride, len(last.Pix), cap(last.Pix))
		}
	})
	t.Run("a frame of another size never gets that buffer", func(t *testing.T) {
		for range 100 {
			v, _ := GetVideo(64, 36)
			v.Release()
			w, _ := GetVideo(36, 64+1)
			if len(w.Pix) != 36*65*3 || cap(w.Pix) != 36*65*3+PixPadding {
				t.Fatalf("got len %d cap %d", len(w.Pix), cap(w.Pix))
			}
			w.Release()
		}
	})
	t.Run("a Pix the caller supplied is not pooled", func(t *testing.T) {
		mine := make([]byte, 3*8*8)
		v := &Video{Pix: mine, Stride: 24, Width: 8, Height: 8}
		v.Release()
		for range 100 {
			w, _ := GetVideo(8, 8)
			if &w.Pix[0] == &mine[0] {
				t.Fatal("the caller's buffer was handed to another frame")
			}
		}
	})
	t.Run("NewVideo frames feed the pool when released", func(t *testing.T) {
		if !reused(t, func() *byte {
			v, _ := NewVideo(10, 10)
			p := &v.Pix[0]
			v.Release()
			return p
		}, func() *byte {
			v, _ := GetVideo(10, 10)
			return &v.Pix[0]
		}) {
			t.Fatal("a released NewVideo buffer never came back")
		}
	})
	t.Run("a clone draws on the pool", func(t *testing.T) {
		src := mustVideo(t, 12, 12)
		if !reused(t, func() *byte {
			v, _ := GetVideo(12, 12)
			p := &v.Pix[0]
			v.Release()
			return p
		}, func() *byte {
			return &src.Clone().Pix[0]
		}) {
			t.Fatal("Clone never reused a released buffer")
		}
	})
}

func TestPooledTensors(t *testing.T) {
	v := mustVideo(t, 16, 9)
	fillPattern(v)
	var last []float32
	if !reused(t, func() *float32 {
		tensor := v.Tensor()
		p := &tensor[0]
		ReleaseTensor(tensor)
		return p
	}, func() *float32 {
		last = v.Tensor()
		return &last[0]
	}) {
		t.Fatal("Tensor never reused a released tensor")
	}
	if len(last) != TensorLen(16, 9) || last[5] != float32(v.Pix[5])/255 {
		t.Fatal("a reused tensor was not fully rewritten")
	}
}

func TestPooledAudio(t *testing.T) {
	t.Run("a released frame's samples come back for the same size", func(t *testing.T) {
		if !reused(t, func() *float32 {
			a, _ := GetAudio(2, 1024, 48000)
			p := &a.Samples[0][0]
			a.Release()
			return p
		}, func() *float32 {
			a, _ := GetAudio(2, 1024, 48000)
			if a.Channels() != 2 || a.NumSamples() != 1024 || cap(a.Samples[0]) != 1024 {
				t.Fatalf("got %d × %d cap %d", a.Channels(), a.NumSamples(), cap(a.Samples[0]))
			}
			return &a.Samples[0][0]
		}) {
			t.Fatal("the pool never returned a released buffer")
		}
	})
	t.Run("ReplaceSamples gives the old buffer back", func(t *testing.T) {
		if !reused(t, func() *float32 {
			a, _ := GetAudio(1, 960, 48000)
			p := &a.Samples[0][0]
			_ = a.ReplaceSamples(ramp(1, 480, 0))
			return p
		}, func() *float32 {
			a, _ := GetAudio(1, 960, 48000)
			return &a.Samples[0][0]
		}) {
			t.Fatal("the replaced buffer never came back")
		}
	})
}

func TestThePoolKeepsABoundedNumberOfSizes(t *testing.T) {
	var p sizedPool[byte]
	for n := 1; n <= 2*maxPoolSizes; n++ {
		p.put(make([]byte, n))
	}
	if got := len(*p.pools.Load()); got != maxPoolSizes {
		t.Fatalf("%d sizes pooled, want %d", got, maxPoolSizes)
	}
	if got := p.get(0); got != nil {
		t.Fatal("get(0) must be nil")
	}
	p.put(nil) // nothing to pool
}

func TestPoolsAreSafeForConcurrentUse(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				w := 8 + (g+i)%5
				v, err := GetVideo(w, w)
				if err != nil {
					t.Error(err)
					return
				}
				v.Pix[0] = byte(g)
				tensor := v.Tensor()
				if err := v.ReplaceTensor(tensor); err != nil || v.Pix[0] != byte(g) {
					t.Errorf("goroutine %d: %v, pixel %d", g, err, v.Pix[0])
				}
				ReleaseTensor(tensor)
				v.Release()
				a, _ := GetAudio(2, 64+g, 48000)
				_ = a.ReplaceSamples(ramp(2, 32+i%7, 0))
				a.Release()
			}
		})
	}
	wg.Wait()
}
