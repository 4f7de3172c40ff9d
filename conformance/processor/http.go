package processor

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// reply is a finished API request.
type reply struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any // the body as a JSON object, nil when it is not one
	err    error
}

// call sends a request to the processor; path is used as given (use
// stream() for the prefixed routes). body nil sends none; contentType ""
// means application/json when there is a body.
func call(method, path string, body []byte, contentType string) reply {
	return callAt(cfg.procURL, method, path, body, contentType)
}

// callAt is call against another base URL (a spec's own processor).
func callAt(base, method, path string, body []byte, contentType string) reply {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return reply{err: err}
	}
	if body != nil {
		if contentType == "" {
			contentType = "application/json"
		}
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	r := reply{status: resp.StatusCode, header: resp.Header, body: b, err: err}
	var m map[string]any
	if json.Unmarshal(b, &m) == nil {
		r.json = m
	}
	return r
}

// stream is the path of a prefixed stream route: stream("start").
func stream(route string) string { return cfg.prefix + "/stream/" + route }

// mustJSON marshals v.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// postJSON sends v as a JSON body.
func postJSON(path string, v any) reply {
	GinkgoHelper()
	return call("POST", path, mustJSON(v), "")
}

// health returns the status string of GET /health, "" when unreadable.
func health() string {
	r := call("GET", "/health", nil, "")
	s, _ := r.json["status"].(string)
	return s
}

// mediaStatus returns the body of GET {prefix}/stream/status, nil when
// unreadable.
func mediaStatus() map[string]any { return call("GET", stream("status"), nil, "").json }

// apiStatus is GET {prefix}/stream/status as a JSON object, failing the
// spec when it is not answered 200 with one.
func apiStatus() map[string]any {
	GinkgoHelper()
	rep := call("GET", stream("status"), nil, "")
	Expect(rep.err).NotTo(HaveOccurred())
	Expect(rep.status).To(Equal(200), "status: %s", rep.body)
	Expect(rep.json).NotTo(BeNil(), "status body %q", rep.body)
	return rep.json
}
