package frame

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"time"
)

// Rational is a fraction Num/Den: a time base (seconds per PTS tick, such as
// 1/90000 for MPEG-TS) or a frame rate (30000/1001). It mirrors FFmpeg's
// AVRational. A time base is Valid when both parts are positive; the zero
// value is not.
type Rational struct {
	Num, Den int
}

// Valid reports whether r is usable as a time base or rate: Num > 0 and
// Den > 0.
func (r Rational) Valid() bool { return r.Num > 0 && r.Den > 0 }

// String formats r as "Num/Den", the way FFmpeg prints time bases.
func (r Rational) String() string { return fmt.Sprintf("%d/%d", r.Num, r.Den) }

// Float64 is Num/Den as a float, for display and logs; do arithmetic on
// timestamps with Rescale and CompareTS, which are exact.
func (r Rational) Float64() float64 { return float64(r.Num) / float64(r.Den) }

// Invert returns Den/Num: a frame rate's frame duration, or the reverse.
func (r Rational) Invert() Rational { return Rational{r.Den, r.Num} }

// Seconds converts pts ticks of time base r to seconds. It is for display:
// a float64 cannot represent most tick values exactly.
func (r Rational) Seconds(pts int64) float64 {
	return float64(pts) * float64(r.Num) / float64(r.Den)
}

// Duration converts pts ticks of time base r to a time.Duration, exactly up
// to rounding to the nearest nanosecond (halves away from zero). Results
// beyond time.Duration's range saturate; an invalid r gives 0.
func (r Rational) Duration(pts int64) time.Duration {
	return time.Duration(RescaleRound(pts, r, Rational{1, int(time.Second)}, RoundNearest))
}

// Rounding says which way RescaleRound goes when the exact result is not an
// integer.
type Rounding int

const (
	// RoundNearest rounds to the nearest integer, halves away from zero
	// (FFmpeg's AV_ROUND_NEAR_INF, the default of av_rescale_q).
	RoundNearest Rounding = iota
	// RoundDown rounds toward negative infinity (floor).
	RoundDown
	// RoundUp rounds toward positive infinity (ceiling).
	RoundUp
)

// Rescale converts pts from time base from to time base to, rounding to the
// nearest tick (halves away from zero), like FFmpeg's av_rescale_q. It is
// exact: the intermediate product is kept in 128 bits, so 90 kHz ↔ 1/30 or
// 1001/30000 never drifts however long the stream. A result that does not
// fit in an int64 saturates at math.MaxInt64 or math.MinInt64; an invalid
// time base gives 0.
func Rescale(pts int64, from, to Rational) int64 {
	return RescaleRound(pts, from, to, RoundNearest)
}

// RescaleRound is Rescale with the rounding direction chosen by rnd; for
// example RoundDown gives the index of the tick that contains pts.
func RescaleRound(pts int64, from, to Rational, rnd Rounding) int64 {
	if !from.Valid() || !to.Valid() {
		return 0
	}
	// pts·from.Num·to.Den / (from.Den·to.Num). With every part below 2^31
	// (always, for FFmpeg's 32-bit AVRational) both factors fit in 62 bits
	// and the product in 128; anything larger takes the slow exact path.
	if !small(from) || !small(to) {
		return rescaleBig(pts, from, to, rnd)
	}
	b := uint64(from.Num) * uint64(to.Den)
	c := uint64(from.Den) * uint64(to.Num)
	neg := pts < 0
	m := uint64(pts)
	if neg {
		m = -m // two's complement: also right for math.MinInt64
	}
	hi, lo := bits.Mul64(m, b)
	// Reduce every rounding mode to a floor of the magnitude: floor,
	// ceiling ((m+c-1)/c) or half up ((2m+c)/(2c)).
	up := rnd == RoundUp && !neg || rnd == RoundDown && neg
	switch {
	case rnd == RoundNearest:
		hi = hi<<1 | lo>>63
		lo <<= 1
		var carry uint64
		lo, carry = bits.Add64(lo, c, 0)
		hi += carry
		c <<= 1
	case up:
		var carry uint64
		lo, carry = bits.Add64(lo, c-1, 0)
		hi += carry
	}
	if hi >= c {
		return saturate(neg)
	}
	q, _ := bits.Div64(hi, lo, c)
	if neg {
		if q > 1<<63 {
			return math.MinInt64
		}
		return -int64(q)
	}
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}

// CompareTS compares timestamp a in time base atb with b in time base btb,
// exactly: it returns -1 if a is earlier, 0 if they are the same instant and
// +1 if a is later (FFmpeg's av_compare_ts without its rounding). It is how
// a frame-rate cap decides, without drift, whether a frame is due: with
// rel = pts − the first frame's pts, a frame is due for slot k of a cap of
// fps frames per second when CompareTS(rel, tb, k, Rational{1, fps}) >= 0.
// It returns 0 if either time base is invalid.
func CompareTS(a int64, atb Rational, b int64, btb Rational) int {
	if !atb.Valid() || !btb.Valid() {
		return 0
	}
	if !small(atb) || !small(btb) {
		x := new(big.Int).Mul(big.NewInt(a), big.NewInt(int64(atb.Num)))
		x.Mul(x, big.NewInt(int64(btb.Den)))
		y := new(big.Int).Mul(big.NewInt(b), big.NewInt(int64(btb.Num)))
		y.Mul(y, big.NewInt(int64(atb.Den)))
		return x.Cmp(y)
	}
	// Compare a·atb.Num·btb.Den with b·btb.Num·atb.Den; the rational parts
	// are positive, so the signs of a and b decide unless they agree.
	sa, sb := sign(a), sign(b)
	if sa != sb {
		if sa < sb {
			return -1
		}
		return 1
	}
	if sa == 0 {
		return 0
	}
	ahi, alo := bits.Mul64(abs64(a), uint64(atb.Num)*uint64(btb.Den))
	bhi, blo := bits.Mul64(abs64(b), uint64(btb.Num)*uint64(atb.Den))
	c := 0
	switch {
	case ahi < bhi || ahi == bhi && alo < blo:
		c = -1
	case ahi > bhi || alo > blo:
		c = 1
	}
	return c * sa
}

// small reports whether both parts of r fit in 31 bits, so that products of
// two parts fit in 62.
func small(r Rational) bool {
	return r.Num <= math.MaxInt32 && r.Den <= math.MaxInt32
}

func sign(x int64) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

func abs64(x int64) uint64 {
	if x < 0 {
		return -uint64(x)
	}
	return uint64(x)
}

func saturate(neg bool) int64 {
	if neg {
		return math.MinInt64
	}
	return math.MaxInt64
}

// rescaleBig is RescaleRound for time bases with parts of 2^31 or more,
// which only hand-made Rationals have; it allocates.
func rescaleBig(pts int64, from, to Rational, rnd Rounding) int64 {
	n := new(big.Int).Mul(big.NewInt(pts), big.NewInt(int64(from.Num)))
	n.Mul(n, big.NewInt(int64(to.Den)))
	d := new(big.Int).Mul(big.NewInt(int64(from.Den)), big.NewInt(int64(to.Num)))
	neg := n.Sign() < 0
	n.Abs(n)
	up := rnd == RoundUp && !neg || rnd == RoundDown && neg
	switch {
	case rnd == RoundNearest:
		n.Lsh(n, 1).Add(n, d)
		d.Lsh(d, 1)
	case up:
		n.Add(n, d).Sub(n, big.NewInt(1))
	}
	n.Quo(n, d)
	if neg {
		n.Neg(n)
	}
	if !n.IsInt64() {
		return saturate(neg)
	}
	return n.Int64()
}
