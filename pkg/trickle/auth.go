package trickle

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
)

// TokenEqual reports whether a presented token equals the expected one.
// Both are hashed first and the digests compared with crypto/subtle, so the
// time taken says nothing about how much of the token was right, nor about
// its length.
func TokenEqual(got, want string) bool {
	g := sha256.Sum256([]byte(got))
	w := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// BearerToken returns the token of an "Authorization: Bearer <token>"
// header (the scheme is matched case-insensitively, RFC 7235); ok is false
// when there is no such header.
func BearerToken(h http.Header) (token string, ok bool) {
	scheme, rest, found := strings.Cut(h.Get("Authorization"), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(rest)
	return token, token != ""
}

// Authorized reports whether r carries a bearer token equal to one of
// tokens. Every candidate is compared, so the time taken does not say
// which one was close.
func Authorized(r *http.Request, tokens ...string) bool {
	got, ok := BearerToken(r.Header)
	if !ok {
		return false
	}
	match := false
	for _, want := range tokens {
		if want != "" && TokenEqual(got, want) {
			match = true
		}
	}
	return match
}

// Challenge sets the WWW-Authenticate header of a 401 answer to r as RFC
// 6750 has it: the realm only when the request had no token,
// error="invalid_token" too when it had a wrong one.
func Challenge(w http.ResponseWriter, r *http.Request, realm string) {
	challenge := `Bearer realm="` + realm + `"`
	if _, ok := BearerToken(r.Header); ok {
		challenge += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
}

// authorize lets a request through the server's tokens, or answers 401 and
// returns false. Writes (POST, DELETE) need PublishToken; reads need
// SubscribeToken or PublishToken (a publisher may read /next). An empty
// token leaves its side open.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	var tokens []string
	switch r.Method {
	case http.MethodPost, http.MethodDelete:
		if s.cfg.PublishToken == "" {
			return true
		}
		tokens = []string{s.cfg.PublishToken}
	default:
		if s.cfg.SubscribeToken == "" {
			return true
		}
		tokens = []string{s.cfg.SubscribeToken, s.cfg.PublishToken}
	}
	if Authorized(r, tokens...) {
		return true
	}
	Challenge(w, r, "trickle")
	textError(w, http.StatusUnauthorized, "a valid bearer token is required")
	return false
}

// TokenTransport is an http.RoundTripper that adds "Authorization: Bearer
// Token" to the requests it sends to Hosts. Give it to a client whose
// trickle URLs come from elsewhere (the processor's Config.HTTPClient, whose
// URLs arrive in start requests) so that the token goes only to the trickle
// server it is meant for.
type TokenTransport struct {
	// Token is the bearer token; empty sends none.
	Token string
	// Hosts are the URL hosts ("host" or "host:port", as written in the
	// URL, compared case-insensitively) that get the token. Empty sends it
	// everywhere, which is only safe when every URL is trusted.
	Hosts []string
	// Base sends the requests. It defaults to http.DefaultTransport.
	Base http.RoundTripper
}

// RoundTrip sends req, with the token when its host is one of Hosts.
func (t *TokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if t.Token == "" || !t.sendsTo(req.URL) {
		return base.RoundTrip(req)
	}
	// A RoundTripper must not change the caller's request.
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+t.Token)
	return base.RoundTrip(r)
}

// CloseIdleConnections passes the call on to Base, so that
// http.Client.CloseIdleConnections still reaches the connections.
func (t *TokenTransport) CloseIdleConnections() { closeIdle(t.Base) }

func (t *TokenTransport) sendsTo(u *url.URL) bool {
	if len(t.Hosts) == 0 {
		return true
	}
	for _, h := range t.Hosts {
		if strings.EqualFold(h, u.Host) {
			return true
		}
	}
	return false
}

// withCredentials returns c, or a copy of it that sends token (as Bearer)
// or else the channel URL's userinfo (as Basic, what net/http does for a
// URL with user:password@) to host only. Publisher and Subscriber take the
// userinfo out of the URLs they request, log and put in errors, so that
// neither the logs nor the errors carry it.
func withCredentials(c *http.Client, host, token string, user *url.Userinfo) *http.Client {
	if token == "" && user == nil {
		return c
	}
	auth := "Bearer " + token
	if token == "" {
		pw, _ := user.Password()
		r := http.Request{Header: http.Header{}}
		r.SetBasicAuth(user.Username(), pw)
		auth = r.Header.Get("Authorization")
	}
	cc := *c
	cc.Transport = &credTransport{base: c.Transport, host: host, auth: auth}
	return &cc
}

// credTransport adds a fixed Authorization header to requests for one host.
type credTransport struct {
	base http.RoundTripper
	host string
	auth string
}

func (t *credTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	if !strings.EqualFold(req.URL.Host, t.host) {
		return base.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", t.auth)
	return base.RoundTrip(r)
}

func (t *credTransport) CloseIdleConnections() { closeIdle(t.base) }

// closeIdle closes the idle connections of rt, or of http.DefaultTransport
// when rt is nil (what a nil Base sends through).
func closeIdle(rt http.RoundTripper) {
	if rt == nil {
		rt = http.DefaultTransport
	}
	if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// hostOf is the host[:port] of a URL channelURL has checked.
func hostOf(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return ""
	}
	return u.Host
}
