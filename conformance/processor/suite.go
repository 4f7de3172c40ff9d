// Package processor is the conformance suite for PyTrickle-compatible
// processors: it checks the PROC requirements of docs/spec/processor-api.md
// against the processor at TRICKLE_PROCESSOR_URL, or against gotrickle's own
// processor started in-process when that is unset. The suite runs its own
// trickle server (the "suite server"), publishes real fixtures into it,
// drives the processor through its HTTP API, and judges what comes back on
// the output, events and data channels. Specs run one after another: a
// processor runs one stream at a time.
package processor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/gotrickle/gotrickle/conformance/harness"
	"github.com/gotrickle/gotrickle/docs/spec"
	"github.com/gotrickle/gotrickle/fakes/trickleserver"
	"github.com/gotrickle/gotrickle/fixtures"
	"github.com/gotrickle/gotrickle/pkg/api"
	"github.com/gotrickle/gotrickle/pkg/media"
	"github.com/gotrickle/gotrickle/pkg/processor"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// Suite is the processor suite, for harness.Main (gotrickle conformance processor) and
// harness.Run (go test).
var Suite = harness.Suite{Name: "processor", Title: "Processor conformance",
	Catalog: harness.RequirementsWithPrefix(spec.ProcessorAPI, "PROC-"), Specs: &specs}

// specs holds the suite's top-level nodes until it runs.
var specs harness.Specs

// settings are what the suite knows about the processor under test
// (docs/spec/processor-api.md §4).
type settings struct {
	procURL   string // base URL, no trailing slash
	prefix    string // route prefix, "" or "/api"
	features  map[string]bool
	listen    string // where the suite server listens
	suiteURL  string // where the processor reaches it, ending in "/"
	reaction  time.Duration
	long      bool
	inProcess bool
}

func loadSettings() (settings, error) {
	s := settings{
		procURL:  strings.TrimSuffix(os.Getenv("TRICKLE_PROCESSOR_URL"), "/"),
		prefix:   strings.TrimSuffix(os.Getenv("TRICKLE_PROCESSOR_PREFIX"), "/"),
		features: map[string]bool{},
		listen:   os.Getenv("TRICKLE_SUITE_LISTEN"),
		suiteURL: os.Getenv("TRICKLE_SUITE_URL"),
		reaction: 2 * time.Second,
		long:     os.Getenv("TRICKLE_LONG") == "1",
	}
	if s.prefix != "" && !strings.HasPrefix(s.prefix, "/") {
		s.prefix = "/" + s.prefix
	}
	for f := range strings.SplitSeq(os.Getenv("TRICKLE_PROCESSOR_FEATURES"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			s.features[f] = true
		}
	}
	if s.listen == "" {
		s.listen = "127.0.0.1:0"
	}
	if v := os.Getenv("TRICKLE_REACTION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("TRICKLE_REACTION %q: want a positive duration", v)
		}
		s.reaction = d
	}
	return s, nil
}

var (
	cfg       settings
	client    *http.Client
	suite     *trickleserver.Server
	suiteHTTP *http.Server
	manifest  *fixtures.Manifest
	quiet     = slog.New(slog.NewTextHandler(io.Discard, nil))

	// Set when the suite runs gotrickle's processor in-process.
	inprocProc *processor.Processor
	inprocHTTP *http.Server
	inprocStop context.CancelFunc
)

var _ = specs.BeforeEach(harness.CategoryGate)

var _ = specs.BeforeSuite(func() {
	var err error
	if cfg, err = loadSettings(); err != nil {
		harness.HarnessError(err)
	}
	if manifest, err = fixtures.Load(); err != nil {
		harness.HarnessError(err)
	}
	client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}

	// The suite server: gotrickle's server with a recorder of every request.
	suite = trickleserver.New(trickleserver.Config{Trickle: trickle.ServerConfig{Autocreate: true, RingSize: 16, Logger: quiet}})
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		harness.HarnessError(fmt.Errorf("TRICKLE_SUITE_LISTEN %s: %w", cfg.listen, err))
	}
	suiteHTTP = &http.Server{Handler: suite, ReadHeaderTimeout: 10 * time.Second}
	go suiteHTTP.Serve(ln)
	if cfg.suiteURL == "" {
		cfg.suiteURL = "http://" + ln.Addr().String() + "/"
	}
	if !strings.HasSuffix(cfg.suiteURL, "/") {
		cfg.suiteURL += "/"
	}

	if cfg.procURL == "" {
		startInProcess()
	} else {
		harness.SetTarget(cfg.procURL + cfg.prefix)
	}
})

// startInProcess serves gotrickle's processor (the driver handler; the
// processor applies conformance_invert itself) on a loopback port.
func startInProcess() {
	cfg.inProcess = true
	cfg.features["passthrough"], cfg.features["effects"] = true, true
	p, err := processor.New(driver, processor.Config{Codecs: media.Codecs{}, Logger: procLogger()})
	if err != nil {
		harness.HarnessError(err)
	}
	srv := api.New(p, api.Config{Logger: quiet, RoutePrefix: cfg.prefix})
	p.SetObserver(srv.Observer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		harness.HarnessError(err)
	}
	inprocHTTP = &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go inprocHTTP.Serve(ln)
	ctx, cancel := context.WithCancel(context.Background())
	inprocStop = cancel
	inprocProc = p
	go p.Run(ctx)
	cfg.procURL = "http://" + ln.Addr().String()
	harness.SetTarget("gotrickle pkg/processor (in-process) at " + cfg.procURL + cfg.prefix)
}

var _ = specs.AfterSuite(func() {
	if inprocStop != nil {
		inprocStop()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		inprocProc.Stop(ctx)
		inprocHTTP.Shutdown(ctx)
	}
	if suiteHTTP != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		suite.Close()
		suiteHTTP.Shutdown(ctx)
	}
	if client != nil {
		client.CloseIdleConnections()
	}
})

// needFeature marks a spec unsupported unless the processor claims f.
func needFeature(f string) {
	GinkgoHelper()
	if !cfg.features[f] {
		harness.Unsupported("needs the %q feature (TRICKLE_PROCESSOR_FEATURES)", f)
	}
}

func randomName(prefix string) string {
	var b [5]byte
	rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// procLogger is the in-process processor's logger: silent unless
// TRICKLE_PROCESSOR_LOG=1 (for debugging the suite itself).
func procLogger() *slog.Logger {
	if os.Getenv("TRICKLE_PROCESSOR_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return quiet
}
