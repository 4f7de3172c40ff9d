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

// channelURL checks a channel URL and returns it without a trailing slash
// and without its userinfo, which comes back apart (nil when there is
// none) for withCredentials to send. Errors name the URL redacted.
func channelURL(raw string) (string, *url.Userinfo, error) {
	if raw == "" {
		return "", nil, errors.New("trickle: channel URL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the whole URL, secrets and all.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return "", nil, fmt.Errorf("trickle: channel URL %q: %w", RedactURL(raw), err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", nil, fmt.Errorf("trickle: channel URL %q: scheme must be http or https", RedactURL(raw))
	}
	if u.Host == "" {
		return "", nil, fmt.Errorf("trickle: channel URL %q has no host", RedactURL(raw))
	}
	user, clean := u.User, raw
	if user != nil {
		u.User = nil
		clean = u.String()
	}
	trimmed := strings.TrimRight(clean, "/")
	name := trimmed[strings.LastIndexByte(trimmed, '/')+1:]
	if err := ValidChannelName(name); err != nil {
		return "", nil, fmt.Errorf("trickle: channel URL %q: %w", RedactURL(raw), err)
	}
	return trimmed, user, nil
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
