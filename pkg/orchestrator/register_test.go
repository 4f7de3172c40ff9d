package orchestrator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeOrch is a local orchestrator endpoint: it records registrations and
// answers with the statuses it is given, one per request (then 200).
type fakeOrch struct {
	mu       sync.Mutex
	answers  []int
	got      []request
	auth     []string
	requests atomic.Int64
}

func (f *fakeOrch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != "/capability/register" || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "wrong request", http.StatusNotFound)
		return
	}
	var req request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, req)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	code := http.StatusOK
	if len(f.answers) > 0 {
		code, f.answers = f.answers[0], f.answers[1:]
	}
	w.WriteHeader(code)
}

func quick(url string, log *slog.Logger) Config {
	return Config{OrchURL: url, Secret: "s3cret", Delay: time.Millisecond, Attempts: 3, Logger: log}
}

func TestRegisterSendsPyTricklesRequest(t *testing.T) {
	orch := &fakeOrch{}
	srv := httptest.NewTLSServer(orch) // self-signed, as orchestrators are
	defer srv.Close()
	c := quick(srv.URL+"/", slog.New(slog.NewTextHandler(io.Discard, nil)))
	c.Name, c.URL, c.Capacity, c.PricePerUnit = "my-worker", "http://10.0.0.5:8000", 4, 7
	u, err := Register(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if u.String() != "http://10.0.0.5:8000" {
		t.Errorf("registered %v", u)
	}
	want := request{URL: "http://10.0.0.5:8000", Name: "my-worker", Description: "gotrickle video processing worker",
		Capacity: 4, PricePerUnit: 7, PriceScaling: 1}
	if len(orch.got) != 1 || orch.got[0] != want || orch.auth[0] != "s3cret" {
		t.Fatalf("the orchestrator got %+v with Authorization %q; want %+v with the secret", orch.got, orch.auth, want)
	}
}

func TestRegisterRetriesAndGivesUpAsDocumented(t *testing.T) {
	cases := []struct {
		name     string
		answers  []int
		wantErr  error
		requests int64
	}{
		{"a 503 then 200 registers on the second attempt", []int{503}, nil, 2},
		{"a 400 means a wrong secret and is not retried", []int{400, 200}, ErrBadSecret, 1},
		{"three 500s use up three attempts", []int{500, 500, 500, 200}, ErrGaveUp, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			orch := &fakeOrch{answers: c.answers}
			srv := httptest.NewServer(orch)
			defer srv.Close()
			_, err := Register(context.Background(), quick(srv.URL, slog.New(slog.NewTextHandler(io.Discard, nil))))
			if !errors.Is(err, c.wantErr) || (c.wantErr == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, c.wantErr)
			}
			if n := orch.requests.Load(); n != c.requests {
				t.Fatalf("%d requests, want %d", n, c.requests)
			}
		})
	}
	t.Run("an orchestrator that is not there fails after the attempts, naming the cause", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		addr := srv.URL
		srv.Close()
		_, err := Register(context.Background(), quick(addr, slog.New(slog.NewTextHandler(io.Discard, nil))))
		if !errors.Is(err, ErrGaveUp) || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("a cancelled context stops the retries", func(t *testing.T) {
		orch := &fakeOrch{answers: []int{500, 500, 500}}
		srv := httptest.NewServer(orch)
		defer srv.Close()
		ctx, cancel := context.WithCancel(context.Background())
		c := quick(srv.URL, slog.New(slog.NewTextHandler(io.Discard, nil)))
		c.Delay = time.Hour
		go func() { time.Sleep(50 * time.Millisecond); cancel() }()
		if _, err := Register(ctx, c); !errors.Is(err, context.Canceled) {
			t.Fatalf("%v", err)
		}
	})
}

func TestRegisterNeedsURLAndSecretAndNeverLogsTheSecret(t *testing.T) {
	if _, err := Register(context.Background(), Config{OrchURL: "http://x"}); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("no secret: %v", err)
	}
	if _, err := Register(context.Background(), Config{Secret: "x"}); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("no URL: %v", err)
	}
	var logs bytes.Buffer
	orch := &fakeOrch{answers: []int{502, 400}}
	srv := httptest.NewServer(orch)
	defer srv.Close()
	c := quick(strings.Replace(srv.URL, "http://", "http://user:pw@", 1), slog.New(slog.NewTextHandler(&logs, nil)))
	Register(context.Background(), c)
	if strings.Contains(logs.String(), "s3cret") || strings.Contains(logs.String(), ":pw@") {
		t.Fatalf("the logs carry a credential:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "refused the secret") {
		t.Fatalf("the logs do not say why:\n%s", logs.String())
	}
}

func TestFromEnvReadsPyTricklesVariables(t *testing.T) {
	t.Setenv("ORCH_URL", "https://orch:8935")
	t.Setenv("ORCH_SECRET", "sec")
	t.Setenv("CAPABILITY_NAME", "n")
	t.Setenv("CAPABILITY_DESCRIPTION", "d")
	t.Setenv("CAPABILITY_URL", "http://me:8000")
	t.Setenv("CAPABILITY_CAPACITY", "3")
	t.Setenv("CAPABILITY_PRICE_PER_UNIT", "5")
	t.Setenv("CAPABILITY_PRICE_SCALING", "2")
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	want := Config{OrchURL: "https://orch:8935", Secret: "sec", Name: "n", Description: "d", URL: "http://me:8000",
		Capacity: 3, PricePerUnit: 5, PriceScaling: 2}
	if c != want || !c.Enabled() {
		t.Fatalf("%+v", c)
	}
	t.Setenv("CAPABILITY_CAPACITY", "lots")
	if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), "CAPABILITY_CAPACITY") {
		t.Fatalf("a bad number: %v", err)
	}
}
