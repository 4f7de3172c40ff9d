package api

import (
	"net/http"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// openPaths answer without Config.APIToken: liveness probes and metric
// scrapers rarely carry credentials, and neither route changes anything or
// shows a stream's URLs.
var openPaths = map[string]bool{"/health": true, "/metrics": true}

// authorized lets a request through Config.APIToken, or answers 401 with a
// JSON error and a Bearer challenge and returns false.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.APIToken == "" || openPaths[r.URL.Path] {
		return true
	}
	if trickle.Authorized(r, s.cfg.APIToken) {
		return true
	}
	trickle.Challenge(w, r, "gotrickle")
	s.writeJSON(w, http.StatusUnauthorized, errorBody("401: Unauthorized"))
	return false
}
