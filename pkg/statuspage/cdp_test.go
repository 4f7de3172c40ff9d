//go:build linux || darwin

package statuspage_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A tiny Chrome DevTools Protocol client: enough to open a tab, navigate,
// evaluate JavaScript and take a screenshot, over one websocket to the
// browser with a flattened session for the tab.

// chromiumNames are the binaries the browser test looks for, in order.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// findChromium returns the first chromium binary on PATH, or skips.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range chromiumNames {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skipf("no chromium binary on PATH (looked for %s): run CI/install-chromium.sh to run the browser test",
		strings.Join(chromiumNames, ", "))
	return ""
}

// browser is a headless chromium and a CDP connection to one of its tabs.
type browser struct {
	t       *testing.T
	cmd     *exec.Cmd
	conn    *websocket.Conn
	session string // the tab's flattened session id

	wmu sync.Mutex // one writer at a time on conn

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan cdpReply
	logs    []string // console messages and exceptions of the page
	done    chan struct{}

	closeOnce sync.Once
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type cdpMessage struct {
	ID     int64           `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	cdpReply
}

// startBrowser starts headless chromium with its own profile folder and
// connects to a fresh tab. Everything ends with the test: the connection,
// then the whole process group of the browser.
func startBrowser(t *testing.T, ctx context.Context, bin string) *browser {
	t.Helper()
	profile := t.TempDir()
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--mute-audio", "--window-size=1280,1600",
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--user-data-dir="+profile, "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	b := &browser{t: t, cmd: cmd, pending: map[int64]chan cdpReply{}, done: make(chan struct{})}
	t.Cleanup(b.close)

	// Chromium writes its port and browser path into the profile folder.
	var wsURL string
	deadline := time.Now().Add(30 * time.Second)
	for wsURL == "" {
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("chromium did not open its DevTools port; its output:\n%s", stderr.String())
		}
		if b, err := os.ReadFile(filepath.Join(profile, "DevToolsActivePort")); err == nil {
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) == 2 {
				if _, err := strconv.Atoi(lines[0]); err == nil {
					wsURL = "ws://127.0.0.1:" + lines[0] + lines[1]
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.DialContext(ctx, wsURL, nil)
	if err != nil {
		t.Fatalf("connecting to chromium at %s: %v", wsURL, err)
	}
	resp.Body.Close()
	conn.SetReadLimit(64 << 20) // screenshots
	b.conn = conn
	go b.readLoop()

	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		t.Fatal(err)
	}
	var att struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att); err != nil {
		t.Fatal(err)
	}
	b.session = att.SessionID
	for _, m := range []string{"Page.enable", "Runtime.enable"} {
		if err := b.call(ctx, b.session, m, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func (b *browser) readLoop() {
	defer close(b.done)
	for {
		var m cdpMessage
		if err := b.conn.ReadJSON(&m); err != nil {
			b.mu.Lock()
			for id, ch := range b.pending {
				close(ch)
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		if m.ID != 0 {
			b.mu.Lock()
			ch := b.pending[m.ID]
			delete(b.pending, m.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- m.cdpReply
			}
			continue
		}
		switch m.Method {
		case "Runtime.consoleAPICalled", "Runtime.exceptionThrown", "Log.entryAdded":
			b.mu.Lock()
			b.logs = append(b.logs, m.Method+" "+string(m.Params))
			b.mu.Unlock()
		}
	}
}

// call sends one command (to the tab's session, or the browser when
// session is "") and decodes its result into out (when not nil).
func (b *browser) call(ctx context.Context, session, method string, params, out any) error {
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan cdpReply, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	b.wmu.Lock()
	_ = b.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	err := b.conn.WriteJSON(msg)
	b.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return fmt.Errorf("%s: the connection to chromium ended", method)
		}
		if r.Error != nil {
			return fmt.Errorf("%s: %s (%d)", method, r.Error.Message, r.Error.Code)
		}
		if out != nil {
			return json.Unmarshal(r.Result, out)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// navigate opens url in the tab and waits for its load event.
func (b *browser) navigate(ctx context.Context, url string) error {
	var r struct {
		ErrorText string `json:"errorText"`
	}
	if err := b.call(ctx, b.session, "Page.navigate", map[string]any{"url": url}, &r); err != nil {
		return err
	}
	if r.ErrorText != "" {
		return errors.New("navigating: " + r.ErrorText)
	}
	return b.waitJS(ctx, "document.readyState === 'complete'", 10*time.Second)
}

// eval evaluates a JavaScript expression in the page (awaiting a promise)
// and decodes its value into out (when not nil).
func (b *browser) eval(ctx context.Context, expr string, out any) error {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := b.call(ctx, b.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true,
		"awaitPromise": true}, &r)
	if err != nil {
		return err
	}
	if e := r.ExceptionDetails; e != nil {
		return fmt.Errorf("evaluating %q: %s %s", expr, e.Text, e.Exception.Description)
	}
	if out != nil && len(r.Result.Value) > 0 {
		return json.Unmarshal(r.Result.Value, out)
	}
	return nil
}

// evalString evaluates expr, which must give a string.
func (b *browser) evalString(ctx context.Context, expr string) string {
	b.t.Helper()
	var s string
	if err := b.eval(ctx, expr, &s); err != nil {
		b.t.Fatal(err)
	}
	return s
}

// waitJS polls a JavaScript condition until it is true.
func (b *browser) waitJS(ctx context.Context, cond string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var ok bool
		err := b.eval(ctx, "Boolean("+cond+")", &ok)
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("waiting for %s: %w", cond, err)
			}
			return fmt.Errorf("timed out after %v waiting for %s", limit, cond)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// screenshot saves a PNG of the tab to path.
func (b *browser) screenshot(ctx context.Context, path string) error {
	var r struct {
		Data string `json:"data"`
	}
	if err := b.call(ctx, b.session, "Page.captureScreenshot", map[string]any{"format": "png",
		"captureBeyondViewport": true}, &r); err != nil {
		return err
	}
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}

// pageLogs returns the page's console messages and exceptions so far.
func (b *browser) pageLogs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.logs...)
}

// close ends the connection and kills chromium's whole process group;
// calling it again does nothing.
func (b *browser) close() { b.closeOnce.Do(b.doClose) }

func (b *browser) doClose() {
	if b.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = b.call(ctx, "", "Browser.close", nil, nil)
		cancel()
		b.conn.Close()
		<-b.done
	}
	if b.cmd.Process != nil {
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		_ = b.cmd.Wait()
	}
}
