package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/gotrickle/gotrickle/conformance/harness"
)

// Command mode: the suite checks a third party's publisher and subscriber
// given as command templates (TRICKLE_PUBLISHER_CMD, TRICKLE_SUBSCRIBER_CMD;
// `gotrickle conformance client --publisher-cmd … --subscriber-cmd …`).
// conformance/CLIENT-COMMANDS.md is the user's guide.
//
// A command cannot be driven call by call the way driver.go drives a
// library: the suite cannot hand it one chunk, pause, and ask what it
// reported. So the suite has two kinds of specs:
//
//   - call specs (publisher.go, subscriber.go) drive a client through
//     clientImpl; they run only against gotrickle's Go API, and report
//     unsupported in command mode;
//   - run specs (cmd_publisher.go, cmd_subscriber.go) hand a client its
//     whole input (a channel URL, segment files or an output file) and
//     judge what it does on the wire, what it writes, and how it exits.
//     They run against the commands in command mode and against gotrickle's
//     Go API, wrapped the way a command would use it, otherwise.
//
// A role whose command is not given is not tested at all in command mode:
// its specs report skip (the report's target names only the commands).

// Labels of the run specs' containers; roleGate tells the specs apart by
// them.
const (
	runPublisherLabel  = "Run:publisher"
	runSubscriberLabel = "Run:subscriber"
)

// The clients the run specs use; set by chooseClients in BeforeSuite.
var (
	pubRuns     pubRunner // nil: no publisher is tested
	subRuns     subRunner // nil: no subscriber is tested
	commandMode bool      // a command template was given
)

// pubRunner starts whole publisher runs.
type pubRunner interface {
	Describe() string
	// WholeFile reports whether the publisher is handed the whole input
	// ({file}) and cuts it into segments itself, rather than pre-cut
	// segment files ({seg_dir}); the suite then cannot know each
	// segment's bytes.
	WholeFile() bool
	Start(o pubRunOptions) (runHandle, error)
}

// pubRunOptions is what a publisher run is given.
type pubRunOptions struct {
	URL     string // the channel URL: Base + Channel
	Base    string // the server's base URL, ending in /
	Channel string
	SegDir  string // the input as segment files 0.ts, 1.ts, ... in order
	File    string // the same input as one file
	Dir     string // a scratch directory for the run (a command's working directory)
}

// subRunner starts whole subscriber runs.
type subRunner interface {
	Describe() string
	// StartConfig reports whether the start position can be configured,
	// and whether it always is ({start} in a template: then the suite
	// passes -1 when a spec has no start of its own).
	StartConfig() (can, always bool)
	Start(o subRunOptions) (runHandle, error)
}

// subRunOptions is what a subscriber run is given.
type subRunOptions struct {
	URL     string
	Base    string
	Channel string
	Output  string // the file the subscriber writes the segments to
	Start   *int64 // nil: unconfigured
	Dir     string
}

// runHandle is one running publisher or subscriber.
type runHandle interface {
	// Done is closed when the run has ended.
	Done() <-chan struct{}
	// Result tells how the run ended; call it once Done is closed.
	Result() runResult
	// Stop asks the client to stop the way its user would: SIGTERM to a
	// command's process group, Close for gotrickle's Go API.
	Stop()
	// Kill ends the run for good (SIGKILL to the process group) and waits
	// for it to be gone. It may be called more than once.
	Kill()
}

// runResult is how a run ended.
type runResult struct {
	Code   int    // exit status; -1 when a signal ended it
	Signal string // the signal that ended it, if one did
	Output string // the end of what it wrote to stdout and stderr
}

func (r runResult) String() string {
	s := fmt.Sprintf("exit status %d", r.Code)
	if r.Signal != "" {
		s = "killed by " + r.Signal
	}
	if out := strings.TrimSpace(r.Output); out != "" {
		s += "; its output ended with:\n" + indent(out)
	}
	return s
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// chooseClients picks the clients from the environment and returns the
// target to report. Bad templates are a harness error.
func chooseClients() string {
	pubT := strings.TrimSpace(os.Getenv("TRICKLE_PUBLISHER_CMD"))
	subT := strings.TrimSpace(os.Getenv("TRICKLE_SUBSCRIBER_CMD"))
	if pubT == "" && subT == "" {
		commandMode = false
		pubRuns, subRuns = gotricklePubRunner{}, gotrickleSubRunner{}
		return impl.Name() + " (in-process) against fakes/trickleserver on loopback"
	}
	commandMode = true
	pubRuns, subRuns = nil, nil
	target := []string{}
	if pubT != "" {
		t, err := parseTemplate("publisher", pubT)
		if err != nil {
			harness.HarnessError(fmt.Errorf("TRICKLE_PUBLISHER_CMD: %w", err))
		}
		pubRuns = cmdPubRunner{t}
		target = append(target, fmt.Sprintf("publisher command `%s`", pubT))
	} else {
		target = append(target, "no publisher command (publisher not tested)")
	}
	if subT != "" {
		t, err := parseTemplate("subscriber", subT)
		if err != nil {
			harness.HarnessError(fmt.Errorf("TRICKLE_SUBSCRIBER_CMD: %w", err))
		}
		subRuns = cmdSubRunner{t}
		target = append(target, fmt.Sprintf("subscriber command `%s`", subT))
	} else {
		target = append(target, "no subscriber command (subscriber not tested)")
	}
	return strings.Join(target, ", ") + ", against fakes/trickleserver on loopback"
}

// roleGate runs before every spec. In command mode it skips the specs of a
// role that has no command and reports the call specs unsupported.
func roleGate() {
	if !commandMode {
		return
	}
	rep := CurrentSpecReport()
	labels := rep.Labels()
	run := slices.Contains(labels, runPublisherLabel) || slices.Contains(labels, runSubscriberLabel)
	role := ""
	switch {
	case slices.Contains(labels, runPublisherLabel):
		role = "publisher"
	case slices.Contains(labels, runSubscriberLabel):
		role = "subscriber"
	case len(rep.ContainerHierarchyTexts) > 0 && rep.ContainerHierarchyTexts[0] == "Publisher":
		role = "publisher"
	case len(rep.ContainerHierarchyTexts) > 0 && rep.ContainerHierarchyTexts[0] == "Subscriber":
		role = "subscriber"
	}
	if (role == "publisher" && pubRuns == nil) || (role == "subscriber" && subRuns == nil) {
		Skip(fmt.Sprintf("no %s command was given (--%s-cmd, TRICKLE_%s_CMD): the %s is not tested",
			role, role, strings.ToUpper(role), role))
	}
	if !run {
		harness.Unsupported("this spec drives the client call by call (a segment chunk by chunk, with pauses, " +
			"or one read at a time), which a command cannot be; command mode checks what a whole run shows " +
			"(see conformance/CLIENT-COMMANDS.md)")
	}
}

// --- templates -------------------------------------------------------------

// Placeholders each role's template may use.
var placeholders = map[string][]string{
	"publisher":  {"url", "base", "channel", "seg_dir", "file"},
	"subscriber": {"url", "base", "channel", "file", "start"},
}

var placeholderRE = regexp.MustCompile(`\{([a-z_]+)\}`)

// cmdTemplate is a command line with placeholders, run by /bin/sh -c once
// each placeholder is replaced by its value, quoted for sh.
type cmdTemplate struct {
	role string
	raw  string
	has  map[string]bool
}

// parseTemplate checks a template: only the role's placeholders, none
// inside quotes (the suite quotes the values itself), and the ones the
// role needs.
func parseTemplate(role, raw string) (*cmdTemplate, error) {
	t := &cmdTemplate{role: role, raw: raw, has: map[string]bool{}}
	allowed := placeholders[role]
	quoted := shQuotedSpans(raw)
	for _, m := range placeholderRE.FindAllStringSubmatchIndex(raw, -1) {
		name := raw[m[2]:m[3]]
		if !slices.Contains(allowed, name) {
			return nil, fmt.Errorf("unknown placeholder {%s}; a %s template may use {%s}", name, role, strings.Join(allowed, "}, {"))
		}
		if quoted[m[0]] {
			return nil, fmt.Errorf("placeholder {%s} is inside quotes; write placeholders bare: the suite quotes each value for sh", name)
		}
		t.has[name] = true
	}
	if !t.has["url"] && !(t.has["base"] && t.has["channel"]) {
		return nil, errors.New("the template names no channel: use {url}, or {base} and {channel}")
	}
	switch role {
	case "publisher":
		if !t.has["seg_dir"] && !t.has["file"] {
			return nil, errors.New("the template names no input: use {seg_dir} (segment files to publish one per POST) or {file} (the whole stream)")
		}
	case "subscriber":
		if !t.has["file"] {
			return nil, errors.New("the template names no output: use {file}, the file the subscriber writes the segments to")
		}
	}
	return t, nil
}

// shQuotedSpans marks the bytes of s that sh reads inside single or double
// quotes (or escaped by a backslash).
func shQuotedSpans(s string) []bool {
	q := make([]bool, len(s))
	var in byte // 0, '\'' or '"'
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case in == '\'':
			q[i] = true
			if c == '\'' {
				in = 0
			}
		case c == '\\' && i+1 < len(s):
			q[i], q[i+1] = true, true
			i++
		case in == '"':
			q[i] = true
			if c == '"' {
				in = 0
			}
		case c == '\'' || c == '"':
			q[i] = true
			in = c
		}
	}
	return q
}

// expand replaces each placeholder with its value, single-quoted for sh.
func (t *cmdTemplate) expand(vals map[string]string) string {
	return placeholderRE.ReplaceAllStringFunc(t.raw, func(m string) string {
		return shQuote(vals[m[1:len(m)-1]])
	})
}

// shQuote quotes s as one sh word.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// --- command runners ---------------------------------------------------------

type cmdPubRunner struct{ t *cmdTemplate }

func (r cmdPubRunner) Describe() string { return "publisher command `" + r.t.raw + "`" }
func (r cmdPubRunner) WholeFile() bool  { return !r.t.has["seg_dir"] }

func (r cmdPubRunner) Start(o pubRunOptions) (runHandle, error) {
	return startCommand(r.t.expand(map[string]string{
		"url": o.URL, "base": o.Base, "channel": o.Channel, "seg_dir": o.SegDir, "file": o.File,
	}), o.Dir)
}

type cmdSubRunner struct{ t *cmdTemplate }

func (r cmdSubRunner) Describe() string { return "subscriber command `" + r.t.raw + "`" }

func (r cmdSubRunner) StartConfig() (bool, bool) { return r.t.has["start"], r.t.has["start"] }

func (r cmdSubRunner) Start(o subRunOptions) (runHandle, error) {
	start := int64(-1)
	if o.Start != nil {
		start = *o.Start
	}
	return startCommand(r.t.expand(map[string]string{
		"url": o.URL, "base": o.Base, "channel": o.Channel, "file": o.Output, "start": fmt.Sprint(start),
	}), o.Dir)
}

// killWait bounds how long Kill waits for a killed command's pipes to
// close.
const killWait = 5 * time.Second

// cmdRun is a running command: /bin/sh -c LINE in a process group of its
// own, so that Stop and Kill reach every process it started.
type cmdRun struct {
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{}
	res  runResult
	once sync.Once
}

func startCommand(line, dir string) (*cmdRun, error) {
	c := exec.Command("/bin/sh", "-c", line)
	c.Dir = dir
	out := &tailBuffer{max: 16 << 10}
	c.Stdout, c.Stderr = out, out
	c.WaitDelay = killWait
	ownProcessGroup(c)
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", line, err)
	}
	r := &cmdRun{cmd: c, out: out, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		c.Wait()
		r.res = runResult{Code: c.ProcessState.ExitCode(), Output: out.String()}
		if sig := exitSignal(c.ProcessState); sig != "" {
			r.res.Signal = sig
		}
	}()
	return r, nil
}

func (r *cmdRun) Done() <-chan struct{} { return r.done }
func (r *cmdRun) Result() runResult     { return r.res }
func (r *cmdRun) Stop()                 { signalGroup(r.cmd, false) }

func (r *cmdRun) Kill() {
	r.once.Do(func() {
		// The whole group, even when the shell has exited: what it
		// started in the background may still run.
		signalGroup(r.cmd, true)
		select {
		case <-r.done:
		case <-time.After(2 * killWait):
		}
	})
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := string(t.b)
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

// --- gotrickle, run like a command ---------------------------------------

// goRun is a publisher or subscriber session of gotrickle's Go API on a
// goroutine of its own.
type goRun struct {
	cancel context.CancelFunc
	stop   func()
	done   chan struct{}
	res    runResult
	once   sync.Once
}

func newGoRun(stop func(), cancel context.CancelFunc) *goRun {
	return &goRun{cancel: cancel, stop: stop, done: make(chan struct{})}
}

func (r *goRun) Done() <-chan struct{} { return r.done }
func (r *goRun) Result() runResult     { return r.res }
func (r *goRun) Stop()                 { r.stop() }

func (r *goRun) Kill() {
	r.once.Do(func() {
		r.cancel()
		r.stop()
		<-r.done
	})
}
