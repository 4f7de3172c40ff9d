package brokenprocessor

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
)

// paramsErrorsAs500 is the middleware of MutationParamsError500: a POST to
// …/stream/params answered 400 with a "Parameter update failed: " message
// (a validation error) is answered 500 instead, with the same body.
func paramsErrorsAs500(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/stream/params") {
			next.ServeHTTP(w, r)
			return
		}
		rec := &recorder{header: w.Header(), code: http.StatusOK}
		next.ServeHTTP(rec, r)
		code := rec.code
		if code == http.StatusBadRequest && isValidationError(rec.body.Bytes()) {
			code = http.StatusInternalServerError
		}
		w.WriteHeader(code)
		w.Write(rec.body.Bytes())
	})
}

// isValidationError reports whether body is pkg/api's answer to params it
// refused: {"status":"error","message":"Parameter update failed: …"}.
func isValidationError(body []byte) bool {
	var m struct {
		Message string `json:"message"`
	}
	return json.Unmarshal(body, &m) == nil && strings.HasPrefix(m.Message, "Parameter update failed: ")
}

// recorder keeps an answer so that its status can be changed before it is
// sent. Headers go straight to the real writer's map.
type recorder struct {
	header http.Header
	code   int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}
