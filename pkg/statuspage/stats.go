package statuspage

import (
	"sync/atomic"
	"time"
)

// durations accumulates durations without locks (the pipeline adds, the
// page's goroutine takes): a count, a sum and a maximum.
type durations struct {
	n, sum, max atomic.Int64
}

func (d *durations) add(v time.Duration) {
	ns := int64(v)
	d.n.Add(1)
	d.sum.Add(ns)
	for {
		m := d.max.Load()
		if ns <= m || d.max.CompareAndSwap(m, ns) {
			return
		}
	}
}

// take returns what was added since the last take and starts afresh:
// the count, and the mean and maximum in milliseconds (nil when empty).
// A duration added while take runs may land in either window.
func (d *durations) take() (n int64, avgMS, maxMS *float64) {
	n = d.n.Swap(0)
	sum := d.sum.Swap(0)
	mx := d.max.Swap(0)
	if n <= 0 {
		return 0, nil, nil
	}
	avg := float64(sum) / float64(n) / 1e6
	m := float64(mx) / 1e6
	return n, &avg, &m
}
