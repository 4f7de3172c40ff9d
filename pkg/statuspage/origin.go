package statuspage

import (
	"net/url"
	"strings"
)

// originAllowed is the websocket's origin check: no Origin header (not a
// browser: browsers always send one on a websocket), an origin whose host
// is the request's Host (the page's own), or an origin on the allow-list
// ("*" allowing any). Anything else, including an Origin that does not
// parse, is refused: another site's page must not read the status nor
// drive the processor through a visitor's browser.
func originAllowed(origin, host string, allowed []string) bool {
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, host) {
		return true
	}
	for _, a := range allowed {
		if a == "*" || strings.EqualFold(strings.TrimRight(a, "/"), origin) {
			return true
		}
	}
	return false
}
