package api

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/gotrickle/gotrickle/pkg/processor"
)

// Why a start request's URL was refused; a *URLError wraps one of these.
var (
	// ErrURLInvalid: the URL does not parse, or has no host.
	ErrURLInvalid = errors.New("not a valid URL")
	// ErrURLScheme: the scheme is not http or https.
	ErrURLScheme = errors.New("scheme must be http or https")
	// ErrHostNotAllowed: the host matches no Config.AllowHosts pattern.
	ErrHostNotAllowed = errors.New("host is not in the allow-list")
)

// URLError is a start request URL the server refused before starting the
// processor. It names the field and the host, never the whole URL, which
// may carry credentials.
type URLError struct {
	Field string // "subscribe_url", "publish_url", ...
	Host  string // host[:port] as written, "" when the URL has none
	Err   error  // ErrURLInvalid, ErrURLScheme or ErrHostNotAllowed
}

func (e *URLError) Error() string {
	if e.Host != "" {
		return fmt.Sprintf("%s: host %q: %v", e.Field, e.Host, e.Err)
	}
	return e.Field + ": " + e.Err.Error()
}

func (e *URLError) Unwrap() error { return e.Err }

// hostPattern is one parsed Config.AllowHosts entry: an IP prefix (a CIDR,
// or one address as a full-length prefix), an exact host name, or a
// "*.name" suffix; with a port, only URLs to that port match.
type hostPattern struct {
	prefix netip.Prefix // valid for IP patterns
	name   string       // exact host name, lower case, no trailing dot
	suffix string       // ".name" for "*.name"
	port   string       // "" for any port
}

// ValidateAllowHosts checks Config.AllowHosts patterns, for a caller that
// wants to refuse bad ones up front (New logs and skips them, which only
// narrows the list).
func ValidateAllowHosts(patterns []string) error {
	var errs []error
	for _, p := range patterns {
		if _, err := parseHostPattern(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func parseHostPattern(raw string) (hostPattern, error) {
	bad := func(why string) (hostPattern, error) {
		return hostPattern{}, fmt.Errorf("allow-hosts pattern %q: %s", raw, why)
	}
	p := strings.ToLower(strings.TrimSpace(raw))
	if p == "" {
		return bad("empty")
	}
	if strings.Contains(p, "/") {
		pre, err := netip.ParsePrefix(p)
		if err != nil {
			return bad("not a CIDR: " + err.Error())
		}
		return hostPattern{prefix: pre.Masked()}, nil
	}
	host, port := p, ""
	switch {
	case strings.HasPrefix(p, "["):
		if strings.HasSuffix(p, "]") {
			host = p[1 : len(p)-1]
		} else {
			var err error
			if host, port, err = net.SplitHostPort(p); err != nil {
				return bad(err.Error())
			}
		}
	case strings.Count(p, ":") == 1:
		var err error
		if host, port, err = net.SplitHostPort(p); err != nil {
			return bad(err.Error())
		}
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return bad("port must be 1..65535")
		}
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		if addr.Zone() != "" {
			return bad("IPv6 zones are not supported")
		}
		addr = addr.Unmap()
		return hostPattern{prefix: netip.PrefixFrom(addr, addr.BitLen()), port: port}, nil
	}
	host = strings.TrimSuffix(host, ".")
	wild := strings.HasPrefix(host, "*.")
	name := strings.TrimPrefix(host, "*.")
	if !validHostName(name) {
		return bad(`want a host name, "*.name", an IP address or a CIDR, with an optional :port`)
	}
	if wild {
		return hostPattern{suffix: "." + name, port: port}, nil
	}
	return hostPattern{name: name, port: port}, nil
}

// validHostName accepts dot-separated labels of letters, digits, '-' and
// '_' (lower case by now).
func validHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" {
			return false
		}
		for _, c := range []byte(label) {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}

// hostList is the parsed allow-list. restricted is set whenever
// Config.AllowHosts was given, even if no entry parsed: an allow-list of
// only bad entries allows nothing.
type hostList struct {
	restricted bool
	patterns   []hostPattern
}

func newHostList(patterns []string, warn func(error)) hostList {
	l := hostList{restricted: len(patterns) > 0}
	for _, p := range patterns {
		hp, err := parseHostPattern(p)
		if err != nil {
			warn(err)
			continue
		}
		l.patterns = append(l.patterns, hp)
	}
	return l
}

// allows reports whether a URL's host (as url.URL gives it) and effective
// port match a pattern. Names are compared as written, lower case and
// without a trailing dot; they are not resolved, so an IP pattern matches
// only IP-literal URLs.
func (l hostList) allows(u *url.URL) bool {
	if !l.restricted {
		return true
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	addr, err := netip.ParseAddr(host)
	isIP := err == nil
	if isIP {
		addr = addr.Unmap()
	}
	for _, p := range l.patterns {
		if p.port != "" && p.port != port {
			continue
		}
		switch {
		case p.prefix.IsValid():
			if isIP && p.prefix.Contains(addr) {
				return true
			}
		case isIP:
		case p.name != "":
			if host == p.name {
				return true
			}
		case strings.HasSuffix(host, p.suffix) && len(host) > len(p.suffix):
			return true
		}
	}
	return false
}

// checkStartURLs checks every URL of a start request: each one given must
// be http or https with a host, and match the allow-list if there is one.
// Blank URLs mean the channel is unused and are not checked.
func (s *Server) checkStartURLs(req processor.StartRequest) error {
	for _, f := range [...]struct{ field, raw string }{
		{"subscribe_url", req.SubscribeURL},
		{"publish_url", req.PublishURL},
		{"control_url", req.ControlURL},
		{"events_url", req.EventsURL},
		{"data_url", req.DataURL},
	} {
		if strings.TrimSpace(f.raw) == "" {
			continue
		}
		u, err := url.Parse(f.raw)
		if err != nil {
			return &URLError{Field: f.field, Err: ErrURLInvalid}
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return &URLError{Field: f.field, Host: u.Host, Err: ErrURLScheme}
		}
		if u.Hostname() == "" {
			return &URLError{Field: f.field, Err: ErrURLInvalid}
		}
		if !s.allow.allows(u) {
			return &URLError{Field: f.field, Host: u.Host, Err: ErrHostNotAllowed}
		}
	}
	return nil
}
