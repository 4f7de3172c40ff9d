package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/gotrickle/gotrickle/conformance/client"
	"github.com/gotrickle/gotrickle/conformance/harness"
	"github.com/gotrickle/gotrickle/conformance/processor"
	"github.com/gotrickle/gotrickle/conformance/server"
)

// Exit statuses of `gotrickle conformance`, beside 0 (pass) and 2 (a bad
// command line).
const (
	exitFail    = 1 // the verdict is fail
	exitHarness = 3 // the harness broke: no verdict about the target
)

// exitError carries an exit status other than 1 out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// envFlag is a suite setting that can come from a flag or from its
// environment variable; the flag wins.
type envFlag struct {
	name, env, usage, def string
}

// Settings every suite understands.
var commonEnvFlags = []envFlag{
	{"reaction", "TRICKLE_REACTION", `how long "promptly" may take`, "2s"},
	{"disable", "TRICKLE_DISABLE", "categories to switch off, comma-separated (their specs report disabled)", ""},
}

var suiteEnvFlags = map[string][]envFlag{
	"server": {
		{"url", "TRICKLE_SERVER_URL", "base URL of the server under test, e.g. http://127.0.0.1:8935/ (empty: gotrickle's own server, in-process)", ""},
		{"ring-size", "TRICKLE_RING_SIZE", "segments the server keeps per channel", "5"},
		{"idle-timeout", "TRICKLE_IDLE_TIMEOUT", "the server's idle timeout", "5m"},
		{"idle-slack", "TRICKLE_IDLE_SLACK", "how late past the idle timeout a channel may close", "75s"},
		{"keepalive", "TRICKLE_KEEPALIVE", "the server's first-byte keepalive interval", "10s"},
		{"max-segment-bytes", "TRICKLE_MAX_SEGMENT_BYTES", "the server's segment size limit", "33554432"},
		{"channels", "TRICKLE_CHANNELS", "pre-created channel names, comma-separated, for servers that cannot create channels", ""},
	},
	"client": {
		{"publisher-cmd", "TRICKLE_PUBLISHER_CMD", "command template of an external publisher to test instead of gotrickle's (see conformance/README.md)", ""},
		{"subscriber-cmd", "TRICKLE_SUBSCRIBER_CMD", "command template of an external subscriber to test instead of gotrickle's (see conformance/README.md)", ""},
	},
	"processor": {
		{"url", "TRICKLE_PROCESSOR_URL", "base URL of the processor under test, e.g. http://127.0.0.1:8000 (empty: gotrickle's own processor, in-process)", ""},
		{"prefix", "TRICKLE_PROCESSOR_PREFIX", "the processor's route prefix, e.g. /api", ""},
		{"features", "TRICKLE_PROCESSOR_FEATURES", "optional features the processor claims, comma-separated: passthrough (frames come out unchanged), effects (conformance_invert changes the output)", ""},
		{"listen", "TRICKLE_SUITE_LISTEN", "where the suite's own trickle server listens", "127.0.0.1:0"},
		{"callback-url", "TRICKLE_SUITE_URL", "the URL the processor uses to reach the suite's trickle server (empty: http://LISTEN/)", ""},
		{"processor-pid", "TRICKLE_PROCESSOR_PID", "the processor's process ID on this machine, for its memory figures", ""},
	},
}

var suites = map[string]harness.Suite{
	"server":    server.Suite,
	"client":    client.Suite,
	"processor": processor.Suite,
}

func newConformanceCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "conformance",
		Short: "Check a trickle server, client or processor against the spec",
		Long: `Run one of gotrickle's conformance suites and write its reports.

  server     the trickle server at --url (docs/spec/trickle.md, TRK-SRV)
  client     a trickle publisher and subscriber (TRK-CLI)
  processor  the PyTrickle-compatible processor at --url (docs/spec/processor-api.md, PROC)

Without --url a suite checks gotrickle's own implementation, in-process.
Each requirement ends as disabled, skip, unsupported, pass, fail or error.
MUST failures fail the run; SHOULD failures fail it only with --strict.
Reports: junit.xml, results.json, summary.md and summary.html in --report-dir.
Every setting can also come from its environment variable (shown in --help);
the flag wins. conformance/README.md explains the statuses and the reports.

Exit status: 0 pass, 1 fail, 2 bad command line, 3 the harness broke (bad settings,
an unreachable target, a panic in the suite): no verdict about the target.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("%w: name a suite: server, client or processor (see %s --help)", errUsage, c.CommandPath())
			}
			return fmt.Errorf("%w: no suite %q: want server, client or processor", errUsage, args[0])
		},
	}
	for _, name := range []string{"server", "client", "processor"} {
		c.AddCommand(newSuiteCmd(name))
	}
	return c
}

func newSuiteCmd(name string) *cobra.Command {
	var (
		opts  harness.Options
		envs  = append(append([]envFlag{}, suiteEnvFlags[name]...), commonEnvFlags...)
		vals  = make([]string, len(envs))
		long  bool
		focus []string
	)
	s := suites[name]
	c := &cobra.Command{
		Use:   name,
		Short: "Run the " + s.Title + " suite",
		Long: s.Title + ` suite. Flags override the environment variables named in
brackets. Exit status: 0 pass, 1 fail, 2 bad command line, 3 the harness broke (bad settings,
an unreachable target, a panic in the suite): no verdict about the target.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			for i, e := range envs {
				if c.Flags().Changed(e.name) {
					if err := os.Setenv(e.env, vals[i]); err != nil {
						return err
					}
				}
			}
			if long {
				os.Setenv("TRICKLE_LONG", "1")
			}
			if v := strings.ToLower(os.Getenv("TRICKLE_STRICT")); v == "1" || v == "true" || v == "yes" {
				opts.Strict = true
			}
			if opts.ReportDir == "" {
				opts.ReportDir = filepath.Join("reports", name)
			}
			opts.Focus = focus
			opts.NoColor = opts.NoColor || !isTerminal(os.Stdout)
			res, err := harness.Main(s, opts)
			if res == nil {
				return &exitError{exitHarness, fmt.Errorf("conformance %s: %w", name, err)}
			}
			fmt.Fprintln(c.OutOrStdout())
			if opts.DryRun {
				printCatalogue(c.OutOrStdout(), res)
			} else {
				printVerdict(c.OutOrStdout(), res)
			}
			if opts.ReportDir != "none" {
				fmt.Fprintf(c.OutOrStdout(), "reports: %s\n", opts.ReportDir)
			}
			if err != nil {
				return &exitError{exitHarness, fmt.Errorf("conformance %s: %w", name, err)}
			}
			if res.HarnessBroke() {
				return &exitError{exitHarness, fmt.Errorf("conformance %s: the harness broke (see above); the verdict says nothing about the target", name)}
			}
			if res.Verdict != "pass" {
				return &exitError{exitFail, fmt.Errorf("conformance %s: verdict fail (%d reasons, see above)", name, len(res.Reasons))}
			}
			return nil
		},
	}
	f := c.Flags()
	for i, e := range envs {
		usage := fmt.Sprintf("%s [%s]", e.usage, e.env)
		if e.def != "" {
			usage += " (default " + e.def + ")"
		}
		f.StringVar(&vals[i], e.name, "", usage)
	}
	f.BoolVar(&opts.Strict, "strict", false, "SHOULD failures fail the run too [TRICKLE_STRICT]")
	f.StringVar(&opts.LabelFilter, "label-filter", "", `run only specs whose labels match, e.g. "Category:api", "ID:PROC-001 || Level:MUST"`)
	f.StringArrayVar(&focus, "focus", nil, "run only specs whose text matches this regular expression (repeatable)")
	f.StringVar(&opts.ReportDir, "report-dir", "", `where the reports go (default reports/`+name+`; "none": no reports)`)
	f.BoolVar(&opts.DryRun, "dry-run", false, "list the requirements and their specs without running anything; fails if the suite and its spec document disagree")
	f.BoolVar(&long, "long", false, "also run the specs that wait for full-length timeouts [TRICKLE_LONG=1]")
	f.BoolVarP(&opts.Verbose, "verbose", "v", false, "print every spec as it runs, not only failures")
	f.BoolVar(&opts.NoColor, "no-color", false, "no ANSI colours (the default when stdout is not a terminal)")
	f.SortFlags = false
	return c
}

func printVerdict(w io.Writer, res *harness.Results) {
	fmt.Fprintf(w, "conformance %s against %s: %s (strict %v)\n", res.Suite, res.Target,
		strings.ToUpper(res.Verdict), res.Strict)
	var counts []string
	for st := harness.StatusNotRun; st <= harness.StatusError; st++ {
		if n := res.Counts[st.String()]; n > 0 {
			counts = append(counts, fmt.Sprintf("%s %d", st, n))
		}
	}
	fmt.Fprintf(w, "requirements: %s\n", strings.Join(counts, ", "))
	for _, q := range res.Requirements {
		if q.Status >= harness.StatusFail {
			fmt.Fprintf(w, "  %-5s %-12s %-6s %s\n", q.Status, q.ID, q.Level, q.Detail)
		}
	}
	for _, r := range res.Reasons {
		if !strings.HasPrefix(r, "TRK-") && !strings.HasPrefix(r, "PROC-") {
			fmt.Fprintf(w, "  %s\n", r)
		}
	}
}

func printCatalogue(w io.Writer, res *harness.Results) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tLEVEL\tCATEGORY\tSPECS\tTITLE")
	for _, q := range res.Requirements {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", q.ID, q.Level, q.Category, len(q.Specs), q.Title)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d requirements in the %s suite\n", len(res.Requirements), res.Suite)
	for _, p := range res.Reasons {
		fmt.Fprintln(w, "problem:", p)
	}
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// exitCode maps a command's error to the process's exit status.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, errUsage):
		return 2
	}
	return 1
}
