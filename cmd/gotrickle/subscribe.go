package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

func newSubscribeCmd() *cobra.Command {
	var (
		start       string
		maxSegments int
		wait        time.Duration
		token       string
		log         logFlags
	)
	c := &cobra.Command{
		Use:   "subscribe URL FILE",
		Short: "Record a trickle channel to a file",
		Long: `Record the trickle channel at URL to FILE ("-" for stdout): every segment's bytes in
order, as they arrive, until the publisher ends the stream, --max-segments is reached
or the command is interrupted. MPEG-TS segments concatenate into a playable file.
A channel that does not exist yet is waited for, up to --wait. --start picks the
first segment: -2 the one being written now, from its first byte (the default), -1
the next one to be written, or an absolute seq. A progress line is shown when stderr
is a terminal; a summary goes to stderr.

Exit status: 0 the stream ended (or interrupted, or enough segments), 1 the channel
does not exist or failed, 2 bad command line, 130/143 a second SIGINT/SIGTERM.`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkChannelURL(args[0]); err != nil {
				return err
			}
			seq, err := strconv.ParseInt(start, 10, 64)
			if err != nil || seq < -2 {
				return fmt.Errorf("%w: --start %q: want -1, -2 or a seq", errUsage, start)
			}
			logger, err := log.logger(c.ErrOrStderr())
			if err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			var w io.Writer = c.OutOrStdout()
			if args[1] != "-" {
				if err := os.MkdirAll(filepath.Dir(args[1]), 0o755); err != nil {
					return err
				}
				f, err := os.Create(args[1])
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			fromEnv(c, "token", envToken, &token)
			cfg := trickle.SubscriberConfig{URL: args[0], Start: trickle.StartAt(seq), Logger: logger, Token: token}
			return recordChannel(c.Context(), cfg, wait, w, maxSegments, newProgress(c.ErrOrStderr()), c.ErrOrStderr())
		},
	}
	c.Flags().StringVar(&start, "start", "-2", "first segment: -2 current, -1 next, or a seq")
	c.Flags().IntVar(&maxSegments, "max-segments", 0, "stop after this many segments (0: until the stream ends)")
	c.Flags().DurationVar(&wait, "wait", 10*time.Second, "how long to wait for a channel that does not exist yet (0: not at all)")
	c.Flags().StringVar(&token, "token", "", "bearer token for the server's --subscribe-token (prefer $"+envToken+")")
	log.register(c)
	c.Flags().Lookup("log-level").DefValue = "warn"
	log.level = "warn"
	return c
}

// recordChannel copies segments to w until the stream ends. Until the
// first segment comes, a channel that does not exist is asked for again,
// with a fresh subscriber, for up to wait.
func recordChannel(ctx context.Context, cfg trickle.SubscriberConfig, wait time.Duration, w io.Writer, max int, prog *progress, summary io.Writer) error {
	began := time.Now()
	var (
		n     int
		bytes int64
		why   = "the stream ended"
		sub   *trickle.Subscriber
	)
	newSub := func() error {
		if sub != nil {
			sub.Close()
		}
		var err error
		sub, err = trickle.NewSubscriber(cfg)
		return err
	}
	if err := newSub(); err != nil {
		return err
	}
	defer func() { sub.Close() }()
	defer func() {
		prog.done()
		st := sub.Stats()
		fmt.Fprintf(summary, "recorded %d segments, %s in %v (%d skipped after 470, %d retries); %s\n",
			n, humanBytes(bytes), time.Since(began).Round(time.Millisecond), st.Skipped, st.Retries, why)
	}()
	for max <= 0 || n < max {
		seg, err := sub.Next(ctx)
		for n == 0 && errors.Is(err, trickle.ErrStreamNotFound) && time.Since(began) < wait {
			prog.update("waiting for %s to exist", cfg.URL)
			select {
			case <-time.After(250 * time.Millisecond):
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				break
			}
			if err = newSub(); err != nil {
				return err
			}
			seg, err = sub.Next(ctx)
		}
		switch {
		case errors.Is(err, trickle.ErrStreamClosed):
			return nil
		case ctx.Err() != nil:
			why = "interrupted"
			return nil
		case err != nil:
			why = "failed"
			return fmt.Errorf("subscribe: %w", err)
		}
		k, err := io.Copy(w, seg)
		seg.Close()
		bytes += k
		if err != nil && ctx.Err() != nil {
			why = "interrupted"
			return nil
		}
		if err != nil {
			// The segment broke off part-way: its bytes are in the file;
			// the next segment starts a clean MPEG-TS packet boundary.
			why = "a segment failed"
			return fmt.Errorf("subscribe: segment %d: %w", seg.Seq, err)
		}
		n++
		prog.update("recorded %d segments (seq %d), %s", n, seg.Seq, humanBytes(bytes))
	}
	why = fmt.Sprintf("%d segments recorded", n)
	return nil
}
