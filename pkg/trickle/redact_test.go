package trickle

import (
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"a plain URL is kept", "http://host:3389/ai/trickle/ch", "http://host:3389/ai/trickle/ch"},
		{"a password is replaced with the user", "http://user:pw@host/ch", "http://REDACTED@host/ch"},
		{"a user name alone is replaced (it may be a token)", "https://tok3n@host/ch", "https://REDACTED@host/ch"},
		{"query values are replaced, keys kept", "http://host/ch?token=abc&a=1", "http://host/ch?a=REDACTED&token=REDACTED"},
		{"an unparsable query is replaced whole", "http://host/ch?a=%zz", "http://host/ch?REDACTED"},
		{"the fragment is dropped", "http://host/ch#secret", "http://host/ch"},
		{"an opaque URL is replaced", "http:user:pw@host", "http:REDACTED"},
		{"text that is not a URL is replaced whole", "http://user:pw@host/%zz", "[invalid URL]"},
		{"empty stays empty", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := RedactURL(c.in)
			if got != c.want {
				t.Fatalf("RedactURL(%q) = %q, want %q", c.in, got, c.want)
			}
			for _, secret := range []string{"pw", "tok3n", "abc", "secret"} {
				if strings.Contains(got, secret) {
					t.Fatalf("%q still holds %q", got, secret)
				}
			}
		})
	}
}
