package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gotrickle/gotrickle/pkg/processor"
)

// Backend is what the server drives: gotrickle's processor, or a fake in
// tests. Its methods are called from concurrent request goroutines.
type Backend interface {
	// Start begins a stream. ctx is the request's context: it bounds the
	// start itself, not the stream. It returns processor.ErrBusy while a
	// stream runs and processor.ErrNotReady while the model is not loaded;
	// any other error is a failed start (answered 400).
	Start(ctx context.Context, req processor.StartRequest) error
	// Stop ends the running stream and returns once it has ended, or
	// processor.ErrNoStream when there is none.
	Stop(ctx context.Context) error
	// UpdateParams sends validated parameters to the running stream, or
	// returns processor.ErrNoStream when there is none; any other error is
	// the handler's failure.
	UpdateParams(ctx context.Context, p processor.Params) error
	// Status is the body of GET /stream/status.
	Status() processor.Status
	// Health is the state GET /health reports.
	Health() processor.State
	// State is the pipeline-state payload sent as current_state.
	State() processor.StatePayload
}

// ReadyWaiter is an optional Backend method. PyTrickle makes a start
// request that arrives while the model is loading wait for the load to
// finish; a Backend that implements WaitReady gets the same: the server
// calls it when State() is not ready, then checks State() again and answers
// 503 only if it is still not ready. Without it such a request gets 503 at
// once. WaitReady returns when the pipeline is ready, loading has failed,
// or ctx is done; its error is only logged.
type ReadyWaiter interface {
	WaitReady(ctx context.Context) error
}

// Config configures a Server. The zero value is PyTrickle's default
// server.
type Config struct {
	// RoutePrefix goes before /stream/start, /stream/stop, /stream/params
	// and /stream/status (never before the other routes). It defaults to
	// "", giving /stream/start; "/api" gives /api/stream/start. Trailing
	// slashes are trimmed and a missing leading slash is added.
	RoutePrefix string
	// Pipeline is reported by /version and /hardware/*. It defaults to the
	// PIPELINE environment variable when set, else "byoc".
	Pipeline string
	// ModelID is reported as model_id. It defaults to the CAPABILITY_NAME
	// environment variable when set, else MODEL_ID when set, else "".
	ModelID string
	// Version is gotrickle's version, reported by /version. It defaults to
	// the module version in the binary's build information, else
	// "(devel)".
	Version string
	// AppVersion is the application's version, reported by /app-version.
	// It defaults to "0.0.1".
	AppVersion string
	// MaxBodyBytes caps request bodies; a larger one is answered 413. It
	// defaults to 1 MiB (aiohttp's client_max_size); a negative value means
	// no limit.
	MaxBodyBytes int64
	// APIToken, when set, is the bearer token every route except /health
	// and /metrics needs ("Authorization: Bearer <token>", compared in
	// constant time). A request without it gets 401, a JSON error body
	// {"status":"error","message":"401: Unauthorized"} and
	// "WWW-Authenticate: Bearer". The status page (Config.StatusPage) is
	// behind it too, so a browser reaches it only through a proxy that adds
	// the header. Empty (the default): the API is open, as PyTrickle's is.
	APIToken string
	// AllowHosts, when not empty, lists the hosts that the URLs of a start
	// request (subscribe_url, publish_url, control_url, events_url,
	// data_url) may name; a start naming any other is refused 403 before
	// the processor is touched. Without it anyone who can reach the API
	// can make the processor send requests to any host it can reach
	// (SSRF). An entry is a host name ("trickle.internal"), a subdomain
	// wildcard ("*.example.com": any name under it, not the name itself),
	// an IP address ("10.0.0.7", "::1" or "[::1]"), each with an optional
	// ":port" (the URL's port, or 80/443 by scheme), or a CIDR
	// ("10.0.0.0/8", "fd00::/8", any port). Hosts are compared lower case
	// without a trailing dot and are not resolved: IP entries match only
	// URLs written with IP addresses. Entries that do not parse are logged
	// and skipped (ValidateAllowHosts checks them up front). Whatever
	// AllowHosts says, every URL given must be http or https with a host
	// (else 400).
	AllowHosts []string
	// Logger receives the server's logs. It defaults to slog.Default().
	Logger *slog.Logger
	// Registerer is where the server's metrics are registered. It defaults
	// to a registry of the server's own, which also carries the process_*
	// and go_* collectors.
	Registerer prometheus.Registerer
	// Gatherer is what GET /metrics serves. It defaults to Registerer when
	// that is also a Gatherer (a *prometheus.Registry is), else to
	// prometheus.DefaultGatherer.
	Gatherer prometheus.Gatherer
	// Hardware, when set, gives the gpu_info and gpu_stats maps of
	// /hardware/info and /hardware/stats (keyed by GPU index as a string).
	// Without it, or where it returns nil, the maps are empty, as
	// PyTrickle's are when NVML is unavailable.
	Hardware func() (info, stats map[string]any)
	// StatusPage, when set, serves GET and HEAD of "/", "/ws" and every
	// path under "/ui/" (a *statuspage.Page: the live web status page, its
	// websocket and its assets), never prefixed by RoutePrefix; the API's
	// own routes win where a path is both. Other methods there get 405.
	// Unset, those paths are 404 like any unknown path.
	StatusPage http.Handler
}

// DefaultMaxBodyBytes is the default Config.MaxBodyBytes.
const DefaultMaxBodyBytes = 1 << 20

// Server is PyTrickle's HTTP API (StreamServer's routes) over a Backend. It
// is an http.Handler; every response body is JSON except /metrics.
type Server struct {
	b       Backend
	cfg     Config
	log     *slog.Logger
	routes  map[string]route
	metrics *metrics
	allow   hostList
}

// route is one path: the methods it answers and its handler.
type route struct {
	post bool // POST only; else GET and HEAD
	h    func(w http.ResponseWriter, r *http.Request)
}

// New returns a Server for b. It registers the server's metrics with
// cfg.Registerer; a registration failure is logged, not fatal.
func New(b Backend, cfg Config) *Server {
	cfg = withDefaults(cfg)
	s := &Server{b: b, cfg: cfg, log: cfg.Logger}
	s.allow = newHostList(cfg.AllowHosts, func(err error) {
		s.log.Error("api: skipping an allow-hosts entry", "err", err)
	})
	s.metrics = newMetrics(b, cfg, s.log)

	metricsHandler := promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	})
	p := cfg.RoutePrefix
	s.routes = map[string]route{
		p + "/stream/start":    {post: true, h: s.handleStart},
		p + "/stream/stop":     {post: true, h: s.handleStop},
		p + "/stream/params":   {post: true, h: s.handleParams},
		p + "/stream/status":   {h: s.handleStatus},
		"/health":              {h: s.handleHealth},
		"/version":             {h: s.handleVersion},
		"/app-version":         {h: s.handleAppVersion},
		"/hardware/info":       {h: s.handleHardwareInfo},
		"/hardware/stats":      {h: s.handleHardwareStats},
		"/live-video-to-video": {post: true, h: s.handleStart},
		"/metrics":             {h: metricsHandler.ServeHTTP},
	}
	if sp := cfg.StatusPage; sp != nil {
		for _, path := range []string{"/", "/ws"} {
			if _, taken := s.routes[path]; !taken {
				s.routes[path] = route{h: sp.ServeHTTP}
			}
		}
	}
	return s
}

// statusPageAssets is the path prefix under which Config.StatusPage
// serves its assets.
const statusPageAssets = "/ui/"

// Observer returns the observer that feeds the handler-latency histogram
// gotrickle_handler_seconds{kind}; give it to the processor.
func (s *Server) Observer() processor.Observer { return s.metrics }

// Config returns the configuration in effect, defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// ServeHTTP routes a request by its exact path (no cleaning, no
// redirects): an unknown path gets 404, a known one with the wrong method
// 405 with an Allow header, both with JSON bodies.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, ok := s.routes[r.URL.Path]
	if !ok && s.cfg.StatusPage != nil && strings.HasPrefix(r.URL.Path, statusPageAssets) {
		rt, ok = route{h: s.cfg.StatusPage.ServeHTTP}, true
	}
	if !ok {
		s.writeJSON(w, http.StatusNotFound, errorBody("404: Not Found"))
		return
	}
	if !s.authorized(w, r) {
		return
	}
	switch {
	case rt.post && r.Method == http.MethodPost:
	case !rt.post && (r.Method == http.MethodGet || r.Method == http.MethodHead):
	default:
		if rt.post {
			w.Header().Set("Allow", http.MethodPost)
		} else {
			w.Header().Set("Allow", "GET, HEAD")
		}
		s.writeJSON(w, http.StatusMethodNotAllowed, errorBody("405: Method Not Allowed"))
		return
	}
	defer s.recoverPanic(w, r)
	rt.h(w, r)
}

// recoverPanic turns a panic in a handler (the Backend's, most likely)
// into a 500 JSON answer; http.ErrAbortHandler is passed on.
func (s *Server) recoverPanic(w http.ResponseWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler { //nolint:errorlint // sentinel comparison as net/http does
		panic(v)
	}
	s.log.Error("api: handler panicked", "method", r.Method, "path", r.URL.Path,
		"panic", v, "stack", string(debug.Stack()))
	if r.URL.Path == "/health" {
		// PyTrickle's answer when the health check fails.
		s.writeJSON(w, http.StatusInternalServerError,
			map[string]any{"detail": map[string]string{"msg": "Failed to retrieve pipeline status."}})
		return
	}
	msg := "Internal server error: "
	if r.URL.Path == s.cfg.RoutePrefix+"/stream/status" {
		msg = "Error getting status: " // PyTrickle's wording
	}
	s.writeJSON(w, http.StatusInternalServerError, errorBody(fmt.Sprintf("%s%v", msg, v)))
}

// errorBody is {"status":"error","message":msg}.
func errorBody(msg string) map[string]any {
	return map[string]any{"status": "error", "message": msg}
}

// writeJSON writes v as the response body with status code. Headers may
// already be written if a handler panicked mid-answer; then this is a
// best effort that net/http reports as a superfluous WriteHeader.
func (s *Server) writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		s.log.Error("api: encoding response", "err", err)
		buf.Reset()
		_ = json.NewEncoder(&buf).Encode(errorBody("Error encoding response: " + err.Error()))
		code = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func withDefaults(cfg Config) Config {
	cfg.RoutePrefix = strings.TrimRight(cfg.RoutePrefix, "/")
	if cfg.RoutePrefix != "" && !strings.HasPrefix(cfg.RoutePrefix, "/") {
		cfg.RoutePrefix = "/" + cfg.RoutePrefix
	}
	if cfg.Pipeline == "" {
		cfg.Pipeline = "byoc"
		if v, ok := os.LookupEnv("PIPELINE"); ok {
			cfg.Pipeline = v
		}
	}
	if cfg.ModelID == "" {
		if v, ok := os.LookupEnv("CAPABILITY_NAME"); ok {
			cfg.ModelID = v
		} else {
			cfg.ModelID = os.Getenv("MODEL_ID")
		}
	}
	if cfg.Version == "" {
		cfg.Version = buildVersion()
	}
	if cfg.AppVersion == "" {
		cfg.AppVersion = "0.0.1"
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registerer == nil {
		reg := prometheus.NewRegistry()
		// The process's own figures (resident memory, CPU, open files) and
		// the Go runtime's, as any Go service exports them: what a scraper
		// and the conformance suite's memory check (PROC-104) look for.
		reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
		cfg.Registerer = reg
		if cfg.Gatherer == nil {
			cfg.Gatherer = reg
		}
	}
	if cfg.Gatherer == nil {
		if g, ok := cfg.Registerer.(prometheus.Gatherer); ok {
			cfg.Gatherer = g
		} else {
			cfg.Gatherer = prometheus.DefaultGatherer
		}
	}
	return cfg
}

// modulePath is gotrickle's module, whose version /version reports.
const modulePath = "github.com/gotrickle/gotrickle"

// buildVersion finds gotrickle's module version in the build information:
// the main module's when gotrickle is the program, else the dependency's.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	if bi.Main.Path == modulePath && bi.Main.Version != "" {
		return bi.Main.Version
	}
	for _, dep := range bi.Deps {
		if dep.Path == modulePath && dep.Version != "" {
			return dep.Version
		}
	}
	return "(devel)"
}
