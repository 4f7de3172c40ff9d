package api

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gotrickle/gotrickle/pkg/processor"
)

// metricPrefix starts every metric name the server exports.
const metricPrefix = "gotrickle_"

// handlerBuckets span 0.5 ms to about 1 s: a frame handler at 30 fps has a
// 33 ms budget.
var handlerBuckets = prometheus.ExponentialBuckets(0.0005, 2, 12)

// metrics is the server's Prometheus side: the handler-latency histogram,
// fed through processor.Observer, and a collector that reads the Backend's
// counters and state at scrape time.
type metrics struct {
	handler      *prometheus.HistogramVec
	video, audio prometheus.Observer // pre-bound label values, the hot path
	other        prometheus.Observer
}

var _ processor.Observer = (*metrics)(nil)

func newMetrics(b Backend, cfg Config, log *slog.Logger) *metrics {
	hv := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    metricPrefix + "handler_seconds",
		Help:    "Time one frame-handler call took, by kind (video or audio).",
		Buckets: handlerBuckets,
	}, []string{"kind"})
	if err := cfg.Registerer.Register(hv); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok { //nolint:errorlint // Register returns it unwrapped
			if existing, ok := are.ExistingCollector.(*prometheus.HistogramVec); ok {
				hv = existing
			}
		} else {
			log.Warn("api: registering the handler histogram", "err", err)
		}
	}
	if err := cfg.Registerer.Register(newCollector(b, cfg, log)); err != nil {
		log.Warn("api: registering the stream collector (another Server on this registry?)", "err", err)
	}
	return &metrics{
		handler: hv,
		video:   hv.WithLabelValues("video"),
		audio:   hv.WithLabelValues("audio"),
		other:   hv.WithLabelValues("other"),
	}
}

// ObserveHandler records one handler call. Kinds other than "video" and
// "audio" are counted as "other", keeping the label set bounded.
func (m *metrics) ObserveHandler(kind string, d time.Duration) {
	switch kind {
	case "video":
		m.video.Observe(d.Seconds())
	case "audio":
		m.audio.Observe(d.Seconds())
	default:
		m.other.Observe(d.Seconds())
	}
}

// states are the values of gotrickle_state's label, one series each.
var states = [...]processor.State{
	processor.StateLoading, processor.StateIdle, processor.StateOK, processor.StateError,
}

// collector reads the Backend when Prometheus scrapes. The frame, segment
// and byte totals are those of the current (or last) stream, so they reset
// when a stream starts, which Prometheus treats as a counter reset.
type collector struct {
	b   Backend
	log *slog.Logger

	buildInfo     *prometheus.Desc
	state         *prometheus.Desc
	activeStreams *prometheus.Desc
	fps           *prometheus.Desc
	framesIn      *prometheus.Desc
	framesOut     *prometheus.Desc
	framesSkipped *prometheus.Desc
	framesFailed  *prometheus.Desc
	framesDropped *prometheus.Desc
	segments      *prometheus.Desc
	segmentBytes  *prometheus.Desc
	corrupt       *prometheus.Desc
	encodeErrors  *prometheus.Desc
	segmentsLost  *prometheus.Desc
	eventsDropped *prometheus.Desc
	dataDropped   *prometheus.Desc
	device        *prometheus.Desc
	// The accounting (docs/reliability.md): where every frame and segment
	// ended, by outcome.
	frameOutcomes   *prometheus.Desc
	framesInFlight  *prometheus.Desc
	outputBuffered  *prometheus.Desc
	framesAdded     *prometheus.Desc
	inputSegments   *prometheus.Desc
	outputSegments  *prometheus.Desc
	decodeErrors    *prometheus.Desc
	inputStalls     *prometheus.Desc
	handlerTimeouts *prometheus.Desc
	sideFailed      *prometheus.Desc

	buildLabels [4]string
}

func newCollector(b Backend, cfg Config, log *slog.Logger) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(metricPrefix+name, help, labels, nil)
	}
	return &collector{
		b:   b,
		log: log,
		buildInfo: d("build_info", "Always 1; the labels say what is running.",
			"version", "app_version", "pipeline", "model_id"),
		state:         d("state", "1 for the pipeline state /health reports, 0 for the others.", "state"),
		activeStreams: d("active_streams", "Streams running now (0 or 1).", nil...),
		fps: d("fps", "Frames per second over the last 10 s, where frames cross the wire.",
			"direction", "media"),
		framesIn:      d("frames_in_total", "Frames decoded from the input, by media.", "media"),
		framesOut:     d("frames_out_total", "Frames sent to the encoder, by media.", "media"),
		framesSkipped: d("frames_skipped_total", "Frames left out to keep up (full queue or too late), by media.", "media"),
		framesFailed:  d("frames_failed_total", "Frames whose handler failed (sent unchanged), by media.", "media"),
		framesDropped: d("frames_dropped_total", "Frames a handler dropped (audio: input frames it replaced with nothing).", "media"),
		segments:      d("segments_total", "Trickle media segments received (in) and published (out).", "direction"),
		segmentBytes:  d("segment_bytes_total", "Trickle media segment bytes received (in) and published (out).", "direction"),
		corrupt:       d("corrupt_segments_total", "Input segments the decoder could not read, or read with rejected packets.", nil...),
		encodeErrors:  d("encode_errors_total", "Frames the encoder refused (neither sent nor skipped).", nil...),
		segmentsLost:  d("segments_lost_total", "Output segments the trickle server failed part-way.", nil...),
		eventsDropped: d("events_dropped_total", "Monitoring events dropped because the events queue was full.", nil...),
		dataDropped:   d("data_dropped_total", "Data-channel items dropped because the data queue was full.", nil...),
		device: d("device_frames_total", "The GPU frame path: frames uploaded, downloaded (host pixels on demand), encoded from a device conversion, and failed device operations.",
			"op"),
		frameOutcomes: d("frame_outcomes_total", "Where frames ended, by media and outcome: out (encoded), skipped (queue or lag), dropped (by the handler), lost (encoder, device or a timed-out handler), capped (by the frame-rate cap, before frames_in_total). out+skipped+dropped+lost+in_flight = frames_in_total (+ frames_added_total for audio).",
			"media", "outcome"),
		framesInFlight: d("frames_in_flight", "Frames in the queues and workers now; 0 once a stream has ended.", "media"),
		outputBuffered: d("output_buffered_bytes", "Encoded output waiting for the publish server now, in bytes (bounded by the output buffer); 0 once a stream has ended.", nil...),
		framesAdded:    d("frames_added_total", "Audio frames a handler returned beyond one per input frame.", "media"),
		inputSegments: d("input_segment_outcomes_total", "Input segments by outcome: decoded, corrupt (failed or partly rejected by the decoder, or stalled), lost (seqs never read).",
			"outcome"),
		outputSegments:  d("output_segment_outcomes_total", "Output segments by outcome: sent (accepted whole), lost (failed part-way, refused after the retries, or dropped unsent when the output buffer overflowed or a stop gave up on it).", "outcome"),
		decodeErrors:    d("decode_errors_total", "Input packets and pictures the decoder rejected.", nil...),
		inputStalls:     d("input_stalls_total", "Input segments abandoned after no byte came for the stall timeout.", nil...),
		handlerTimeouts: d("handler_timeouts_total", "Handler calls that overran the handler timeout.", nil...),
		sideFailed:      d("side_channel_failures_total", "Events and data segments the side channels' server did not accept.", "channel"),
		buildLabels:     [4]string{cfg.Version, cfg.AppVersion, cfg.Pipeline, cfg.ModelID},
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.buildInfo, c.state, c.activeStreams, c.fps, c.framesIn, c.framesOut,
		c.framesSkipped, c.framesFailed, c.framesDropped, c.segments, c.segmentBytes,
		c.corrupt, c.encodeErrors, c.segmentsLost, c.eventsDropped, c.dataDropped, c.device,
		c.frameOutcomes, c.framesInFlight, c.outputBuffered, c.framesAdded, c.inputSegments, c.outputSegments,
		c.decodeErrors, c.inputStalls, c.handlerTimeouts, c.sideFailed,
	} {
		ch <- d
	}
}

// Collect runs on a goroutine of the registry's, where a panic would end
// the program, so a panicking Backend is recovered and logged.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("api: metrics collection panicked", "panic", v)
		}
	}()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}

	gauge(c.buildInfo, 1, c.buildLabels[:]...)
	health := c.b.Health()
	for _, s := range states {
		v := 0.0
		if s == health {
			v = 1
		}
		gauge(c.state, v, string(s))
	}

	st := c.b.Status()
	gauge(c.activeStreams, float64(st.ActiveStreams))
	if f := st.FPS; f != nil {
		gauge(c.fps, f.IngressVideo, "in", "video")
		gauge(c.fps, f.IngressAudio, "in", "audio")
		gauge(c.fps, f.EgressVideo, "out", "video")
		gauge(c.fps, f.EgressAudio, "out", "audio")
	}
	var n processor.Counters
	if st.Counters != nil {
		n = *st.Counters
	}
	counter(c.framesIn, n.VideoIn, "video")
	counter(c.framesIn, n.AudioIn, "audio")
	counter(c.framesOut, n.VideoOut, "video")
	counter(c.framesOut, n.AudioOut, "audio")
	counter(c.framesSkipped, n.VideoSkipped, "video")
	counter(c.framesSkipped, n.AudioSkipped, "audio")
	counter(c.framesFailed, n.VideoFailed, "video")
	counter(c.framesFailed, n.AudioFailed, "audio")
	counter(c.framesDropped, n.VideoDropped, "video")
	counter(c.framesDropped, n.AudioDropped, "audio")
	counter(c.segments, n.SegmentsIn, "in")
	counter(c.segments, n.SegmentsOut, "out")
	counter(c.segmentBytes, n.BytesIn, "in")
	counter(c.segmentBytes, n.BytesOut, "out")
	counter(c.corrupt, n.CorruptInput)
	counter(c.encodeErrors, n.EncodeErrors)
	counter(c.segmentsLost, n.SegmentsLost)
	counter(c.eventsDropped, n.EventsDropped)
	counter(c.dataDropped, n.DataDropped)
	counter(c.device, n.DeviceUploads, "upload")
	counter(c.device, n.DeviceDownloads, "download")
	counter(c.device, n.DeviceEncoded, "encode")
	counter(c.device, n.DeviceErrors, "error")
	c.collectAccounting(ch, n)
}

// collectAccounting exports the outcome counters; their sums are the
// in-totals above (docs/reliability.md, "Accounting").
func (c *collector) collectAccounting(ch chan<- prometheus.Metric, n processor.Counters) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, o := range []struct {
		outcome      string
		video, audio uint64
	}{
		{"out", n.VideoOut, n.AudioOut},
		{"skipped", n.VideoSkipped, n.AudioSkipped},
		{"dropped", n.VideoDropped, n.AudioDropped},
		{"lost", n.VideoLost, n.AudioLost},
		{"capped", n.VideoCapped, 0},
	} {
		counter(c.frameOutcomes, o.video, "video", o.outcome)
		counter(c.frameOutcomes, o.audio, "audio", o.outcome)
	}
	ch <- prometheus.MustNewConstMetric(c.framesInFlight, prometheus.GaugeValue, float64(n.VideoInFlight), "video")
	ch <- prometheus.MustNewConstMetric(c.framesInFlight, prometheus.GaugeValue, float64(n.AudioInFlight), "audio")
	ch <- prometheus.MustNewConstMetric(c.outputBuffered, prometheus.GaugeValue, float64(n.OutputBuffered))
	counter(c.framesAdded, n.AudioAdded, "audio")
	counter(c.inputSegments, n.SegmentsIn-min(n.CorruptInput, n.SegmentsIn), "decoded")
	counter(c.inputSegments, n.CorruptInput, "corrupt")
	counter(c.inputSegments, n.InputSegmentsLost, "lost")
	counter(c.outputSegments, n.SegmentsOut, "sent")
	counter(c.outputSegments, n.SegmentsLost, "lost")
	counter(c.decodeErrors, n.DecodeErrors)
	counter(c.inputStalls, n.InputStalls)
	counter(c.handlerTimeouts, n.HandlerTimeouts)
	counter(c.sideFailed, n.EventsFailed, "events")
	counter(c.sideFailed, n.DataFailed, "data")
}
