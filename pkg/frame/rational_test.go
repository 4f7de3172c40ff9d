package frame

import (
	"math"
	"math/big"
	"testing"
	"time"
)

var (
	tb90k   = Rational{1, 90000}
	tb30    = Rational{1, 30}
	tbNTSC  = Rational{1001, 30000}
	tb48k   = Rational{1, 48000}
	tbMilli = Rational{1, 1000}
)

func TestRescale(t *testing.T) {
	for _, c := range []struct {
		name     string
		pts      int64
		from, to Rational
		rnd      Rounding
		want     int64
	}{
		{"frame 1 at 30 fps is 3000 ticks of 90 kHz", 1, tb30, tb90k, RoundNearest, 3000},
		{"3000 ticks of 90 kHz are frame 1 at 30 fps", 3000, tb90k, tb30, RoundNearest, 1},
		{"an NTSC frame is 3003 ticks of 90 kHz", 1, tbNTSC, tb90k, RoundNearest, 3003},
		{"a million NTSC frames are exactly 3,003,000,000 ticks", 1_000_000, tbNTSC, tb90k, RoundNearest, 3_003_000_000},
		{"3003 ticks are one NTSC frame", 3003, tb90k, tbNTSC, RoundNearest, 1},
		{"rescaling to the same time base changes nothing", 2_589_408, tbNTSC, tbNTSC, RoundNearest, 2_589_408},
		{"ticks between frames round to the nearest frame", 1600, tb90k, tb30, RoundNearest, 1},
		{"ticks just under half a frame round down", 1499, tb90k, tb30, RoundNearest, 0},
		{"an exact half rounds away from zero", 1500, tb90k, tb30, RoundNearest, 1},
		{"a negative exact half rounds away from zero", -1500, tb90k, tb30, RoundNearest, -1},
		{"RoundDown floors a positive value", 2999, tb90k, tb30, RoundDown, 0},
		{"RoundDown floors a negative value toward minus infinity", -1, tb90k, tb30, RoundDown, -1},
		{"RoundUp ceils a positive value", 1, tb90k, tb30, RoundUp, 1},
		{"RoundUp ceils a negative value toward zero", -2999, tb90k, tb30, RoundUp, 0},
		{"exact values ignore the rounding mode", -6000, tb90k, tb30, RoundUp, -2},
		{"an AAC frame of 1024 samples is 1920 ticks of 90 kHz", 1024, tb48k, tb90k, RoundNearest, 1920},
		{"zero stays zero", 0, tb48k, tbNTSC, RoundUp, 0},
		{"the largest timestamp in the same base is unchanged", math.MaxInt64, tb90k, tb90k, RoundNearest, math.MaxInt64},
		{"the smallest timestamp in the same base is unchanged", math.MinInt64, tb90k, tb90k, RoundNearest, math.MinInt64},
		{"a result beyond int64 saturates high", math.MaxInt64 / 2, tb30, tb90k, RoundNearest, math.MaxInt64},
		{"a result beyond int64 saturates low", math.MinInt64 / 2, tb30, tb90k, RoundNearest, math.MinInt64},
		{"an invalid source time base gives 0", 5, Rational{0, 1}, tb90k, RoundNearest, 0},
		{"an invalid target time base gives 0", 5, tb90k, Rational{1, 0}, RoundNearest, 0},
		{"parts beyond 32 bits take the exact slow path", 3, Rational{1 << 40, 3 << 40}, Rational{1, 1 << 33}, RoundNearest, 1 << 33},
		{"the slow path saturates too", math.MaxInt64, Rational{1 << 40, 1}, tb90k, RoundNearest, math.MaxInt64},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := RescaleRound(c.pts, c.from, c.to, c.rnd); got != c.want {
				t.Fatalf("RescaleRound(%d, %v, %v, %d) = %d, want %d", c.pts, c.from, c.to, c.rnd, got, c.want)
			}
			if c.rnd == RoundNearest {
				if got := Rescale(c.pts, c.from, c.to); got != c.want {
					t.Fatalf("Rescale(%d, %v, %v) = %d, want %d", c.pts, c.from, c.to, got, c.want)
				}
			}
		})
	}
}

func TestRescaleHasNoDriftOverALongStream(t *testing.T) {
	// Ten hours of NTSC frames, one at a time: each frame's 90 kHz time
	// must be exactly 3003 ticks after the previous one, and the way back
	// must land on the same frame.
	var prev int64
	for f := int64(1); f <= 10*3600*30; f++ {
		ticks := Rescale(f, tbNTSC, tb90k)
		if ticks-prev != 3003 {
			t.Fatalf("frame %d at %d ticks, %d after the previous one", f, ticks, ticks-prev)
		}
		if back := Rescale(ticks, tb90k, tbNTSC); back != f {
			t.Fatalf("frame %d → %d ticks → frame %d", f, ticks, back)
		}
		prev = ticks
	}
}

func TestCompareTS(t *testing.T) {
	for _, c := range []struct {
		name string
		a    int64
		atb  Rational
		b    int64
		btb  Rational
		want int
	}{
		{"the same instant in different bases is equal", 3003, tb90k, 1, tbNTSC, 0},
		{"one tick earlier is earlier", 3002, tb90k, 1, tbNTSC, -1},
		{"one tick later is later", 3004, tb90k, 1, tbNTSC, 1},
		{"negative before positive", -1, tb90k, 1, tb30, -1},
		{"zero equals zero in any base", 0, tb48k, 0, tbNTSC, 0},
		{"between negatives the larger magnitude is earlier", -6000, tb90k, -1, tb30, -1},
		{"a 30 fps frame is due in a 30 fps cap's slot", 7, tb30, 7, Rational{1, 30}, 0},
		{"an NTSC frame falls just after the 30 fps slot", 1, tbNTSC, 1, tb30, 1},
		{"extreme values do not overflow", math.MaxInt64, tb90k, math.MaxInt64, tb48k, -1},
		{"extreme negatives do not overflow", math.MinInt64, tb90k, math.MinInt64, tb48k, 1},
		{"parts beyond 32 bits compare exactly", 1, Rational{1, 1 << 40}, 1 << 10, Rational{1, 1 << 50}, 0},
		{"an invalid time base compares as equal", 1, Rational{}, 2, tb30, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := CompareTS(c.a, c.atb, c.b, c.btb); got != c.want {
				t.Fatalf("CompareTS(%d %v, %d %v) = %d, want %d", c.a, c.atb, c.b, c.btb, got, c.want)
			}
			if got := CompareTS(c.b, c.btb, c.a, c.atb); got != -c.want {
				t.Fatalf("reversed: CompareTS(%d %v, %d %v) = %d, want %d", c.b, c.btb, c.a, c.atb, got, -c.want)
			}
		})
	}
}

func TestRationalHelpers(t *testing.T) {
	for _, c := range []struct {
		name string
		got  any
		want any
	}{
		{"a time base prints like FFmpeg's", tbNTSC.String(), "1001/30000"},
		{"a 90 kHz time base is valid", tb90k.Valid(), true},
		{"the zero Rational is not valid", Rational{}.Valid(), false},
		{"a negative part is not valid", Rational{-1, 30}.Valid(), false},
		{"inverting a frame duration gives the frame rate", tbNTSC.Invert(), Rational{30000, 1001}},
		{"Float64 divides", Rational{1, 4}.Float64(), 0.25},
		{"Seconds converts ticks for display", tb90k.Seconds(45000), 0.5},
		{"Duration of one NTSC frame rounds to the nanosecond", tbNTSC.Duration(1), 33366667 * time.Nanosecond},
		{"Duration of 90000 ticks is one second", tb90k.Duration(90000), time.Second},
		{"Duration of an invalid base is 0", Rational{}.Duration(5), time.Duration(0)},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Fatalf("got %v, want %v", c.got, c.want)
			}
		})
	}
}

// bigRescale is the reference for RescaleRound: the same arithmetic in
// math/big, with the rounding spelled out.
func bigRescale(pts int64, from, to Rational, rnd Rounding) int64 {
	if !from.Valid() || !to.Valid() {
		return 0
	}
	r := new(big.Rat).SetFrac(
		new(big.Int).Mul(big.NewInt(pts), new(big.Int).Mul(big.NewInt(int64(from.Num)), big.NewInt(int64(to.Den)))),
		new(big.Int).Mul(big.NewInt(int64(from.Den)), big.NewInt(int64(to.Num))))
	q, m := new(big.Int).DivMod(r.Num(), r.Denom(), new(big.Int)) // floor for a positive denominator
	if m.Sign() != 0 {
		switch rnd {
		case RoundUp:
			q.Add(q, big.NewInt(1))
		case RoundNearest:
			// Compare the fraction 2m with the denominator: above half
			// rounds up, exactly half goes away from zero.
			twice := new(big.Int).Lsh(m, 1)
			if c := twice.Cmp(r.Denom()); c > 0 || c == 0 && r.Sign() > 0 {
				q.Add(q, big.NewInt(1))
			}
		}
	}
	switch {
	case q.IsInt64():
		return q.Int64()
	case q.Sign() < 0:
		return math.MinInt64
	}
	return math.MaxInt64
}

func TestRescaleMatchesBigArithmetic(t *testing.T) {
	bases := []Rational{tb90k, tb30, tbNTSC, tb48k, tbMilli, {1, 44100}, {1, 1}, {3, 7}, {math.MaxInt32, 1}, {1, math.MaxInt32}, {1 << 40, 7}}
	pts := []int64{0, 1, -1, 2, 1499, 1500, 1501, -1500, 3003, 1 << 40, -(1 << 40), math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1}
	for _, from := range bases {
		for _, to := range bases {
			for _, p := range pts {
				for _, rnd := range []Rounding{RoundNearest, RoundDown, RoundUp} {
					if got, want := RescaleRound(p, from, to, rnd), bigRescale(p, from, to, rnd); got != want {
						t.Errorf("RescaleRound(%d, %v, %v, %d) = %d, math/big says %d", p, from, to, rnd, got, want)
					}
				}
			}
		}
	}
}

// TestAFrameRateCapBuiltOnCompareTS checks that CompareTS is enough for the
// decoder's cap to be exact: keep a frame when it reaches the next slot of
// the cap's grid.
func TestAFrameRateCapBuiltOnCompareTS(t *testing.T) {
	for _, c := range []struct {
		name   string
		tb     Rational
		step   int64 // ticks between input frames
		start  int64 // first PTS, as MPEG-TS streams rarely start at 0
		frames int
		fps    int
		want   int
	}{
		{"a 30 fps input under a 30 fps cap loses no frame", tb90k, 3000, 126000, 9000, 30, 9000},
		{"a 29.97 fps input under a 30 fps cap loses no frame", tb90k, 3003, 0, 9000, 30, 9000},
		{"a 29.97 fps input in its own time base under a 30 fps cap loses no frame", tbNTSC, 1, 7, 9000, 30, 9000},
		{"a 60 fps input under a 30 fps cap keeps every other frame", tb90k, 1500, 0, 600, 30, 300},
		{"a 30 fps input under a 24 fps cap keeps 24 a second", tb90k, 3000, 0, 300, 24, 240},
		{"a 48 kHz clock at 25 fps under a 24 fps cap keeps 24 a second", tb48k, 1920, 0, 250, 24, 240},
	} {
		t.Run(c.name, func(t *testing.T) {
			rate := Rational{1, c.fps}
			// Slots count from the first frame's time, in the cap's grid.
			origin := c.start
			var slot int64
			kept := 0
			for i := range c.frames {
				pts := c.start + int64(i)*c.step
				rel := pts - origin
				if CompareTS(rel, c.tb, slot, rate) >= 0 {
					kept++
					slot = RescaleRound(rel, c.tb, rate, RoundDown) + 1
				}
			}
			if kept != c.want {
				t.Fatalf("kept %d of %d frames, want %d", kept, c.frames, c.want)
			}
		})
	}
}
