package server

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// settings are what the suite knows about the server under test: its URL
// and the values that cannot be discovered over HTTP (docs/spec/trickle.md §3).
type settings struct {
	base       string // base URL, ending in "/"
	inProcess  bool   // the suite started gotrickle's own server
	ringSize   int
	idle       time.Duration
	idleSlack  time.Duration
	keepalive  time.Duration
	maxSegment int64
	reaction   time.Duration
	channels   []string // pre-created names, when the server cannot create them
}

func loadSettings() (settings, error) {
	s := settings{
		base:       os.Getenv("TRICKLE_SERVER_URL"),
		ringSize:   5,
		idle:       5 * time.Minute,
		idleSlack:  75 * time.Second,
		keepalive:  10 * time.Second,
		maxSegment: 32 << 20,
		reaction:   2 * time.Second,
	}
	var err error
	intVar := func(name string, dst *int) {
		if v := os.Getenv(name); v != "" && err == nil {
			var n int
			if n, err = strconv.Atoi(v); err == nil && n <= 0 {
				err = fmt.Errorf("%s must be positive", name)
			}
			*dst = n
		}
	}
	int64Var := func(name string, dst *int64) {
		if v := os.Getenv(name); v != "" && err == nil {
			*dst, err = strconv.ParseInt(v, 10, 64)
		}
	}
	durVar := func(name string, dst *time.Duration) {
		if v := os.Getenv(name); v != "" && err == nil {
			*dst, err = time.ParseDuration(v)
		}
	}
	intVar("TRICKLE_RING_SIZE", &s.ringSize)
	durVar("TRICKLE_IDLE_TIMEOUT", &s.idle)
	durVar("TRICKLE_IDLE_SLACK", &s.idleSlack)
	durVar("TRICKLE_KEEPALIVE", &s.keepalive)
	int64Var("TRICKLE_MAX_SEGMENT_BYTES", &s.maxSegment)
	durVar("TRICKLE_REACTION", &s.reaction)
	if err != nil {
		return s, fmt.Errorf("suite settings: %w", err)
	}
	if v := os.Getenv("TRICKLE_CHANNELS"); v != "" {
		for _, c := range strings.Split(v, ",") {
			if c = strings.TrimSpace(c); c != "" {
				s.channels = append(s.channels, c)
			}
		}
	}
	if s.base != "" && !strings.HasSuffix(s.base, "/") {
		s.base += "/"
	}
	return s, nil
}
