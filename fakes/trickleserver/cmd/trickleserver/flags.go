package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/gotrickle/gotrickle/fakes/trickleserver"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// errUsage reports a bad command line; why and the usage are already
// printed on stderr.
var errUsage = errors.New("usage")

// options is what the flags ask for, checked.
type options struct {
	addr            string
	basePath        string
	autocreate      bool
	channels        []string
	ringSize        int
	idleTimeout     time.Duration
	maxSegmentBytes int64
	faults          []trickleserver.Fault
	mutations       []trickleserver.Mutation
	logFormat       string
	logLevel        slog.Level
}

// The defaults shown in --help are the real server's, so that the help
// says what the server will do.
const (
	defaultAddr            = "127.0.0.1:8935"
	defaultRingSize        = 5
	defaultIdleTimeout     = 5 * time.Minute
	defaultMaxSegmentBytes = 32 << 20
)

// mutationList is a repeatable flag that also takes comma lists.
type mutationList []trickleserver.Mutation

func (m *mutationList) String() string {
	names := make([]string, len(*m))
	for i, x := range *m {
		names[i] = string(x)
	}
	return strings.Join(names, ",")
}

func (m *mutationList) Set(v string) error {
	ms, err := trickleserver.ParseMutations(v)
	if err != nil {
		return err
	}
	*m = append(*m, ms...)
	return nil
}

// newFlagSet declares the command's flags into o.
func newFlagSet(o *options, faultsFile *string, muts *mutationList, logLevel *string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("trickleserver", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.addr, "addr", defaultAddr, "`host:port` to listen on (port 0 picks a free one)")
	fs.StringVar(&o.basePath, "base-path", "/", "URL `path` prefix of the trickle endpoints, e.g. /ai/trickle/")
	fs.BoolVar(&o.autocreate, "autocreate", true, "let POST /{channel} and a first POST /{channel}/{seq} create channels (false: only --channels exist)")
	fs.Func("channels", "channel `names` to create at start (comma list, repeatable)", func(v string) error {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name == "" {
				continue
			}
			if err := trickle.ValidChannelName(name); err != nil {
				return fmt.Errorf("%q: %w", name, err)
			}
			o.channels = append(o.channels, name)
		}
		return nil
	})
	fs.IntVar(&o.ringSize, "ring-size", defaultRingSize, "`segments` held per channel; older ones answer 470")
	fs.DurationVar(&o.idleTimeout, "idle-timeout", defaultIdleTimeout, "close a channel after this long with nothing written (negative: never)")
	fs.Int64Var(&o.maxSegmentBytes, "max-segment-bytes", defaultMaxSegmentBytes, "largest segment in `bytes`; larger POSTs get 413 (negative: no limit)")
	fs.StringVar(faultsFile, "faults", "", "JSON `file` with an array of faults to arm at start")
	fs.Var(muts, "mutation", "planted bug to carry (`name`; repeatable or a comma list)")
	fs.StringVar(&o.logFormat, "log-format", "text", "log `format` on stderr: text or json")
	fs.StringVar(logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	// Usage is printed by parseFlags, which knows whether it was asked for
	// (stdout) or is explaining an error (stderr).
	fs.Usage = func() {}
	return fs
}

func usage(fs *flag.FlagSet, w io.Writer) {
	fs.SetOutput(w)
	fmt.Fprint(w, `Usage: trickleserver [flags]

Runs a trickle server (the real gotrickle one) with scripted faults and
planted bugs, for testing trickle clients and conformance suites. Prints
"listening http://ADDR/BASE-PATH" on stdout once it accepts connections;
logs go to stderr. SIGINT or SIGTERM shuts it down gracefully.

Flags (one dash or two):
`)
	fs.PrintDefaults()
	fmt.Fprint(w, "\nMutations (each breaks one protocol requirement):\n")
	for _, m := range trickleserver.AllMutations() {
		fmt.Fprintf(w, "  %-22s %s\n", m, m.Description())
	}
	fmt.Fprint(w, `
Fault file: a JSON array of objects. Filters: "method", "channel", "seq"
(as requested, -1 stays -1), "nth" (only the Nth match), "times" (at most N
times). Actions: "status", "latency" (Go duration, "250ms"),
"drop_after_bytes", "stall_after_bytes", "header" (object). "name" labels
it in logs. Example:
  [{"method": "GET", "channel": "s", "seq": 1, "nth": 2, "status": 500},
   {"method": "POST", "latency": "250ms", "drop_after_bytes": 1024}]
`)
}

// parseFlags reads and checks the command line. --help prints the usage on
// stdout and returns flag.ErrHelp.
func parseFlags(args []string, stdout, stderr io.Writer) (options, error) {
	var (
		o          options
		faultsFile string
		muts       mutationList
		logLevel   string
	)
	fs := newFlagSet(&o, &faultsFile, &muts, &logLevel, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(fs, stdout)
			return o, err
		}
		usage(fs, stderr) // after the error the flag package printed
		return o, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %q\n", fs.Args())
		usage(fs, stderr)
		return o, errUsage
	}
	o.mutations = muts
	if err := o.logLevel.UnmarshalText([]byte(logLevel)); err != nil {
		return o, fmt.Errorf("--log-level: %w", err)
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return o, fmt.Errorf("--log-format %q: want text or json", o.logFormat)
	}
	if faultsFile != "" {
		f, err := os.Open(faultsFile)
		if err != nil {
			return o, fmt.Errorf("--faults: %w", err)
		}
		defer f.Close()
		if o.faults, err = trickleserver.LoadFaults(f); err != nil {
			return o, fmt.Errorf("--faults %s: %w", faultsFile, err)
		}
	}
	return o, nil
}
