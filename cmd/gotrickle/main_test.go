package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Re-executed as the gotrickle command (see gotrickleCmd): ginkgo runs
	// one suite per process, so conformance tests run the command apart.
	if os.Getenv("GOTRICKLE_TEST_AS_MAIN") == "1" {
		os.Exit(runMain(os.Args[1:]))
	}
	goleak.VerifyTestMain(m)
}

// execute runs the root command with args, capturing its output.
func execute(ctx context.Context, args []string, stdout io.Writer) error {
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(io.Discard)
	return root.ExecuteContext(ctx)
}

func TestBadCommandLinesExitWithUsageStatus(t *testing.T) {
	for _, args := range [][]string{
		{"server", "--bogus"},
		{"server", "--log-format", "xml"},
		{"server", "--log-level", "loud"},
		{"server", "extra-arg"},
	} {
		t.Run(strings.Join(args, " ")+" is a usage error", func(t *testing.T) {
			if code := run(context.Background(), args); code == 0 {
				t.Fatalf("exit status 0")
			}
		})
	}
	t.Run("an unknown flag exits 2", func(t *testing.T) {
		if code := run(context.Background(), []string{"server", "--bogus"}); code != 2 {
			t.Fatalf("exit status %d, want 2", code)
		}
	})
}

func TestVersionPrintsTheVersion(t *testing.T) {
	var out bytes.Buffer
	if err := execute(context.Background(), []string{"version"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "gotrickle ") {
		t.Fatalf("%q", out.String())
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		t.Run(c.CommandPath()+" has a short description", func(t *testing.T) {
			if c.Short == "" {
				t.Fatal("no Short")
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot())
}

func TestServerServesTrickleUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- execute(ctx, []string{"server", "--addr", "127.0.0.1:0", "--base-path", "/ai/trickle", "--log-level", "error"}, pw)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if !ok || !strings.HasSuffix(base, "/ai/trickle/") {
		t.Fatalf("first line %q", line)
	}
	go io.Copy(io.Discard, pr)
	client := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Post(base+"s/0", "video/mp2t", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = client.Get(base + "s/0")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hello" {
		t.Fatalf("read back %q", b)
	}
	client.CloseIdleConnections()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not stop")
	}
}

// callJSON sends a JSON request and decodes the JSON answer.
func callJSON(t *testing.T, ctx context.Context, client *http.Client, url, method, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp.StatusCode, m
}
