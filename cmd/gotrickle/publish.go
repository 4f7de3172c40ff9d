package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/gotrickle/gotrickle/pkg/media"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

type publishFlags struct {
	loop        bool
	maxDuration time.Duration
	segment     time.Duration
	speed       float64
	startAtNext bool
	token       string
	log         logFlags
}

func newPublishCmd() *cobra.Command {
	var f publishFlags
	c := &cobra.Command{
		Use:   "publish FILE URL",
		Short: "Stream a media file into a trickle channel in real time",
		Long: `Stream a media file (any container FFmpeg reads: MPEG-TS, MP4, MKV, ...) into the
trickle channel at URL: its first video and audio streams are copied, not re-encoded,
into MPEG-TS segments that each begin at a video keyframe at least --segment long,
one streaming POST per segment, paced by the file's timestamps (--speed 0: as fast
as the server takes them). --loop repeats the file with timestamps running on.
At the end the channel is closed (end of stream). A progress line is shown when
stderr is a terminal; a summary goes to stdout. SIGINT or SIGTERM ends the run
there: the segment being written is finished (whole packets, every frame in it
complete) and the channel closed, as at the end of the file; a second signal
exits at once.

Exit status: 0 done (or interrupted), 1 the file or the server failed, 2 bad command
line, 130/143 a second SIGINT/SIGTERM.`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkChannelURL(args[1]); err != nil {
				return err
			}
			if f.speed < 0 {
				return fmt.Errorf("%w: --speed %v: want 0 (no pacing) or more", errUsage, f.speed)
			}
			if _, err := os.Stat(args[0]); err != nil {
				return fmt.Errorf("the file to publish: %w", err)
			}
			log, err := f.log.logger(c.ErrOrStderr())
			if err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			fromEnv(c, "token", envToken, &f.token)
			return publishFile(c.Context(), c.OutOrStdout(), newProgress(c.ErrOrStderr()), args[0], args[1], f, log)
		},
	}
	fl := c.Flags()
	fl.BoolVar(&f.loop, "loop", false, "repeat the file until interrupted (or --max-duration)")
	fl.DurationVar(&f.maxDuration, "max-duration", 0, "stop after this much media time (0: the whole file, or forever with --loop)")
	fl.DurationVar(&f.segment, "segment", time.Second, "shortest segment; each is cut at the next video keyframe")
	fl.Float64Var(&f.speed, "speed", 1, "pace relative to real time (0: no pacing)")
	fl.BoolVar(&f.startAtNext, "start-at-next", false, "ask the server for the seq to start at (GET URL/next) instead of 0")
	fl.StringVar(&f.token, "token", "", "bearer token for the server's --publish-token (prefer $"+envToken+")")
	f.log.register(c)
	c.Flags().Lookup("log-level").DefValue = "warn"
	f.log.level = "warn"
	return c
}

// checkChannelURL refuses what cannot be a channel URL before any work.
func checkChannelURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: %q is not an http(s) channel URL", errUsage, trickle.RedactURL(s))
	}
	return nil
}

// publisherSink hands the segmenter one trickle segment at a time.
type publisherSink struct {
	ctx context.Context
	pub *trickle.Publisher
}

func (s publisherSink) NextSegment() (io.WriteCloser, error) { return s.pub.Next(s.ctx) }

func publishFile(ctx context.Context, out io.Writer, prog *progress, path, channel string, f publishFlags, log interface {
	Warn(string, ...any)
}) error {
	pub, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: channel, StartAtNext: f.startAtNext, Token: f.token})
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	started := time.Now()
	var (
		offset time.Duration
		total  media.SegmenterStats
		loops  int
	)
	errStop := errors.New("enough media")
	pace := func(ctx context.Context, at time.Duration) error {
		if f.maxDuration > 0 && at >= f.maxDuration {
			return errStop
		}
		if f.speed == 0 {
			return nil
		}
		wait := time.Until(started.Add(time.Duration(float64(at) / f.speed)))
		if wait <= 0 {
			return nil
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		base := total
		st, err := media.Segment(ctx, path, publisherSink{ctx, pub}, media.SegmenterConfig{
			SegmentDuration: f.segment, Offset: offset, Pace: pace,
			Progress: func(s media.SegmenterStats) {
				ps := pub.Stats()
				prog.update("published %d segments, %s of media, %s, %d lost, %d retries",
					base.Segments+s.Segments, (offset + s.Span).Round(100*time.Millisecond), humanBytes(base.Bytes+s.Bytes), ps.Lost, ps.Retries)
			},
		})
		total.Segments += st.Segments
		total.Packets += st.Packets
		total.Bytes += st.Bytes
		loops++
		offset += st.Span
		if err != nil || !f.loop || st.Span <= 0 {
			prog.done()
			closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			cerr := pub.Close(closeCtx)
			cancel()
			ps := pub.Stats()
			fmt.Fprintf(out, "published %d segments (%d accepted, %d lost, %d retries), %s of media, %s in %v, %d pass(es) over %s\n",
				total.Segments, ps.Segments, ps.Lost, ps.Retries, offset.Round(time.Millisecond), humanBytes(total.Bytes),
				time.Since(started).Round(time.Millisecond), loops, path)
			switch {
			case errors.Is(err, errStop), err == nil, ctx.Err() != nil && errors.Is(err, ctx.Err()):
			default:
				return fmt.Errorf("publish: %w", err)
			}
			if cerr != nil && !errors.Is(cerr, trickle.ErrStreamClosed) {
				log.Warn("closing the channel", "err", cerr)
			}
			return nil
		}
	}
}
