package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// streamConfig is what a start request's params decide.
type streamConfig struct {
	width, height int
	maxFramerate  int
	detectOut     bool // output size from the first output frame
}

// stream is one run of the pipeline, from start to its end (stop or end of
// input). Its goroutines: ingest (subscribe + decode), the video and audio
// workers (handlers + encode), heartbeat and the control reader.
type stream struct {
	p   *Processor
	req StartRequest
	cfg streamConfig
	log *slog.Logger
	obs Observer

	// ctx lives until the stream is torn down; inCtx ends the input first
	// so that a stop can drain what was already decoded.
	ctx      context.Context
	cancel   context.CancelFunc
	inCtx    context.Context
	inCancel context.CancelFunc

	events *eventSender
	data   *dataSender
	pub    *trickle.Publisher
	egress *egress // carries output segments to pub; nil without pub or OutputBuffer
	out    *output
	dev    *streamDevice // nil without Config.Device (device.go)
	rates  rates
	ctr    counters

	videoQ chan queuedVideo
	audioQ chan queuedAudio

	capMu         sync.Mutex
	dec           Decoder // set once the input starts; under capMu
	pendingCap    int     // a max_framerate that came before the decoder; under capMu
	invert        atomic.Bool
	showLoading   atomic.Bool
	lastProcessed atomic.Int64 // unix ns of the last frame a handler processed
	lastFailEvent atomic.Int64 // unix ns of the last handler_error event
	videoCalls    callGuard    // the video handler's deadline (handlers.go)
	audioCalls    callGuard
	loading       loadingFrames
	params        currentParams // start params with the updates merged in

	isRunning atomic.Bool
	stopOnce  sync.Once
	done      chan struct{}
}

type queuedVideo struct {
	v       *frame.Video
	arrival time.Time
}

type queuedAudio struct {
	a *frame.Audio
}

func newStream(p *Processor, req StartRequest, cfg streamConfig) (*stream, error) {
	s := &stream{
		p: p, req: req, cfg: cfg,
		log:    p.log.With("gateway_request_id", req.GatewayRequestID),
		obs:    p.cfg.Observer,
		videoQ: make(chan queuedVideo, videoQueueLen(p.cfg, cfg.width, cfg.height)),
		audioQ: make(chan queuedAudio, p.cfg.AudioQueue),
		done:   make(chan struct{}),
	}
	s.rates = newRates()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.inCtx, s.inCancel = context.WithCancel(s.ctx)
	var err error
	if s.events, err = newEventSender(req.EventsURL, s.log); err != nil {
		s.cancel()
		return nil, fmt.Errorf("events channel: %w", err)
	}
	if s.data, err = newDataSender(req.DataURL, p.cfg.DataInterval, p.cfg.DataKeepalive, s.log); err != nil {
		s.closeSideChannels()
		s.cancel()
		return nil, fmt.Errorf("data channel: %w", err)
	}
	if req.PublishURL != "" {
		s.pub, err = trickle.NewPublisher(s.ctx, trickle.PublisherConfig{URL: req.PublishURL, Client: p.cfg.HTTPClient,
			Logger: s.log})
		if err != nil {
			s.closeSideChannels()
			s.cancel()
			return nil, fmt.Errorf("publish channel: %w", err)
		}
	}
	if err = s.openDevice(); err != nil {
		if s.pub != nil {
			_ = s.pub.Close(context.Background())
		}
		s.closeSideChannels()
		s.cancel()
		return nil, err
	}
	s.out = newOutput(s)
	if s.pub != nil && p.cfg.OutputBuffer > 0 {
		s.egress = newEgress(s.ctx, tricklePublisher{s.pub}, p.cfg.OutputBuffer, p.cfg.OutputStallTimeout,
			&s.ctr, s.firstSegmentSent, s.log)
	}
	s.lastProcessed.Store(time.Now().UnixNano())
	s.applyBuiltins(req.Params)
	s.params.set(req.Params)
	s.isRunning.Store(true)
	return s, nil
}

// videoQueueLen is Config.VideoQueue, or its default for frames of w×h.
func videoQueueLen(cfg Config, w, h int) int {
	if cfg.VideoQueue > 0 {
		return cfg.VideoQueue
	}
	if cfg.Device != nil {
		// Queued frames are raw: pictures of the input's size, in host
		// buffers or NVDEC's surfaces (each one a surface the decoder
		// must have to spare), so the frame size says nothing of their
		// memory. 8 frames is a quarter second at 30 fps, about as long
		// as MaxLag lets one wait.
		return 8
	}
	// The queue is most of a stream's memory under overload, and the Go
	// heap grows past what is live before it collects: 64 MiB keeps a 720p
	// stream under 300 MB resident (PROC-104), and frames that would wait
	// longer than MaxLag are skipped anyway.
	const budget = 64 << 20
	return max(4, min(32, budget/(3*w*h)))
}

func (s *stream) running() bool { return s.isRunning.Load() }
func (s *stream) wait()         { <-s.done }

// finished reports whether run has returned: every goroutine has ended.
func (s *stream) finished() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// run drives the stream to its end.
func (s *stream) run() {
	defer close(s.done)
	s.log.Info("stream started", "subscribe_url", trickle.RedactURL(s.req.SubscribeURL), "publish_url", trickle.RedactURL(s.req.PublishURL),
		"width", s.cfg.width, "height", s.cfg.height, "max_framerate", s.cfg.maxFramerate)
	var side sync.WaitGroup
	side.Go(s.heartbeat)
	if s.req.ControlURL != "" {
		side.Go(s.control)
	}
	if s.p.h.start != nil {
		params := s.req.Params
		if params == nil {
			params = Params{}
		}
		if err := callSafely(func() error { return s.p.h.start.OnStreamStart(s.ctx, params) }); err != nil {
			s.log.Warn("OnStreamStart failed", "err", err)
		}
	}
	var workers sync.WaitGroup
	workers.Go(s.videoWorker)
	workers.Go(s.audioWorker)
	s.ingest()
	close(s.videoQ)
	close(s.audioQ)
	workers.Wait()
	if s.p.h.stop != nil {
		if err := callSafely(func() error { return s.p.h.stop.OnStreamStop(s.ctx) }); err != nil {
			s.log.Warn("OnStreamStop failed", "err", err)
		}
	}
	// Not running from here on: a start that comes once a reader has seen
	// the output end waits for this stream to finish instead of getting
	// 503.
	s.isRunning.Store(false)
	s.finishOutput()
	s.closeDevice()
	s.cancel()
	side.Wait()
	s.closeSideChannels()
	c := s.counters()
	s.log.Info("stream ended", "video_in", c.VideoIn, "video_out", c.VideoOut, "video_skipped", c.VideoSkipped,
		"video_failed", c.VideoFailed, "audio_out", c.AudioOut, "segments_out", c.SegmentsOut)
	s.p.streamEnded(s)
	// A processor runs one stream at a time: once it ends, its frames,
	// queues and codec buffers are garbage. Collect them and hand the
	// pages back now, so that an idle processor sits at its idle size and
	// the next stream starts from there, instead of on top of what the
	// last one left for the runtime's lazy scavenger.
	debug.FreeOSMemory()
	if r, ok := s.p.cfg.Codecs.(interface{ ReleaseMemory() }); ok {
		r.ReleaseMemory()
	}
}

// finishOutput ends the last output segment and closes the output channel,
// which readers see as the end of the stream. The queued segments get
// StopTimeout to reach the server; closing the channel gets a StopTimeout
// of its own, so that a slow drain does not cost readers the end of the
// stream.
func (s *stream) finishOutput() {
	if err := s.out.close(); err != nil {
		s.log.Warn("finishing the output", "err", err)
	}
	drained := true
	if s.egress != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.p.cfg.StopTimeout)
		if err := s.egress.close(ctx); err != nil {
			drained = false
			s.log.Warn("the output's last segments did not reach the server in time: dropping them", "err", err)
			s.egress.abandon()
			// Let it abort the segment on the wire itself, unless a
			// write is stuck on a stalled server (the publisher's Close
			// below ends that): closing that segment from here would
			// end it short and have it accepted as whole.
			wait, cancelWait := context.WithTimeout(context.Background(), time.Second)
			drained = s.egress.close(wait) == nil
			cancelWait()
		}
		cancel()
	}
	if s.pub != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.p.cfg.StopTimeout)
		if err := s.pub.Close(ctx); err != nil && !errors.Is(err, trickle.ErrStreamNotFound) {
			s.log.Warn("closing the output channel", "err", err)
		}
		cancel()
	}
	if !drained {
		// Abandoned, and with the publisher closed no write can be stuck:
		// the egress ends now, having counted the rest lost, before the
		// stream's counters are final.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := s.egress.close(ctx); err != nil {
			s.log.Error("the output goroutine did not end", "err", err)
		}
		cancel()
	}
}

func (s *stream) closeSideChannels() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.data.Close(ctx); err != nil {
		s.log.Debug("closing the data channel", "err", err)
	}
	if err := s.events.Close(ctx); err != nil {
		s.log.Debug("closing the events channel", "err", err)
	}
}

// stop ends the input, lets the workers drain what was decoded, and
// abandons the drain when StopTimeout (or ctx) runs out.
func (s *stream) stop(ctx context.Context) error {
	s.stopOnce.Do(s.inCancel)
	t := time.NewTimer(s.p.cfg.StopTimeout)
	defer t.Stop()
	select {
	case <-s.done:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	s.log.Warn("stop: abandoning frames still queued")
	s.cancel()
	select {
	case <-s.done:
		return nil
	case <-time.After(s.p.cfg.StopTimeout):
		return errors.New("processor: the stream did not end in time")
	}
}

func (s *stream) sendEvent(ev map[string]any, queue string) bool {
	s.observeEvent(ev, queue)
	return s.events.Send(ev, queue)
}

func (s *stream) heartbeat() {
	urls := map[string]string{"subscribe": s.req.SubscribeURL, "publish": s.req.PublishURL,
		"control": s.req.ControlURL, "events": s.req.EventsURL, "data": s.req.DataURL}
	t := time.NewTicker(s.p.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		s.sendEvent(heartbeatEvent(urls, s.cfg.width, s.cfg.height, s.rates.snapshot(time.Now())), "stream_heartbeat")
		select {
		case <-s.inCtx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *stream) control() {
	cr := newControlReader(s.req.ControlURL, func(ctx context.Context, p Params) {
		_ = s.p.applyParams(ctx, s, p, false)
	}, s.log)
	cr.client = s.p.cfg.HTTPClient
	err := cr.run(s.inCtx)
	if errors.Is(err, trickle.ErrStreamNotFound) || errors.Is(err, trickle.ErrStreamClosed) {
		// PyTrickle ends the stream when its control channel is gone
		// (404); gotrickle does too when it was closed (the gateway ended
		// the session).
		s.log.Info("control channel gone: ending the stream", "err", err)
		s.stopOnce.Do(s.inCancel)
	} else if err != nil {
		s.log.Warn("control channel ended", "err", err)
	}
}

// streamEnded records the end of a stream that is still the current one
// (it ended on its own, or a stop is draining it): the stream is no longer
// active and an ERROR from a failed parameter update clears, as on a stop
// (the status is IDLE once the input has ended, PROC-047).
func (p *Processor) streamEnded(s *stream) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.current == s {
		p.state.streamStopped()
	}
}
