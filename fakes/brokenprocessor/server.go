package brokenprocessor

import (
	"context"
	"io"
	"log/slog"
	"net/http"

	"github.com/gotrickle/gotrickle/pkg/api"
	"github.com/gotrickle/gotrickle/pkg/effect"
	"github.com/gotrickle/gotrickle/pkg/media"
	"github.com/gotrickle/gotrickle/pkg/processor"
)

// Config configures a broken processor. The zero value is gotrickle's
// processor with the passthrough handler, unbroken, logging nothing.
type Config struct {
	// Mutation is the planted bug; MutationNone plants none.
	Mutation Mutation
	// Processor configures the processor as `gotrickle serve`'s flags do.
	// Codecs defaults to media.Codecs{} (FFmpeg); HTTPClient's transport
	// (http.DefaultTransport's clone when nil) is wrapped to plant the
	// mutations on the output; Logger defaults to Logger.
	Processor processor.Config
	// API configures the HTTP API; Logger defaults to Logger.
	API api.Config
	// Logger receives the processor's and the API's logs; nil discards
	// them.
	Logger *slog.Logger
}

// Server is a running broken processor: an http.Handler serving
// PyTrickle's API (serve it on a listener, e.g. httptest.NewServer). Close
// stops it.
type Server struct {
	handler http.Handler
	relay   *relay
	own     *http.Transport // the trickle client's transport, when New made it
	cancel  context.CancelFunc
	done    chan error
}

// New starts a processor carrying cfg.Mutation; it loads its (absent)
// model at once and is IDLE when New returns.
func New(cfg Config) (*Server, error) {
	if !cfg.Mutation.Valid() {
		_, err := ParseMutation(string(cfg.Mutation))
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	pc, ac := cfg.Processor, cfg.API
	if pc.Codecs == nil {
		pc.Codecs = media.Codecs{}
	}
	if pc.Logger == nil {
		pc.Logger = log
	}
	if ac.Logger == nil {
		ac.Logger = log
	}
	s := &Server{done: make(chan error, 1)}
	var next http.RoundTripper
	if pc.HTTPClient != nil && pc.HTTPClient.Transport != nil {
		next = pc.HTTPClient.Transport
	} else {
		s.own = http.DefaultTransport.(*http.Transport).Clone()
		next = s.own
	}
	var client http.Client
	if pc.HTTPClient != nil {
		client = *pc.HTTPClient
	}
	client.Transport = &transport{next: next, mut: cfg.Mutation}
	pc.HTTPClient = &client

	h, err := effect.Lookup("passthrough")
	if err != nil {
		return nil, err
	}
	p, err := processor.New(h, pc)
	if err != nil {
		return nil, err
	}
	b := &backend{realBackend: p, mut: cfg.Mutation}
	if cfg.Mutation == MutationNoHeartbeat {
		if b.relay, err = newRelay(); err != nil {
			return nil, err
		}
	}
	srv := api.New(b, ac)
	p.SetObserver(srv.Observer())
	s.relay, s.handler = b.relay, srv
	if cfg.Mutation == MutationParamsError500 {
		s.handler = paramsErrorsAs500(srv)
	}
	if err := p.LoadModel(context.Background()); err != nil {
		s.closeRelay()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.done <- p.Run(ctx) }()
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Close stops the stream, if one runs (finishing its output as a stop
// does), and everything the Server started. It waits for the stream to
// end, or for ctx.
func (s *Server) Close(ctx context.Context) error {
	s.cancel()
	var err error
	select {
	case err = <-s.done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.closeRelay()
	if s.own != nil {
		s.own.CloseIdleConnections()
	}
	return err
}

func (s *Server) closeRelay() {
	if s.relay != nil {
		s.relay.close()
	}
}
