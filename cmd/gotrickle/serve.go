package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gotrickle/gotrickle/pkg/api"
	"github.com/gotrickle/gotrickle/pkg/effect"
	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/media"
	"github.com/gotrickle/gotrickle/pkg/orchestrator"
	"github.com/gotrickle/gotrickle/pkg/processor"
	"github.com/gotrickle/gotrickle/pkg/statuspage"
)

type serveFlags struct {
	addr, handler string
	port          int
	gcPercent     int
	shutdown      time.Duration
	apiCfg        api.Config
	procCfg       processor.Config
	codecs        media.Codecs
	orch          orchestrator.Config
	noStatusPage  bool
	pageOrigins   []string
	device        string
	hwdecode      string
	trickleToken  string
	tokenHosts    []string
	log           logFlags
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run a stream processor with PyTrickle's HTTP API",
		Long: `Run a stream processor: it waits for POST /stream/start, subscribes to the
trickle channel at subscribe_url, runs the chosen handler on every frame, and
publishes H.264 + audio MPEG-TS segments to publish_url. The HTTP API is PyTrickle's
(/stream/start, /stream/stop, /stream/params, /stream/status, /health, /version,
/app-version, /hardware/info, /hardware/stats, /live-video-to-video) plus /metrics, and
a live status page at / (state, params form, fps and latency charts, events, an output
preview; pushed over /ws; --no-status-page turns it off).

Handlers: ` + strings.Join(effect.Names(), ", ") + `.

PyTrickle's README drives its server at /api/stream/...: pass --route-prefix /api
to use those commands unchanged. Prints "listening http://ADDR" once it accepts
connections.

Shutdown: the first SIGINT or SIGTERM closes the API to new requests, stops the
stream as POST /stream/stop does (decoded frames drained, the encoder flushed,
the last output segment finished, the output channel closed so readers see the
end of the stream, stream_stopped sent on the events channel), shuts the HTTP
server down and exits 0, all within --shutdown-timeout. A second signal exits at
once: 130 after SIGINT, 143 after SIGTERM.

Exit status: 0 shut down cleanly, 1 failed (or the shutdown overran
--shutdown-timeout), 2 bad command line, 130/143 a second signal.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := f.log.logger(c.ErrOrStderr())
			if err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			fromEnv(c, "api-token", envAPIToken, &f.apiCfg.APIToken)
			listFromEnv(c, "allow-hosts", envAllowHosts, &f.apiCfg.AllowHosts)
			fromEnv(c, "trickle-token", envTrickleToken, &f.trickleToken)
			if err := checkAllowHosts(f.apiCfg.AllowHosts); err != nil {
				return err
			}
			if f.procCfg.HTTPClient, err = trickleTokenClient(f.trickleToken, f.tokenHosts); err != nil {
				return err
			}
			if err := checkShutdownTimeout(f.shutdown); err != nil {
				return err
			}
			h, err := effect.Lookup(f.handler)
			if err != nil {
				return fmt.Errorf("%w: --handler: %w", errUsage, err)
			}
			f.procCfg.Logger, f.apiCfg.Logger = log, log
			f.procCfg.Codecs = f.codecs
			if f.apiCfg.Version == "" {
				f.apiCfg.Version = version
			}
			if c.Flags().Changed("port") {
				if f.port < 0 || f.port > 65535 {
					return fmt.Errorf("%w: --port %d: want 0..65535", errUsage, f.port)
				}
				host, _, err := net.SplitHostPort(f.addr)
				if err != nil {
					return fmt.Errorf("%w: --addr %q: %w", errUsage, f.addr, err)
				}
				f.addr = net.JoinHostPort(host, strconv.Itoa(f.port))
			}
			// The video queue is most of a stream's heap under overload, and
			// the collector lets the heap grow to (1 + GOGC/100) times what is
			// live: 50 keeps a 720p stream near 260 MB instead of 290
			// (PROC-104) for a few more, cheap, collections.
			if c.Flags().Changed("gc-percent") || os.Getenv("GOGC") == "" {
				debug.SetGCPercent(f.gcPercent)
			}
			reg, err := registration(f.orch, c)
			if err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			reg.Logger = log
			if err := checkHWDecode(f.hwdecode, f.device); err != nil {
				return err
			}
			dev, err := openDevice(f.device, log)
			if err != nil {
				return err
			}
			f.procCfg.HWDecode = f.hwdecode
			if dev != nil {
				defer dev.Close()
				f.procCfg.Device = dev
			}
			var page *statuspage.Config
			if !f.noStatusPage {
				page = &statuspage.Config{RoutePrefix: f.apiCfg.RoutePrefix, AllowedOrigins: f.pageOrigins, Logger: log}
			}
			return runProcessor(c.Context(), c, f.addr, h, f.procCfg, f.apiCfg, reg, page, f.shutdown)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.addr, "addr", "0.0.0.0:8000", "host:port of the HTTP API (PyTrickle's default; port 0 picks a free one)")
	fl.IntVar(&f.port, "port", 8000, "port of the HTTP API, on --addr's host (overrides --addr's port)")
	fl.IntVar(&f.gcPercent, "gc-percent", 50, "the Go collector's GOGC (the GOGC variable wins unless this is given); lower keeps memory closer to what is live")
	fl.StringVar(&f.handler, "handler", "passthrough", "the frame handler: "+strings.Join(effect.Names(), ", "))
	fl.StringVar(&f.apiCfg.RoutePrefix, "route-prefix", "/", "path before /stream/..., e.g. /api")
	fl.StringVar(&f.apiCfg.Pipeline, "pipeline", "", "pipeline name for /version (default $PIPELINE or byoc)")
	fl.StringVar(&f.apiCfg.ModelID, "model-id", "", "model_id for /version (default $CAPABILITY_NAME or $MODEL_ID)")
	fl.StringVar(&f.apiCfg.AppVersion, "app-version", "0.0.1", "version reported by /app-version")
	fl.IntVar(&f.procCfg.Width, "width", 512, "default frame width handlers see (start params width/height override)")
	fl.IntVar(&f.procCfg.Height, "height", 512, "default frame height handlers see")
	fl.IntVar(&f.procCfg.MaxFramerate, "max-framerate", 24, "default input frame-rate cap (params max_framerate overrides it, live)")
	fl.DurationVar(&f.procCfg.MaxLag, "max-lag", 500*time.Millisecond, "skip a video frame that waited longer than this for the handler")
	fl.DurationVar(&f.procCfg.StopTimeout, "stop-timeout", 5*time.Second, "longest a stop may take to drain decoded frames")
	fl.DurationVar(&f.procCfg.OutputStallTimeout, "output-stall-timeout", 5*time.Second, "give up an output segment when one write of it to the publish server, the wait for the answer to its end, or its abort, takes this long (negative: wait for ever; keep it above 3 s, the retries' pauses)")
	fl.IntVar(&f.procCfg.OutputBuffer, "output-buffer", 16<<20, "bytes of encoded output that may wait for a slow publish server before a segment is dropped (negative: no buffer, the encoder waits for the network)")
	addShutdownFlag(c, &f.shutdown, "stop the stream, finish its output, close the API")
	fl.StringVar(&f.codecs.Encoder.Preset, "preset", "superfast", "libx264 preset")
	fl.StringVar(&f.codecs.Encoder.Tune, "tune", "zerolatency", "libx264 tune (none for none)")
	fl.DurationVar(&f.codecs.Encoder.GOP, "gop", 2*time.Second, "time between IDR frames; output segments are cut at them")
	fl.IntVar(&f.codecs.Encoder.CRF, "crf", 23, "libx264 constant rate factor")
	fl.StringVar(&f.codecs.Encoder.AudioCodec, "audio-codec", "opus", "output audio codec: opus or aac")
	fl.IntVar(&f.codecs.Decoder.Threads, "decoder-threads", 0, "decoder threads (0: one per core)")
	fl.IntVar(&f.codecs.Encoder.Threads, "encoder-threads", 0, "libx264 threads (0: one per core)")
	fl.StringVar(&f.device, "device", "none", "run the video frame path on a device: none (host memory), cuda (needs a -tags cuda build and a GPU), cpu (the GPU path's CPU build, for testing) or auto (cuda if it opens, else cpu)")
	fl.StringVar(&f.hwdecode, "hwdecode", "", `decode the input on the device: "" (software) or cuda (NVDEC through FFmpeg's cuda hwaccel; needs --device cuda)`)
	fl.BoolVar(&f.noStatusPage, "no-status-page", false, "do not serve the live status page at / (and /ws, /ui/)")
	fl.StringVar(&f.apiCfg.APIToken, "api-token", "", "bearer token every API route but /health and /metrics needs (prefer $"+envAPIToken+")")
	fl.StringSliceVar(&f.apiCfg.AllowHosts, "allow-hosts", nil,
		"hosts start request URLs may name: host[:port], *.domain, IP[:port] or CIDR (comma list or repeated; $"+envAllowHosts+"); unset: any host")
	fl.StringVar(&f.trickleToken, "trickle-token", "", "bearer token the processor sends to --trickle-token-hosts (prefer $"+envTrickleToken+")")
	fl.StringSliceVar(&f.tokenHosts, "trickle-token-hosts", nil, "host[:port] of the trickle servers that get --trickle-token (as written in the URLs)")
	fl.StringSliceVar(&f.pageOrigins, "status-page-origin", nil,
		"origin besides the processor's own host allowed to open the status page's websocket (repeatable; * for any)")
	fl.StringVar(&f.orch.OrchURL, "orch-url", "", "register with this Livepeer orchestrator once listening [ORCH_URL]")
	fl.StringVar(&f.orch.Secret, "orch-secret", "", "the orchestrator's secret; prefer the environment [ORCH_SECRET]")
	fl.StringVar(&f.orch.URL, "capability-url", "", "URL the orchestrator reaches this processor at (default http://localhost:PORT) [CAPABILITY_URL]")
	fl.StringVar(&f.orch.Name, "capability-name", "", "capability name (default gotrickle-worker) [CAPABILITY_NAME]")
	fl.StringVar(&f.orch.Description, "capability-description", "", "capability description [CAPABILITY_DESCRIPTION]")
	fl.IntVar(&f.orch.Capacity, "capability-capacity", 0, "streams at once (default 1) [CAPABILITY_CAPACITY]")
	fl.IntVar(&f.orch.PricePerUnit, "capability-price-per-unit", 0, "price per unit [CAPABILITY_PRICE_PER_UNIT]")
	fl.IntVar(&f.orch.PriceScaling, "capability-price-scaling", 0, "price scaling (default 1) [CAPABILITY_PRICE_SCALING]")
	f.log.register(c)
	return c
}

// registration merges the orchestrator flags over PyTrickle's environment
// variables (flags win).
func registration(flags orchestrator.Config, c *cobra.Command) (orchestrator.Config, error) {
	env, err := orchestrator.FromEnv()
	if err != nil {
		return env, err
	}
	set := func(name string, dst *string, v string) {
		if c.Flags().Changed(name) {
			*dst = v
		}
	}
	set("orch-url", &env.OrchURL, flags.OrchURL)
	set("orch-secret", &env.Secret, flags.Secret)
	set("capability-url", &env.URL, flags.URL)
	set("capability-name", &env.Name, flags.Name)
	set("capability-description", &env.Description, flags.Description)
	for name, p := range map[string][2]*int{
		"capability-capacity":       {&env.Capacity, &flags.Capacity},
		"capability-price-per-unit": {&env.PricePerUnit, &flags.PricePerUnit},
		"capability-price-scaling":  {&env.PriceScaling, &flags.PriceScaling},
	} {
		if c.Flags().Changed(name) {
			if *p[1] < 0 {
				return env, fmt.Errorf("--%s %d: want 0 or more", name, *p[1])
			}
			*p[0] = *p[1]
		}
	}
	if (env.OrchURL == "") != (env.Secret == "") {
		return env, errors.New("registering with an orchestrator needs both --orch-url (ORCH_URL) and --orch-secret (ORCH_SECRET)")
	}
	return env, nil
}

// runProcessor serves h's processor until ctx ends, with the status page
// when page is not nil; once it listens, it registers with the orchestrator
// reg names, if any, in the background. Its shutdown takes at most bound.
func runProcessor(ctx context.Context, c *cobra.Command, addr string, h any, pc processor.Config, ac api.Config,
	reg orchestrator.Config, page *statuspage.Config, bound time.Duration) error {
	if pc.MaxFramerate < 1 || pc.MaxFramerate > 60 {
		return fmt.Errorf("%w: --max-framerate %d: want 1..60", errUsage, pc.MaxFramerate)
	}
	if pc.Width < 1 || pc.Height < 1 || pc.Width > frame.MaxDimension || pc.Height > frame.MaxDimension {
		return fmt.Errorf("%w: --width/--height %dx%d: want 1..%d", errUsage, pc.Width, pc.Height, frame.MaxDimension)
	}
	p, err := processor.New(h, pc)
	if err != nil {
		return err
	}
	var sp *statuspage.Page
	if page != nil {
		sp = statuspage.New(p, *page)
		// Deferred first, so it runs after the HTTP server's Shutdown,
		// which does not wait for websockets.
		defer sp.Close()
		ac.StatusPage = sp
	}
	srv := api.New(p, ac)
	if sp != nil {
		p.SetObserver(processor.Observers(srv.Observer(), sp))
	} else {
		p.SetObserver(srv.Observer())
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	runDone := make(chan error, 1)
	go func() { runDone <- p.Run(runCtx) }()
	fmt.Fprintf(c.OutOrStdout(), "listening http://%s\n", ln.Addr())
	if sp != nil {
		pc.Logger.Info("status page", "url", "http://"+ln.Addr().String()+"/")
	}
	regDone := make(chan struct{})
	regCtx, cancelReg := context.WithCancel(ctx)
	defer func() { cancelReg(); <-regDone }()
	go func() {
		defer close(regDone)
		if !reg.Enabled() {
			return
		}
		if reg.URL == "" {
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			reg.URL = "http://localhost:" + port
		}
		// A failed registration is logged, not fatal: the processor still
		// serves whoever knows its URL (PyTrickle does the same).
		if _, err := orchestrator.Register(regCtx, reg); err != nil && regCtx.Err() == nil {
			reg.Logger.Error("orchestrator registration failed", "err", err)
		}
	}()
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	pc.Logger.Info("shutting down", "cause", context.Cause(ctx), "shutdown_timeout", bound)
	serr := shutdownWithin(ctx, bound, pc.Logger, func(sctx context.Context) error {
		return shutdownProcessor(sctx, bound, hs, p, cancelRun, runDone)
	})
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, serr)
}
