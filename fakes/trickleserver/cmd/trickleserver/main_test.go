package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gotrickle/gotrickle/fakes/trickleserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHelpListsEveryFlagAndMutation(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"--help"}, &stdout, &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err %v", err)
	}
	help := stdout.String()
	var o options
	var file, level string
	var muts mutationList
	newFlagSet(&o, &file, &muts, &level, io.Discard).VisitAll(func(f *flag.Flag) {
		t.Run("the help lists --"+f.Name, func(t *testing.T) {
			if !strings.Contains(help, "-"+f.Name+" ") && !strings.Contains(help, "-"+f.Name+"\n") {
				t.Fatalf("missing from:\n%s", help)
			}
		})
	})
	for _, m := range trickleserver.AllMutations() {
		t.Run("the help lists mutation "+string(m), func(t *testing.T) {
			if !strings.Contains(help, string(m)) {
				t.Fatal("missing")
			}
		})
	}
	t.Run("help goes to stdout only", func(t *testing.T) {
		if stderr.Len() != 0 {
			t.Fatalf("stderr %q", stderr.String())
		}
	})
}

func TestBadCommandLinesAreRefused(t *testing.T) {
	dir := t.TempDir()
	badFaults := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(badFaults, []byte(`[{"status": 500, "typo": 1}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"an unknown flag is a usage error", []string{"--nope"}, "usage"},
		{"an unknown mutation is a usage error", []string{"--mutation", "slow"}, "usage"},
		{"a stray argument is a usage error", []string{"extra"}, "usage"},
		{"a faults file with an unknown field is refused", []string{"--faults", badFaults}, `unknown field "typo"`},
		{"a missing faults file is refused", []string{"--faults", filepath.Join(dir, "none.json")}, "no such file"},
		{"an unknown log level is refused", []string{"--log-level", "loud"}, "--log-level"},
		{"an unknown log format is refused", []string{"--log-format", "xml"}, "--log-format"},
		{"a bad channel name is a usage error", []string{"--channels", "ok,a/b"}, "usage"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := run(context.Background(), c.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("err %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}

func TestTheCommandServesUntilCancelled(t *testing.T) {
	faults := filepath.Join(t.TempDir(), "faults.json")
	if err := os.WriteFile(faults, []byte(`[{"method": "GET", "seq": 0, "nth": 1, "status": 503}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--base-path", "/ai/trickle", "--faults", faults,
			"--autocreate=false", "--channels", "s, t", "--channels", "u",
			"--mutation", "no-latest-header", "--log-level", "error"}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no listening line: %v", err)
	}
	go io.Copy(io.Discard, pr) // nothing more is expected; never block the command
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if !ok || !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.HasSuffix(base, "/ai/trickle/") {
		t.Fatalf("first line %q", line)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	get := func(t *testing.T, method, path string, body io.Reader) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, body)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	t.Run("the channels given are created", func(t *testing.T) {
		for _, ch := range []string{"s", "t", "u"} {
			if resp := get(t, "POST", ch+"/0", strings.NewReader("zero")); resp.StatusCode != 200 {
				t.Fatalf("%s: %d", ch, resp.StatusCode)
			}
		}
	})
	t.Run("no other channel can be created", func(t *testing.T) {
		if resp := get(t, "POST", "v/0", strings.NewReader("zero")); resp.StatusCode != 404 {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
	t.Run("the faults file is armed", func(t *testing.T) {
		if resp := get(t, "GET", "s/0", nil); resp.StatusCode != 503 {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
	t.Run("the mutation is carried", func(t *testing.T) {
		if resp := get(t, "GET", "s/0", nil); resp.StatusCode != 200 || resp.Header.Get("Lp-Trickle-Latest") != "" {
			t.Fatalf("%d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("cancelling shuts it down cleanly, releasing a parked reader", func(t *testing.T) {
		parked := make(chan int, 1)
		go func() {
			resp, err := client.Get(base + "s/-1")
			if err != nil {
				parked <- 0
				return
			}
			resp.Body.Close()
			parked <- resp.StatusCode
		}()
		time.Sleep(50 * time.Millisecond) // let the GET park
		cancel()
		if code := <-parked; code != 200 {
			t.Errorf("parked reader released with %d", code)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("still running")
		}
	})
}
