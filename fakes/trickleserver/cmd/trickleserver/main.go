// Command trickleserver runs the fake trickle server standalone: the real
// pkg/trickle server with scripted faults and planted bugs, for testing
// trickle clients and the conformance suite from outside Go.
//
// It prints "listening http://ADDR/BASE/" on stdout once it accepts
// connections, logs to stderr, and shuts down gracefully on SIGINT or
// SIGTERM. Run it with --help for the flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "trickleserver:", err)
		os.Exit(1)
	}
}

// run is the whole command, with its environment passed in so that tests
// can run it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, stdout, stderr)
	if err != nil {
		return err
	}
	return serve(ctx, opts, stdout, stderr)
}
