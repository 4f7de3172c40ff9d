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
		t.Run(fmt.Sprintf("retry %d waits its doubled pause and up to a fifth more", c.attempt), func(t *testing.T) {
			seen := map[time.Duration]bool{}
			for range 1000 {
				d := retryDelay(base, c.attempt)
				if d < c.nominal || d > c.nominal+c.nominal/5 {
					t.Fatalf("pause %v, want within [%v, %v]", d, c.nominal, c.nominal+c.nominal/5)
				}
				seen[d] = true
			}
			// Clients that failed together must not all come back at
			// the same instant.
			if len(seen) < 100 {
				t.Errorf("only %d distinct pauses in 1000", len(seen))
			}
		})
	}
}
