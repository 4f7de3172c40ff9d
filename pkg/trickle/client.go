package trickle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// newTransport returns a transport for one Publisher or Subscriber, so that
// closing the client also closes its connections (and their goroutines).
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 8
	t.DisableCompression = true // media does not compress; keep bytes as sent
	return t
}

// channelURL checks a channel URL and returns it without a trailing slash.
func channelURL(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("trickle: channel URL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("trickle: channel URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("trickle: channel URL %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("trickle: channel URL %q has no host", raw)
	}
	trimmed := strings.TrimRight(raw, "/")
	name := trimmed[strings.LastIndexByte(trimmed, '/')+1:]
	if err := ValidChannelName(name); err != nil {
		return "", fmt.Errorf("trickle: channel URL %q: %w", raw, err)
	}
	return trimmed, nil
}

// backoff waits d doubled attempt-1 times (capped), or until ctx ends.
func backoff(ctx context.Context, base time.Duration, attempt int) error {
	d := base
	for i := 1; i < attempt && d < 5*time.Second; i++ {
		d *= 2
	}
	d = min(d, 5*time.Second)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// errorBody reads a short error text from a response body and closes it.
func errorBody(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return strings.TrimSpace(string(b))
}
