package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Processor runs at most one stream at a time through its handlers. Its
// methods are safe for concurrent use; pkg/api serves them over HTTP.
type Processor struct {
	cfg    Config
	h      handlers
	log    *slog.Logger
	state  *stateMachine
	loader *modelLoader

	mu      sync.Mutex
	current *stream // running, or ended on its own and not yet stopped
	// lastCounters are the totals of the last stream stopped, which
	// Status keeps showing until the next one starts.
	lastCounters *Counters
	paramMu      sync.Mutex
}

// New makes a processor around h, which implements any of the handler
// interfaces (or is a Funcs). Call LoadModel (or Run) before streams can
// start.
func New(h any, cfg Config) (*Processor, error) {
	if cfg.Codecs == nil {
		return nil, errors.New("processor: Config.Codecs is required")
	}
	cfg = cfg.withDefaults()
	if err := checkHWDecode(cfg); err != nil {
		return nil, err
	}
	p := &Processor{cfg: cfg, h: detect(h), log: cfg.Logger, state: newStateMachine()}
	p.loader = newModelLoader(p.h.loader, p.state)
	return p, nil
}

// LoadModel runs the model loader once (LOADING → IDLE, or ERROR when it
// fails); later calls after a success return at once. A processor without
// a ModelLoader becomes IDLE immediately.
func (p *Processor) LoadModel(ctx context.Context) error {
	return p.loader.load(ctx)
}

// WaitReady waits for a model load in progress (pkg/api's ReadyWaiter):
// a start request that arrives while loading waits, as in PyTrickle.
func (p *Processor) WaitReady(ctx context.Context) error { return p.loader.wait(ctx) }

// Run loads the model, then waits for ctx to end and stops any stream.
func (p *Processor) Run(ctx context.Context) error {
	if err := p.LoadModel(ctx); err != nil {
		p.log.Error("model loading failed", "err", err)
	}
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), p.cfg.StopTimeout+time.Second)
	defer cancel()
	if err := p.Stop(stopCtx); err != nil && !errors.Is(err, ErrNoStream) {
		return err
	}
	return nil
}

// SetObserver sets the Observer for streams started after the call (for
// when the observer is made after the processor, as pkg/api's is).
func (p *Processor) SetObserver(o Observer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg.Observer = o
}

// Health is the state /health reports.
func (p *Processor) Health() State { return p.state.health() }

// State is PyTrickle's pipeline-state payload.
func (p *Processor) State() StatePayload { return p.state.payload() }

// Start begins a stream in the background. A model still loading is waited
// for (bounded by ctx); it returns ErrNotReady when the model is not loaded
// and ErrBusy while another stream runs.
func (p *Processor) Start(ctx context.Context, req StartRequest) error {
	if !p.state.ready() {
		if err := p.loader.wait(ctx); err != nil || !p.state.ready() {
			return ErrNotReady
		}
	}
	cfg, err := p.streamConfig(req)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.current != nil && !p.current.finished() {
		if p.current.running() {
			return ErrBusy
		}
		// It ended on its own and its goroutines are finishing. They take
		// p.mu on their way out, so wait without holding it, then look
		// again: another start may have come first.
		prev := p.current
		p.mu.Unlock()
		prev.wait()
		p.mu.Lock()
	}
	s, err := newStream(p, req, cfg)
	if err != nil {
		return err
	}
	p.current, p.lastCounters = s, nil
	p.state.setActive(true)
	go s.run()
	return nil
}

// Stop ends the stream: input stops, frames already decoded are processed,
// the output's last segment is finished and the output channel closed, all
// within Config.StopTimeout. Without a stream it returns ErrNoStream.
func (p *Processor) Stop(ctx context.Context) error {
	p.mu.Lock()
	s := p.current
	p.mu.Unlock()
	if s == nil {
		return ErrNoStream
	}
	s.sendEvent(typedEvent("stream_stopped"), "")
	// The stream stays current while it drains, so that a start meanwhile
	// is refused as busy instead of running beside it.
	err := s.stop(ctx)
	p.mu.Lock()
	if p.current == s {
		p.current = nil
		c := s.counters()
		p.lastCounters = &c
		p.state.streamStopped()
	}
	p.mu.Unlock()
	return err
}

// UpdateParams applies parameters to the running stream (max_framerate,
// show_loading, load_model, conformance_invert) and hands the rest to the
// ParamUpdater, then emits one params_updated event. A failing updater
// puts the processor in ERROR until the next successful update or stop;
// the error is returned and no event is sent. Without a stream it returns
// ErrNoStream, except that {"load_model": true} retries the model load.
func (p *Processor) UpdateParams(ctx context.Context, params Params) error {
	p.mu.Lock()
	s := p.current
	p.mu.Unlock()
	if s == nil {
		// Without a stream the one thing to do is retry a failed model
		// load: a start cannot, as it is refused while loading failed.
		if _, load := stripLoadModel(params); load {
			if err := p.loader.load(ctx); err != nil {
				return fmt.Errorf("Model loading failed: %w", err)
			}
			return nil
		}
		return ErrNoStream
	}
	if err := p.applyParams(ctx, s, params, true); err != nil {
		return err
	}
	s.sendEvent(paramsEvent(params), "")
	return nil
}

// applyParams is shared by /stream/params (fromAPI) and the control
// channel, which neither emits events nor sets ERROR (PyTrickle).
func (p *Processor) applyParams(ctx context.Context, s *stream, params Params, fromAPI bool) error {
	p.paramMu.Lock()
	defer p.paramMu.Unlock()
	rest, loadRequested := stripLoadModel(params)
	if loadRequested {
		if err := p.loader.load(ctx); err != nil {
			return fmt.Errorf("Model loading failed: %w", err)
		}
	}
	s.applyBuiltins(rest)
	if len(rest) == 0 || p.h.params == nil {
		if fromAPI {
			p.state.paramsSucceeded()
		}
		s.params.merge(rest)
		return nil
	}
	err := callSafely(func() error { return p.h.params.UpdateParams(ctx, rest) })
	if err == nil {
		s.params.merge(rest)
	}
	switch {
	case err == nil && fromAPI:
		p.state.paramsSucceeded()
	case err != nil && fromAPI:
		p.state.setError("Parameter update failed: "+err.Error(), causeParams)
	case err != nil:
		p.log.Warn("control message: parameter update failed", "err", err)
	}
	return err
}

// Status is the body of /stream/status.
func (p *Processor) Status() Status {
	st := Status{StatePayload: p.state.payload()}
	p.mu.Lock()
	s := p.current
	st.Counters = p.lastCounters
	p.mu.Unlock()
	if s == nil {
		return st
	}
	st.ClientActive = true
	running := s.running()
	st.ClientRunning = &running
	fps := s.rates.snapshot(time.Now())
	st.FPS = &fps
	st.CurrentParams = &CurrentParams{SubscribeURL: s.req.SubscribeURL, PublishURL: s.req.PublishURL,
		GatewayRequestID: s.req.GatewayRequestID}
	if running {
		in, inf := degraded(time.Now(), s.rates.ingressVideo, s.rates.egressVideo)
		st.DegradedInput, st.DegradedInference = &in, &inf
	}
	c := s.counters()
	st.Counters = &c
	return st
}

// SendData queues a string for the data channel; false when no stream
// runs or the stream has no data channel.
func (p *Processor) SendData(s string) bool {
	st := p.running()
	return st != nil && st.data.Send(s)
}

// SendEvent queues a monitoring event; queueType defaults to
// "custom_monitoring_event". False when no stream runs or it has no events
// channel.
func (p *Processor) SendEvent(event map[string]any, queueType string) bool {
	if queueType == "" {
		queueType = "custom_monitoring_event"
	}
	st := p.running()
	return st != nil && st.sendEvent(event, queueType)
}

func (p *Processor) running() *stream {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.current != nil && p.current.running() {
		return p.current
	}
	return nil
}

// callSafely runs f, turning a panic into an error.
func callSafely(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}
