package frame

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

// FuzzReplaceTensor: whatever floats a handler returns, ReplaceTensor either
// refuses a wrong length and changes nothing, or writes every byte as the
// float64 reference rounds it (NaN as 0), never panicking.
func FuzzReplaceTensor(f *testing.F) {
	le := func(xs ...float32) []byte {
		b := make([]byte, 0, 4*len(xs))
		for _, x := range xs {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
		return b
	}
	f.Add(uint8(1), uint8(1), le(0, 0.5, 1))
	f.Add(uint8(2), uint8(1), le(float32(math.NaN()), float32(math.Inf(1)), -1, 2, 1.0/255, 254.5/255))
	f.Add(uint8(1), uint8(2), le(0.00196, 0.00197, math.Nextafter32(1, 0)))
	f.Add(uint8(3), uint8(3), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, w, h uint8, raw []byte) {
		width, height := int(w%16)+1, int(h%16)+1
		tensor := make([]float32, len(raw)/4)
		for i := range tensor {
			tensor[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		v := mustVideo(t, width, height)
		fillPattern(v)
		before := append([]byte(nil), v.Pix...)
		err := v.ReplaceTensor(tensor)
		if len(tensor) != TensorLen(width, height) {
			if !errors.Is(err, ErrTensorLength) || string(before) != string(v.Pix) {
				t.Fatalf("%d values for %d×%d: err %v, pixels changed %v", len(tensor), width, height, err, string(before) != string(v.Pix))
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range tensor {
			want := 0.0
			if x := float64(x); x > 0 {
				want = math.Floor(math.Min(x, 1)*255 + 0.5)
			}
			// float32 arithmetic may land one step off the float64
			// reference only where x·255 sits within rounding error of a
			// half; everywhere else it must agree.
			if got := float64(v.Pix[i]); got != want {
				frac := float64(x)*255 - math.Floor(float64(x)*255)
				if math.Abs(got-want) > 1 || math.Abs(frac-0.5) > 1e-4 {
					t.Fatalf("value %d = %v became %v, want %v", i, x, got, want)
				}
			}
		}
		// Whatever was written, Tensor reads it back and a second round
		// trip is the identity.
		again := v.Tensor()
		snapshot := append([]byte(nil), v.Pix...)
		if err := v.ReplaceTensor(again); err != nil || string(snapshot) != string(v.Pix) {
			t.Fatalf("second round trip changed the pixels (%v)", err)
		}
	})
}

// FuzzRescale: RescaleRound agrees with math/big for every rounding mode,
// and CompareTS agrees with the sign of the exact difference.
func FuzzRescale(f *testing.F) {
	f.Add(int64(1), int32(1), int32(30), int32(1), int32(90000), uint8(0))
	f.Add(int64(3003), int32(1), int32(90000), int32(1001), int32(30000), uint8(1))
	f.Add(int64(-1500), int32(1), int32(90000), int32(1), int32(30), uint8(2))
	f.Add(int64(math.MaxInt64), int32(math.MaxInt32), int32(1), int32(1), int32(math.MaxInt32), uint8(0))
	f.Add(int64(math.MinInt64), int32(1), int32(48000), int32(1), int32(44100), uint8(1))
	f.Fuzz(func(t *testing.T, pts int64, fn, fd, tn, td int32, mode uint8) {
		from, to := Rational{int(fn), int(fd)}, Rational{int(tn), int(td)}
		rnd := Rounding(mode % 3)
		got, want := RescaleRound(pts, from, to, rnd), bigRescale(pts, from, to, rnd)
		if got != want {
			t.Fatalf("RescaleRound(%d, %v, %v, %d) = %d, math/big says %d", pts, from, to, rnd, got, want)
		}
		if !from.Valid() || !to.Valid() {
			return
		}
		// The floor of a rescale is never later than the original instant
		// and the ceiling never earlier, unless saturated.
		if down := RescaleRound(pts, from, to, RoundDown); down != math.MinInt64 && down != math.MaxInt64 && CompareTS(down, to, pts, from) > 0 {
			t.Fatalf("floor %d %v is after %d %v", down, to, pts, from)
		}
		if up := RescaleRound(pts, from, to, RoundUp); up != math.MinInt64 && up != math.MaxInt64 && CompareTS(up, to, pts, from) < 0 {
			t.Fatalf("ceiling %d %v is before %d %v", up, to, pts, from)
		}
		if c := CompareTS(pts, from, pts, from); c != 0 {
			t.Fatalf("CompareTS of a timestamp with itself = %d", c)
		}
	})
}
