package statuspage

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/processor"
)

func TestThePageAndItsAssets(t *testing.T) {
	tp := newTestPage(t, newFakeSource(processor.StateIdle), Config{})
	for _, c := range []struct {
		method, path string
		code         int
		ctype, body  string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", `<script src="ui/app.js"`},
		{"HEAD", "/", 200, "text/html; charset=utf-8", ""},
		{"GET", "/ui/app.js", 200, "text/javascript; charset=utf-8", "new WebSocket("},
		{"GET", "/ui/style.css", 200, "text/css; charset=utf-8", ".badge"},
		{"GET", "/ui/index.html", 200, "text/html; charset=utf-8", "<canvas"},
		{"GET", "/ui/missing.js", 404, "", ""},
		{"GET", "/ui/../page.go", 404, "", ""},
		{"GET", "/ui/%2e%2e%2fpage.go", 404, "", ""},
		{"GET", "/ui/", 404, "", ""},
		{"GET", "/elsewhere", 404, "", ""},
		{"POST", "/", 405, "", ""},
		{"GET", "/ws", 400, "", ""}, // not an upgrade
	} {
		req, err := http.NewRequest(c.method, tp.hs.URL+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.code)
			continue
		}
		if c.ctype != "" && resp.Header.Get("Content-Type") != c.ctype {
			t.Errorf("%s %s: Content-Type %q, want %q", c.method, c.path, resp.Header.Get("Content-Type"), c.ctype)
		}
		if c.code == 200 && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("%s %s: no content security policy", c.method, c.path)
		}
		if !strings.Contains(string(b), c.body) {
			t.Errorf("%s %s: the body does not hold %q", c.method, c.path, c.body)
		}
	}
	// Nothing on the page comes from elsewhere.
	for _, name := range []string{"index.html", "app.js", "style.css"} {
		b, err := static.ReadFile("static/" + name)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"http://", "https://", "//cdn", "import "} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s mentions %q: the page must load nothing from elsewhere", name, bad)
			}
		}
	}
}
