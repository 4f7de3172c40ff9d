package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// errInterrupted is the cause of a command's context ending on the first
// SIGINT or SIGTERM.
var errInterrupted = errors.New("interrupted")

// errShutdownTimeout: the shutdown after a signal did not finish within
// --shutdown-timeout. It exits 1, like any other failure.
var errShutdownTimeout = errors.New("shutdown did not finish in time")

// defaultShutdownTimeout bounds the shutdown of serve and server. It covers
// the processor's default --stop-timeout (5 s) with room for the encoder
// flush, the close of the output channel and the HTTP server's shutdown.
const defaultShutdownTimeout = 10 * time.Second

// watchSignals turns the first signal on sigs into cancel and a second
// one into exit at once, with 128 + the signal's number (130 for SIGINT,
// 143 for SIGTERM), as a shell reports a process killed by it: the
// operator asked twice, so whatever the shutdown was waiting for is
// abandoned. It returns when done closes.
func watchSignals(done <-chan struct{}, sigs <-chan os.Signal, cancel context.CancelCauseFunc, stderr io.Writer, exit func(int)) {
	select {
	case sig := <-sigs:
		cancel(fmt.Errorf("%w by %v", errInterrupted, sig))
	case <-done:
		return
	}
	select {
	case sig := <-sigs:
		fmt.Fprintf(stderr, "gotrickle: second signal (%v): exiting at once\n", sig)
		exit(signalExitCode(sig))
	case <-done:
	}
}

// signalExitCode is the status a shell gives a process killed by sig.
func signalExitCode(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}

// addShutdownFlag registers --shutdown-timeout on a long-running command.
func addShutdownFlag(c *cobra.Command, d *time.Duration, what string) {
	c.Flags().DurationVar(d, "shutdown-timeout", defaultShutdownTimeout,
		"longest the shutdown after SIGINT/SIGTERM may take ("+what+"); past it the command exits 1, and a second signal exits at once")
}

// shutdownWithin runs steps, the shutdown after the first signal, with a
// context that ends bound from now, and waits for them no longer than
// that: steps that overrun (a stalled peer, a timer of their own that is
// longer) are left behind, as the process is about to exit.
func shutdownWithin(ctx context.Context, bound time.Duration, log *slog.Logger, steps func(context.Context) error) error {
	if bound <= 0 {
		bound = defaultShutdownTimeout
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bound)
	defer cancel()
	started := time.Now()
	done := make(chan error, 1)
	go func() { done <- steps(sctx) }()
	select {
	case err := <-done:
		log.Info("shut down", "took", time.Since(started).Round(time.Millisecond))
		return err
	case <-sctx.Done():
	}
	log.Error("shutdown did not finish in time; exiting anyway", "shutdown_timeout", bound)
	return fmt.Errorf("%w (--shutdown-timeout %v)", errShutdownTimeout, bound)
}

// checkShutdownTimeout refuses a bound that cannot be met.
func checkShutdownTimeout(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%w: --shutdown-timeout %v: want more than 0", errUsage, d)
	}
	return nil
}
