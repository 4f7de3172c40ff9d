// Package orchestrator registers a processor with a Livepeer orchestrator
// as a capability, the way PyTrickle's RegisterCapability does: one JSON
// POST to {orchestrator}/capability/register carrying the processor's URL,
// name, description, capacity and price, authorised by the orchestrator's
// secret. That is how a processor joins an existing network.
package orchestrator

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config says where to register and what. The zero value of each optional
// field gives PyTrickle's default.
type Config struct {
	// OrchURL is the orchestrator's base URL, e.g. https://orch:8935.
	OrchURL string
	// Secret is the orchestrator's secret, sent as the Authorization
	// header. It is never logged.
	Secret string
	// Name is the capability's name; default "gotrickle-worker".
	Name string
	// Description defaults to "gotrickle video processing worker".
	Description string
	// URL is where the orchestrator reaches this processor; default
	// http://localhost:8000.
	URL string
	// Capacity is how many streams at once; default 1.
	Capacity int
	// PricePerUnit defaults to 0; PriceScaling to 1.
	PricePerUnit int
	PriceScaling int
	// Attempts is how many times to try; default 10.
	Attempts int
	// Delay is the pause between attempts; default 2 s.
	Delay time.Duration
	// Timeout bounds each attempt; default 5 s.
	Timeout time.Duration
	// VerifyTLS checks the orchestrator's certificate. Orchestrators
	// usually present self-signed ones, so PyTrickle does not check, and
	// neither does the zero value.
	VerifyTLS bool
	// Client sends the requests; the default follows VerifyTLS.
	Client *http.Client
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Errors a registration can end with.
var (
	// ErrNotConfigured: no orchestrator URL or secret; nothing was sent.
	ErrNotConfigured = errors.New("orchestrator: no orchestrator URL or secret")
	// ErrBadSecret: the orchestrator answered 400, its answer to a wrong
	// secret; retrying would not help.
	ErrBadSecret = errors.New("orchestrator: the orchestrator refused the secret (400)")
	// ErrGaveUp: every attempt failed.
	ErrGaveUp = errors.New("orchestrator: registration failed")
)

// FromEnv reads PyTrickle's environment variables: ORCH_URL, ORCH_SECRET,
// CAPABILITY_NAME, CAPABILITY_DESCRIPTION, CAPABILITY_URL,
// CAPABILITY_CAPACITY, CAPABILITY_PRICE_PER_UNIT and
// CAPABILITY_PRICE_SCALING. Unset ones stay zero (their defaults); a
// number that does not parse is an error naming the variable.
func FromEnv() (Config, error) {
	c := Config{
		OrchURL:     os.Getenv("ORCH_URL"),
		Secret:      os.Getenv("ORCH_SECRET"),
		Name:        os.Getenv("CAPABILITY_NAME"),
		Description: os.Getenv("CAPABILITY_DESCRIPTION"),
		URL:         os.Getenv("CAPABILITY_URL"),
	}
	for _, v := range []struct {
		name string
		dst  *int
	}{
		{"CAPABILITY_CAPACITY", &c.Capacity},
		{"CAPABILITY_PRICE_PER_UNIT", &c.PricePerUnit},
		{"CAPABILITY_PRICE_SCALING", &c.PriceScaling},
	} {
		if s := os.Getenv(v.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return c, fmt.Errorf("orchestrator: %s=%q: want a whole number", v.name, s)
			}
			*v.dst = n
		}
	}
	return c, nil
}

// Enabled reports whether c names an orchestrator to register with.
func (c Config) Enabled() bool { return c.OrchURL != "" && c.Secret != "" }

// request is the body of POST /capability/register.
type request struct {
	URL          string `json:"url"`
	Name         string `json:"name"`
	Description  string `json:"description"`
	Capacity     int    `json:"capacity"`
	PricePerUnit int    `json:"price_per_unit"`
	PriceScaling int    `json:"price_scaling"`
}

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = "gotrickle-worker"
	}
	if c.Description == "" {
		c.Description = "gotrickle video processing worker"
	}
	if c.URL == "" {
		c.URL = "http://localhost:8000"
	}
	if c.Capacity == 0 {
		c.Capacity = 1
	}
	if c.PriceScaling == 0 {
		c.PriceScaling = 1
	}
	if c.Attempts == 0 {
		c.Attempts = 10
	}
	if c.Delay == 0 {
		c.Delay = 2 * time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: !c.VerifyTLS} //nolint:gosec // orchestrators use self-signed certificates (see VerifyTLS)
		c.Client = &http.Client{Transport: tr}
	}
	return c
}

// Register registers the capability, retrying transport errors and
// answers other than 200 and 400, and returns the URL it registered. It
// returns ErrNotConfigured without a URL or secret, ErrBadSecret on a 400,
// ErrGaveUp (wrapping the last failure) when every attempt failed, or
// ctx's error.
func Register(ctx context.Context, c Config) (*url.URL, error) {
	if !c.Enabled() {
		return nil, ErrNotConfigured
	}
	c = c.withDefaults()
	capURL, err := url.Parse(c.URL)
	if err != nil || capURL.Scheme == "" || capURL.Host == "" {
		return nil, fmt.Errorf("orchestrator: capability URL %q is not an absolute URL", c.URL)
	}
	orch, err := url.Parse(strings.TrimSuffix(c.OrchURL, "/"))
	if err != nil || orch.Scheme == "" || orch.Host == "" {
		return nil, fmt.Errorf("orchestrator: orchestrator URL %q is not an absolute URL", redact(c.OrchURL))
	}
	body, err := json.Marshal(request{URL: c.URL, Name: c.Name, Description: c.Description,
		Capacity: c.Capacity, PricePerUnit: c.PricePerUnit, PriceScaling: c.PriceScaling})
	if err != nil {
		return nil, err
	}
	endpoint := orch.String() + "/capability/register"
	log := c.Logger.With("orchestrator", redact(orch.String()), "capability", c.Name, "url", c.URL)
	var last error
	for attempt := 1; attempt <= c.Attempts; attempt++ {
		status, err := post(ctx, c, endpoint, body)
		switch {
		case err == nil && status == http.StatusOK:
			log.Info("capability registered", "attempt", attempt)
			return capURL, nil
		case err == nil && status == http.StatusBadRequest:
			log.Error("the orchestrator refused the secret")
			return nil, ErrBadSecret
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err == nil:
			last = fmt.Errorf("answer %d", status)
		default:
			last = err
		}
		log.Warn("registration attempt failed", "attempt", attempt, "of", c.Attempts, "err", last)
		if attempt < c.Attempts {
			t := time.NewTimer(c.Delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			}
		}
	}
	return nil, fmt.Errorf("%w after %d attempts: %w", ErrGaveUp, c.Attempts, last)
}

func post(ctx context.Context, c Config, endpoint string, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", c.Secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is logged separately, without credentials
		}
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// redact drops credentials from a URL for logs and errors.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
