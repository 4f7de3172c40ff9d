package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

func TestSignals(t *testing.T) {
	for _, c := range []struct {
		name     string
		sigs     []os.Signal
		wantExit int // -1: no exit
	}{
		{"the first signal cancels the command and does not exit", []os.Signal{syscall.SIGTERM}, -1},
		{"SIGINT after SIGTERM exits 130 at once", []os.Signal{syscall.SIGTERM, syscall.SIGINT}, 130},
		{"a second SIGTERM exits 143 at once", []os.Signal{syscall.SIGINT, syscall.SIGTERM}, 143},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sigs := make(chan os.Signal, 2)
				done := make(chan struct{})
				ctx, cancel := context.WithCancelCause(context.Background())
				defer cancel(nil)
				exited := -1
				var stderr bytes.Buffer
				returned := make(chan struct{})
				go func() {
					defer close(returned)
					watchSignals(done, sigs, cancel, &stderr, func(code int) { exited = code })
				}()
				for _, s := range c.sigs {
					sigs <- s
				}
				synctest.Wait()
				if !errors.Is(context.Cause(ctx), errInterrupted) || !strings.Contains(context.Cause(ctx).Error(), c.sigs[0].String()) {
					t.Errorf("cause %v, want the first signal", context.Cause(ctx))
				}
				if exited != c.wantExit {
					t.Errorf("exit %d, want %d", exited, c.wantExit)
				}
				if c.wantExit >= 0 && !strings.Contains(stderr.String(), "second signal") {
					t.Errorf("stderr %q does not say why", stderr.String())
				}
				close(done)
				<-returned
			})
		})
	}
	t.Run("once the command has returned, signals are left alone", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			sigs := make(chan os.Signal, 2)
			done := make(chan struct{})
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			close(done)
			watchSignals(done, sigs, cancel, io.Discard, func(int) { t.Error("exit called") })
			if ctx.Err() != nil {
				t.Fatal("the context was cancelled")
			}
		})
	})
}

func TestShutdownWithin(t *testing.T) {
	t.Run("steps that finish in time return their own result", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			want := errors.New("flush failed")
			err := shutdownWithin(context.Background(), time.Second, quietLogger(), func(ctx context.Context) error {
				time.Sleep(500 * time.Millisecond)
				return want
			})
			if err != want {
				t.Fatalf("got %v, want %v", err, want)
			}
		})
	})
	t.Run("steps that overrun are left behind at the bound with errShutdownTimeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			release := make(chan struct{})
			start := time.Now()
			err := shutdownWithin(context.Background(), 3*time.Second, quietLogger(), func(ctx context.Context) error {
				<-release // ignores ctx, as a stalled peer's timer might
				return nil
			})
			if !errors.Is(err, errShutdownTimeout) || exitCode(err) != 1 {
				t.Fatalf("got %v (exit %d), want errShutdownTimeout, exit 1", err, exitCode(err))
			}
			if took := time.Since(start); took != 3*time.Second {
				t.Fatalf("gave up after %v, want the bound, 3s", took)
			}
			close(release)
		})
	})
	t.Run("the steps' context ends at the bound even after the signal's context", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // the signal already came
			var left time.Duration
			_ = shutdownWithin(ctx, 2*time.Second, quietLogger(), func(sctx context.Context) error {
				dl, ok := sctx.Deadline()
				if !ok || sctx.Err() != nil {
					t.Errorf("steps got a context without a future deadline: %v", sctx.Err())
				}
				left = time.Until(dl)
				return nil
			})
			if left != 2*time.Second {
				t.Fatalf("deadline %v away, want 2s", left)
			}
		})
	})
}

func TestShutdownTimeoutMustBePositive(t *testing.T) {
	for _, cmd := range []string{"serve", "server"} {
		t.Run(cmd+" --shutdown-timeout 0 is a usage error", func(t *testing.T) {
			var stderr bytes.Buffer
			code := runWith(context.Background(), []string{cmd, "--addr", "127.0.0.1:0", "--shutdown-timeout", "0s"}, io.Discard, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), "--shutdown-timeout") {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
		})
	}
}

// child is this test binary run as the gotrickle command in a process of
// its own, so that it can be sent real signals.
type child struct {
	cmd    *exec.Cmd
	url    string // what it printed after "listening "
	stderr *lockedBuffer
	exited chan struct{}
	code   int
	at     time.Time // when it exited
}

// startChild starts gotrickle with args; when wantURL, it waits for the
// "listening URL" line.
func startChild(t *testing.T, wantURL bool, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(os.Args[0], args...), stderr: &lockedBuffer{}, exited: make(chan struct{})}
	// A race-enabled binary sleeps a second on exit unless told not to,
	// which would be counted as shutdown time.
	c.cmd.Env = append(os.Environ(), "GOTRICKLE_TEST_AS_MAIN=1", "GORACE=atexit_sleep_ms=0")
	c.cmd.Stderr = c.stderr
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		lines <- line
		io.Copy(io.Discard, r)
		err := c.cmd.Wait()
		c.at = time.Now()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			c.code = ee.ExitCode()
		} else if err != nil {
			c.code = -1
		}
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			c.cmd.Process.Kill()
			<-c.exited
		}
	})
	if !wantURL {
		return c
	}
	select {
	case line := <-lines:
		u, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
		if !ok {
			t.Fatalf("gotrickle %s: first line %q\n%s", strings.Join(args, " "), line, c.stderr)
		}
		c.url = strings.TrimSuffix(u, "/")
	case <-time.After(20 * time.Second):
		t.Fatalf("gotrickle %s printed no URL\n%s", strings.Join(args, " "), c.stderr)
	}
	return c
}

// signal sends sig and returns when it was sent.
func (c *child) signal(t *testing.T, sig os.Signal) time.Time {
	t.Helper()
	at := time.Now()
	if err := c.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	return at
}

// wait waits for the exit, at most limit, and returns the exit status.
func (c *child) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-c.exited:
		return c.code
	case <-time.After(limit):
		t.Fatalf("still running after %v\n%s", limit, c.stderr)
		return -1
	}
}

// waitLog waits until stderr holds s.
func (c *child) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(c.stderr.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log\n%s", s, c.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lockedBuffer is a bytes.Buffer for a child's stderr, read while written.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
