package trickle

import (
	"net/url"
)

// Redacted stands in for the secret parts of a URL in logs and errors.
const Redacted = "REDACTED"

// RedactURL returns raw fit for a log line or an error message: the
// userinfo (user:password@, where a token in the user name is as secret as
// a password) and every query value are replaced by Redacted, and the
// fragment is dropped. Scheme, host, path and query keys stay, so the line
// still says where a request went. Text that does not parse as a URL is
// replaced whole, since nothing in it can be told apart from a secret.
//
// Paths are kept: trickle channel names are often random session ids that
// work as capabilities, and logs that cannot name the channel are of
// little use. Keep logs that hold them as private as the channels.
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "[invalid URL]"
	}
	if u.User != nil {
		u.User = url.User(Redacted)
	}
	if u.Opaque != "" {
		// "http:user:pass@host" parses as an opaque URL; its text is
		// whatever the writer meant it to be.
		u.Opaque = Redacted
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			u.RawQuery = Redacted
		} else {
			for k := range q {
				q[k] = []string{Redacted}
			}
			u.RawQuery = q.Encode()
		}
	}
	u.ForceQuery = false
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}
