package statuspage

import (
	"log/slog"
	"strings"
	"time"
)

// Config configures a Page. The zero value is a working page for an API
// without a route prefix; every zero field means the default documented
// on it.
type Config struct {
	// RoutePrefix is the API's route prefix (api.Config.RoutePrefix): the
	// params form posts to RoutePrefix + "/stream/params". It defaults to
	// "", and is normalized as pkg/api does (trailing slashes trimmed, a
	// leading slash added).
	RoutePrefix string
	// AllowedOrigins lists the origins ("https://dash.example.com", scheme
	// and host as a browser sends them in the Origin header) allowed to open
	// the websocket besides the page's own host; "*" allows any. It
	// defaults to none: same-host origins only. A request without an
	// Origin header (not from a browser) is always allowed.
	AllowedOrigins []string
	// SnapshotInterval is how often state, params, rates, latency and
	// counters are pushed. It defaults to 500 ms.
	SnapshotInterval time.Duration
	// PreviewInterval is the least time between two preview frames. It
	// defaults to 500 ms (2 fps); a negative value turns previews off.
	PreviewInterval time.Duration
	// PreviewSize bounds the longer side of the preview in pixels (frames
	// are downscaled, never upscaled). It defaults to 320.
	PreviewSize int
	// PreviewQuality is the preview's JPEG quality, 1 to 100. It defaults
	// to 60.
	PreviewQuality int
	// RecentEvents is how many of the latest events the page keeps and
	// sends to a browser when it connects. It defaults to 50.
	RecentEvents int
	// SendQueue is how many event messages may wait for one browser; when
	// it is full the oldest is dropped (and the page told how many). It
	// defaults to 64. Snapshots and previews do not queue: only the newest
	// of each waits.
	SendQueue int
	// MaxClients is how many browsers may be connected at once; more get
	// 503. It defaults to 16.
	MaxClients int
	// WriteTimeout bounds each websocket write: a browser that cannot take
	// a message in that time is disconnected. It defaults to 5 s.
	WriteTimeout time.Duration
	// PingInterval is how often a ping is sent; a browser that answers
	// nothing (no pong, no message) for PingInterval + WriteTimeout is
	// disconnected. It defaults to 15 s.
	PingInterval time.Duration
	// Title is shown in the page's title and header. It defaults to
	// "gotrickle".
	Title string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	c.RoutePrefix = strings.TrimRight(c.RoutePrefix, "/")
	if c.RoutePrefix != "" && !strings.HasPrefix(c.RoutePrefix, "/") {
		c.RoutePrefix = "/" + c.RoutePrefix
	}
	if c.SnapshotInterval <= 0 {
		c.SnapshotInterval = 500 * time.Millisecond
	}
	if c.PreviewInterval == 0 {
		c.PreviewInterval = 500 * time.Millisecond
	}
	if c.PreviewSize <= 0 {
		c.PreviewSize = 320
	}
	if c.PreviewQuality <= 0 || c.PreviewQuality > 100 {
		c.PreviewQuality = 60
	}
	if c.RecentEvents <= 0 {
		c.RecentEvents = 50
	}
	if c.SendQueue <= 0 {
		c.SendQueue = 64
	}
	if c.MaxClients <= 0 {
		c.MaxClients = 16
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 5 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 15 * time.Second
	}
	if c.Title == "" {
		c.Title = "gotrickle"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
