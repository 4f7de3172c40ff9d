package statuspage

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"path"
	"time"
)

// static holds the page: index.html, and the assets served under /ui/.
//
//go:embed static
var static embed.FS

// contentTypes of the assets, by extension.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// csp keeps the page to its own scripts, styles and connections; previews
// are blob: URLs.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; " +
	"connect-src 'self' ws: wss:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// serveAsset answers with the embedded file name (a plain file name: no
// folders, nothing hidden), or 404.
func serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	ctype, ok := contentTypes[path.Ext(name)]
	if !ok || name != path.Base(name) || name[0] == '.' {
		http.NotFound(w, r)
		return
	}
	b, err := fs.ReadFile(static, "static/"+name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", csp)
	h.Set("Referrer-Policy", "no-referrer")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}
