package client

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// gotrickleImpl drives gotrickle's Go API: trickle.Publisher and
// trickle.Subscriber, each with its own transport, logs discarded.
type gotrickleImpl struct{}

// fastBackoff is the retry pause the driver configures when a spec asks
// for fast retries.
const fastBackoff = 20 * time.Millisecond

func (gotrickleImpl) Name() string { return "gotrickle pkg/trickle Publisher and Subscriber" }

func (gotrickleImpl) NewPublisher(ctx context.Context, o pubOptions) (publisherDriver, error) {
	cfg := trickle.PublisherConfig{URL: o.URL, StartAtNext: o.Resume, Logger: slog.New(slog.DiscardHandler)}
	if o.FastRetries {
		cfg.RetryBackoff = fastBackoff
	}
	p, err := trickle.NewPublisher(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &gotricklePublisher{p: p}, nil
}

func (gotrickleImpl) NewSubscriber(_ context.Context, o subOptions) (subscriberDriver, error) {
	cfg := trickle.SubscriberConfig{URL: o.URL, Logger: slog.New(slog.DiscardHandler)}
	if o.Start != nil {
		cfg.Start = trickle.StartAt(*o.Start)
	}
	if o.FastRetries {
		cfg.RetryBackoff = fastBackoff
	}
	s, err := trickle.NewSubscriber(cfg)
	if err != nil {
		return nil, err
	}
	return &gotrickleSubscriber{s: s}, nil
}

// reported maps an error from gotrickle to an outcome.
func reported(err error, stopped bool) outcome {
	switch {
	case err == nil:
		return outcomeOK
	case errors.Is(err, trickle.ErrStreamClosed):
		return outcomeEndOfStream
	case errors.Is(err, trickle.ErrStreamNotFound):
		return outcomeNotFound
	case stopped || errors.Is(err, trickle.ErrClosed):
		return outcomeStopped
	}
	return outcomeError
}

type gotricklePublisher struct {
	p      *trickle.Publisher
	closed atomic.Bool
}

func (d *gotricklePublisher) WriteSegment(ctx context.Context, chunks [][]byte, pause time.Duration) writeResult {
	done := make(chan writeResult, 1)
	go func() {
		res := writeResult{Seq: -1, Began: time.Now()}
		finish := func(err error) {
			res.Err = err
			res.Outcome = reported(err, d.closed.Load())
			done <- res
		}
		w, err := d.p.Next(ctx)
		if err != nil {
			finish(err)
			return
		}
		for i, c := range chunks {
			if i > 0 && pause > 0 {
				t := time.NewTimer(pause)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					res.Seq = w.Seq()
					finish(ctx.Err())
					return
				}
			}
			if _, err := w.Write(c); err != nil {
				res.Seq = w.Seq()
				w.Close() // the writer's error is sticky; Close frees the publisher for the next segment
				finish(err)
				return
			}
			res.Handed = append(res.Handed, time.Now())
		}
		res.Ended = time.Now()
		err = w.Close()
		res.Seq = w.Seq()
		finish(err)
	}()
	select {
	case r := <-done:
		return r
	case <-ctx.Done():
		return writeResult{Outcome: outcomeTimeout, Seq: -1, Err: ctx.Err()}
	}
}

func (d *gotricklePublisher) Close(ctx context.Context) (outcome, error) {
	d.closed.Store(true)
	done := make(chan error, 1)
	go func() { done <- d.p.Close(ctx) }()
	select {
	case err := <-done:
		if err == nil {
			return outcomeOK, nil
		}
		return reported(err, false), err
	case <-ctx.Done():
		return outcomeTimeout, ctx.Err()
	}
}

func (d *gotricklePublisher) Lost() (int64, bool) { return d.p.Stats().Lost, true }

type gotrickleSubscriber struct {
	s      *trickle.Subscriber
	closed atomic.Bool
}

func (d *gotrickleSubscriber) Next(ctx context.Context) readResult {
	res := readResult{Seq: -1}
	seg, err := d.s.Next(ctx)
	if err != nil {
		res.Done = time.Now()
		res.Err = err
		res.Outcome = reported(err, d.closed.Load())
		if ctx.Err() != nil && res.Outcome == outcomeError {
			res.Outcome = outcomeTimeout
		}
		return res
	}
	res.Seq, res.Opened = seg.Seq, time.Now()
	chunks := make(chan chunk, 64)
	ended := make(chan error, 1)
	go func() {
		defer close(chunks)
		buf := make([]byte, 64<<10)
		for {
			n, err := seg.Read(buf)
			if n > 0 {
				chunks <- chunk{Data: append([]byte(nil), buf[:n]...), At: time.Now()}
			}
			if err != nil {
				ended <- err
				return
			}
		}
	}()
	for {
		select {
		case c, ok := <-chunks:
			if !ok {
				err := <-ended
				seg.Close()
				res.Done = time.Now()
				if errors.Is(err, io.EOF) {
					res.Outcome = outcomeOK
				} else {
					res.Err = err
					res.Outcome = reported(err, d.closed.Load())
				}
				return res
			}
			res.Chunks = append(res.Chunks, c)
		case <-ctx.Done():
			seg.Close()
			for c := range chunks {
				res.Chunks = append(res.Chunks, c)
			}
			<-ended
			res.Done = time.Now()
			res.Outcome, res.Err = outcomeTimeout, ctx.Err()
			return res
		}
	}
}

func (d *gotrickleSubscriber) Close() error {
	d.closed.Store(true)
	return d.s.Close()
}
