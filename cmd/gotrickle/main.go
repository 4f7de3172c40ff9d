// Command gotrickle runs gotrickle's pieces from one binary: a trickle
// server, a processor, the demo, the conformance suites and the version.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// errUsage marks a bad command line: exit status 2.
var errUsage = errors.New("usage")

func main() {
	os.Exit(runMain(os.Args[1:]))
}

// runMain runs the command line as the process does: the first SIGINT or
// SIGTERM cancels the command's context, so that it shuts down cleanly
// within its bound; a second one exits at once (watchSignals).
func runMain(args []string) int {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	done := make(chan struct{})
	defer close(done)
	go watchSignals(done, sigs, cancel, os.Stderr, os.Exit)
	return run(ctx, args)
}

func run(ctx context.Context, args []string) int {
	return runWith(ctx, args, os.Stdout, os.Stderr)
}

// runWith runs the command line with the given output streams and returns
// the exit status.
func runWith(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "gotrickle:", err)
		return exitCode(err)
	}
	return 0
}

// usageArgs makes a cobra argument check's complaint a usage error.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := check(c, args); err != nil {
			return fmt.Errorf("%w: %w (see %s --help)", errUsage, err, c.CommandPath())
		}
		return nil
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "gotrickle",
		Short:         "Live AI video/audio processing over the trickle protocol",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w: %w (see %s --help)", errUsage, err, c.CommandPath())
	})
	root.AddCommand(newServerCmd(), newServeCmd(), newDemoCmd(), newConformanceCmd(), newVersionCmd(), newInitCmd(), newListCmd())
	root.AddCommand(newPublishCmd(), newSubscribeCmd())
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the gotrickle version",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(c.OutOrStdout(), "gotrickle", version)
			return err
		},
	}
}
