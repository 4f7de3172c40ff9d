// Package statuspage is the processor's live web status page: an
// http.Handler that serves a single page at "/" (embedded HTML, CSS and
// hand-written JavaScript, no CDN) and pushes what the page shows over a
// websocket at "/ws": the pipeline state, the current parameters (an
// editable form that posts to {prefix}/stream/params), ingress and egress
// frame rates and the processing latency as live charts, the counters, the
// recent monitoring events and a low-rate JPEG preview of the latest output
// frame.
//
// A Page reads a Source (a *processor.Processor) for its snapshots and is
// itself a processor.Observer (also an EventObserver and an
// OutputObserver): give it to Processor.SetObserver, through
// processor.Observers when there are other observers. The observer methods
// never block the pipeline: events are encoded and handed to the page's
// goroutine through a bounded queue, and an output frame is touched only
// when a preview is due (at most every Config.PreviewInterval, and only
// while a browser is connected), downscaled into a buffer of the page's
// own and JPEG-encoded off the pipeline.
//
// Every browser gets its own bounded send queue: snapshots and previews
// are coalesced (only the newest waits), events wait in a queue that drops
// the oldest when full, and a client that cannot take a message within
// Config.WriteTimeout is disconnected. A slow browser therefore never
// slows the pipeline nor the other browsers. Websocket upgrades are
// accepted from the page's own host (and Config.AllowedOrigins) only.
//
// pkg/api routes "/", "/ws" and "/ui/..." to a Page set as its
// Config.StatusPage. The package is pure Go and builds with CGO_ENABLED=0.
package statuspage
