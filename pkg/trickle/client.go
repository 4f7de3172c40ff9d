package trickle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
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

// maxBackoff caps the doubling of retry pauses.
const maxBackoff = 5 * time.Second

// retryDelay is the pause before retry number attempt: base doubled
// attempt-1 times, capped at maxBackoff, then moved by up to a fifth
// either way at random. Without that spread every client of a server that
// restarts (hundreds of streams' subscribers and publishers) would come
// back at the same instants; spread both ways, a client waits as long as
// before on average.
func retryDelay(base time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	return d - d/5 + rand.N(2*(d/5)+1)
}

// backoff waits retryDelay(base, attempt), or until ctx ends.
func backoff(ctx context.Context, base time.Duration, attempt int) error {
	t := time.NewTimer(retryDelay(base, attempt))
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
