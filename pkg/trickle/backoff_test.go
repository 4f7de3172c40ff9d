package trickle

import (
	"fmt"
	"testing"
	"time"
)

func TestRetryPausesDoubleAndAreSpreadOut(t *testing.T) {
	const base = 300 * time.Millisecond
	cases := []struct {
		attempt int
		nominal time.Duration
	}{
		{1, 300 * time.Millisecond},
		{2, 600 * time.Millisecond},
		{3, 1200 * time.Millisecond},
		{5, 4800 * time.Millisecond},
		{6, maxBackoff},
		{40, maxBackoff},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("retry %d waits its doubled pause give or take a fifth", c.attempt), func(t *testing.T) {
			seen := map[time.Duration]bool{}
			var sum time.Duration
			lo, hi := c.nominal-c.nominal/5, c.nominal+c.nominal/5
			for range 1000 {
				d := retryDelay(base, c.attempt)
				if d < lo || d > hi {
					t.Fatalf("pause %v, want within [%v, %v]", d, lo, hi)
				}
				seen[d] = true
				sum += d
			}
			// On average as long as the doubled pause: the spread does not
			// make recovery slower. (The mean of 1000 draws is within 2 % of
			// it but for one run in many millions.)
			if mean := sum / 1000; mean < c.nominal-c.nominal/50 || mean > c.nominal+c.nominal/50 {
				t.Errorf("mean pause %v, want about %v", mean, c.nominal)
			}
			// Clients that failed together must not all come back at
			// the same instant.
			if len(seen) < 100 {
				t.Errorf("only %d distinct pauses in 1000", len(seen))
			}
		})
	}
}
