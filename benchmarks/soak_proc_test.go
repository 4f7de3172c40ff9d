package benchmarks

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The soak's processor: `gotrickle serve` as a process of its own, driven
// through its HTTP API as a gateway would drive it.

// soakProcessor is a running `gotrickle serve`.
type soakProcessor struct {
	api    string // base URL of its API
	pid    int
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // from Wait, once exited is closed
}

// soakBinary returns GOTRICKLE_SOAK_BIN, or builds cmd/gotrickle into dir.
func soakBinary(t *testing.T, dir string) string {
	t.Helper()
	if bin := os.Getenv("GOTRICKLE_SOAK_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(dir, "gotrickle")
	goCmd := os.Getenv("GO")
	if goCmd == "" {
		goCmd = "go"
	}
	out, err := exec.Command(goCmd, "build", "-o", bin, "../cmd/gotrickle").CombinedOutput()
	if err != nil {
		t.Fatalf("building gotrickle: %v\n%s", err, out)
	}
	return bin
}

// startProcessor runs `gotrickle serve` on a loopback port, its log going
// to logPath, and waits until it listens.
func startProcessor(t *testing.T, bin, logPath string) *soakProcessor {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--log-level", "info")
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &soakProcessor{pid: cmd.Process.Pid, cmd: cmd, exited: make(chan struct{})}
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if u, ok := strings.CutPrefix(lines.Text(), "listening "); ok {
			p.api = strings.TrimRight(u, "/")
			break
		}
	}
	go func() {
		io.Copy(io.Discard, out)
		p.err = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
	})
	if p.api == "" {
		t.Fatalf("gotrickle serve printed no address (log: %s)", logPath)
	}
	return p
}

// post sends a JSON body to an API route and wants 200.
func (p *soakProcessor) post(ctx context.Context, route string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.api+route, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %d %s", route, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}

// metrics scrapes /metrics into "name{labels}" → value.
func (p *soakProcessor) metrics(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.api+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		line := lines.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m, lines.Err()
}

// sample reads the processor's figures now: RSS and open files from /proc,
// the rest from /metrics.
func (p *soakProcessor) sample(ctx context.Context) (soakSample, error) {
	var s soakSample
	rss, err := procRSS(p.pid)
	if err != nil {
		return s, err
	}
	fds, err := procFDs(p.pid)
	if err != nil {
		return s, err
	}
	m, err := p.metrics(ctx)
	if err != nil {
		return s, err
	}
	s.RSSMB, s.FDs = float64(rss)/1e6, fds
	s.Goroutines = int(m["go_goroutines"])
	s.HeapMB = m["go_memstats_heap_inuse_bytes"] / 1e6
	// What the Go runtime holds from the OS, less what it has returned: the
	// rest of the RSS is C memory (FFmpeg, x264) and shared libraries.
	s.GoMB = (m["go_memstats_sys_bytes"] - m["go_memstats_heap_released_bytes"]) / 1e6
	s.FramesIn = int64(m[`gotrickle_frames_in_total{media="video"}`])
	s.FramesOut = int64(m[`gotrickle_frames_out_total{media="video"}`])
	s.Skipped = int64(m[`gotrickle_frames_skipped_total{media="video"}`])
	return s, nil
}

// shutdown sends SIGTERM and waits for a clean exit.
func (p *soakProcessor) shutdown(wait time.Duration) error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.exited:
	case <-time.After(wait):
		return errors.New("gotrickle serve did not exit after SIGTERM")
	}
	return p.err
}
