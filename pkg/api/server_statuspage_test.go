package api

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/processor"
	"github.com/gotrickle/gotrickle/pkg/statuspage"
)

// pageStub records the paths the status page was asked for.
type pageStub struct {
	mu    sync.Mutex
	paths []string
}

func (p *pageStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.paths = append(p.paths, r.Method+" "+r.URL.Path)
	p.mu.Unlock()
	w.WriteHeader(http.StatusTeapot)
}

func TestStatusPageRoutes(t *testing.T) {
	t.Parallel()
	stub := &pageStub{}
	s := New(newFake(), Config{Logger: quiet, RoutePrefix: "/api", StatusPage: stub})
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/", http.StatusTeapot},
		{"HEAD", "/", http.StatusTeapot},
		{"GET", "/ws", http.StatusTeapot},
		{"GET", "/ui/app.js", http.StatusTeapot},
		{"GET", "/ui/anything/deeper", http.StatusTeapot},
		{"POST", "/", http.StatusMethodNotAllowed},
		{"DELETE", "/ws", http.StatusMethodNotAllowed},
		{"POST", "/ui/app.js", http.StatusMethodNotAllowed},
		{"GET", "/ui", http.StatusNotFound},
		{"GET", "/api/", http.StatusNotFound},
		{"GET", "/api/ws", http.StatusNotFound},
		{"GET", "/health", http.StatusOK},
		{"GET", "/api/stream/status", http.StatusOK},
		{"POST", "/api/stream/params", http.StatusOK},
	} {
		body := ""
		if c.method == "POST" {
			body = "{}"
		}
		rec := serve(s, c.method, c.path, "application/json", body)
		if rec.Code != c.code {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, rec.Code, c.code)
		}
		if c.code == http.StatusMethodNotAllowed || c.code == http.StatusNotFound {
			jsonBody(t, rec) // the API's own JSON answers
			if c.code == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: Allow %q", c.method, c.path, rec.Header().Get("Allow"))
			}
		}
	}
	want := "GET / HEAD / GET /ws GET /ui/app.js GET /ui/anything/deeper"
	if got := strings.Join(stub.paths, " "); got != want {
		t.Errorf("the status page served %q, want %q", got, want)
	}
}

func TestWithoutAStatusPageItsPathsAreUnknown(t *testing.T) {
	t.Parallel()
	s := New(newFake(), Config{Logger: quiet})
	for _, path := range []string{"/", "/ws", "/ui/app.js"} {
		rec := serve(s, "GET", path, "", "")
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, rec.Code)
		}
		if m := jsonBody(t, rec); m["message"] != "404: Not Found" {
			t.Errorf("GET %s: %v", path, m)
		}
	}
}

func TestTheRealStatusPageBehindTheAPI(t *testing.T) {
	t.Parallel()
	page := statuspage.New(newFake(), statuspage.Config{Logger: quiet})
	defer page.Close()
	s := New(newFake(), Config{Logger: quiet, StatusPage: page})
	rec := serve(s, "GET", "/", "", "")
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") ||
		!strings.Contains(rec.Body.String(), "params-form") {
		t.Errorf("GET /: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if rec := serve(s, "GET", "/ui/app.js", "", ""); rec.Code != http.StatusOK {
		t.Errorf("GET /ui/app.js: %d", rec.Code)
	}
	var _ processor.Observer = page // what serve wires into the processor
}
