package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// gotrickle's Go API used the way a command-line publisher or subscriber
// would use it, for the run specs outside command mode. The exit statuses
// follow the command contract of CLIENT-COMMANDS.md: 0 at the end of the
// input or of the stream, 2 for a channel that does not exist, 1 for other
// failures, 143 when stopped.

// Retry settings of the runs: shorter than gotrickle's defaults, to keep
// the suite fast, and within what the requirements ask (pauses of at least
// 100 ms that grow, a bounded number of attempts): the pauses vary by a
// fifth either way, so the first is 120 to 180 ms.
const (
	runRetryBackoff = 150 * time.Millisecond
	runMaxRetries   = 3
)

type gotricklePubRunner struct{}

func (gotricklePubRunner) Describe() string { return "gotrickle's trickle.Publisher" }
func (gotricklePubRunner) WholeFile() bool  { return false }

func (gotricklePubRunner) Start(o pubRunOptions) (runHandle, error) {
	ctx, cancel := context.WithCancel(context.Background())
	r := newGoRun(cancel, cancel)
	log := &tailBuffer{max: 16 << 10}
	go func() {
		defer close(r.done)
		code := publishSegmentFiles(ctx, o, log)
		r.res = runResult{Code: code, Output: log.String()}
	}()
	return r, nil
}

// publishSegmentFiles publishes o.SegDir/0.ts, 1.ts, ... one segment each,
// then closes the publisher.
func publishSegmentFiles(ctx context.Context, o pubRunOptions, log io.Writer) int {
	p, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: o.URL, RetryBackoff: runRetryBackoff,
		Logger: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		fmt.Fprintln(log, "publisher:", err)
		return 1
	}
	code := 0
loop:
	for i := 0; ; i++ {
		b, err := os.ReadFile(filepath.Join(o.SegDir, fmt.Sprintf("%d.ts", i)))
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			fmt.Fprintln(log, "publisher:", err)
			code = 1
			break
		}
		err = writeWhole(ctx, p, b)
		switch {
		case err == nil:
		case errors.Is(err, trickle.ErrStreamClosed):
			fmt.Fprintln(log, "publisher: the stream has ended")
			break loop
		case errors.Is(err, trickle.ErrStreamNotFound):
			fmt.Fprintln(log, "publisher: the channel does not exist")
			code = 2
			break loop
		case ctx.Err() != nil:
			code = 143
			break loop
		default:
			fmt.Fprintf(log, "publisher: segment %d lost: %v\n", i, err)
		}
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Close(closeCtx); err != nil {
		fmt.Fprintln(log, "publisher: close:", err)
	}
	return code
}

// writeWhole writes one segment, in pieces as a program producing it would.
func writeWhole(ctx context.Context, p *trickle.Publisher, b []byte) error {
	w, err := p.Next(ctx)
	if err != nil {
		return err
	}
	for len(b) > 0 {
		n := min(len(b), 16<<10)
		if _, err := w.Write(b[:n]); err != nil {
			w.Close()
			return err
		}
		b = b[n:]
	}
	return w.Close()
}

type gotrickleSubRunner struct{}

func (gotrickleSubRunner) Describe() string          { return "gotrickle's trickle.Subscriber" }
func (gotrickleSubRunner) StartConfig() (bool, bool) { return true, false }

func (gotrickleSubRunner) Start(o subRunOptions) (runHandle, error) {
	log := &tailBuffer{max: 16 << 10}
	cfg := trickle.SubscriberConfig{URL: o.URL, RetryBackoff: runRetryBackoff, MaxRetries: runMaxRetries,
		Logger: slog.New(slog.NewTextHandler(log, nil))}
	if o.Start != nil {
		cfg.Start = trickle.StartAt(*o.Start)
	}
	out, err := os.Create(o.Output)
	if err != nil {
		return nil, err
	}
	s, err := trickle.NewSubscriber(cfg)
	if err != nil {
		out.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stopped sync.Once
	stop := func() { stopped.Do(func() { s.Close() }) }
	r := newGoRun(stop, cancel)
	go func() {
		defer close(r.done)
		code := copySegments(ctx, s, out, log)
		out.Close()
		stop()
		r.res = runResult{Code: code, Output: log.String()}
	}()
	return r, nil
}

// copySegments appends every segment to out as its bytes arrive, until
// the stream ends or fails.
func copySegments(ctx context.Context, s *trickle.Subscriber, out io.Writer, log io.Writer) int {
	for {
		seg, err := s.Next(ctx)
		switch {
		case err == nil:
		case errors.Is(err, trickle.ErrStreamClosed):
			return 0
		case errors.Is(err, trickle.ErrStreamNotFound):
			fmt.Fprintln(log, "subscriber: the channel does not exist")
			return 2
		case errors.Is(err, trickle.ErrClosed) || ctx.Err() != nil:
			return 143
		default:
			fmt.Fprintln(log, "subscriber:", err)
			return 1
		}
		_, err = io.Copy(out, seg)
		seg.Close()
		if err != nil {
			fmt.Fprintf(log, "subscriber: segment %d ended abnormally: %v\n", seg.Seq, err)
		}
	}
}
