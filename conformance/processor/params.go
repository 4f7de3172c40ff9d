package processor

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/gotrickle/gotrickle/conformance/harness"
)

// Parameter validation (§7.2) on start and /stream/params, and the refusals
// of /stream/params (§7.4).

// The messages of PyTrickle's rules, word for word.
const (
	paramsMsgDimsTogether = "Both 'width' and 'height' must be provided together"
	paramsMsgDimsInvalid  = "Width and height must be valid integers or integer strings"
	paramsMsgFPSInvalid   = "max_framerate must be a valid integer"
	paramsMsgFPSNegative  = "max_framerate must be a positive integer"
	paramsMsgFPSTooHigh   = "max_framerate cannot exceed 60 FPS"
	paramsMsgDetectOutRes = "detect_out_resolution must be a boolean value"
)

// paramsInvalid are params that break a rule, with the rule's message.
var paramsInvalid = []struct {
	name   string
	params map[string]any
	msg    string
}{
	{"width without height", map[string]any{"width": 320}, paramsMsgDimsTogether},
	{"height without width", map[string]any{"height": 240}, paramsMsgDimsTogether},
	{`width "1920.0"`, map[string]any{"width": "1920.0", "height": 240}, paramsMsgDimsInvalid},
	{`width "abc"`, map[string]any{"width": "abc", "height": 240}, paramsMsgDimsInvalid},
	{"width null", map[string]any{"width": nil, "height": 240}, paramsMsgDimsInvalid},
	{"height an object", map[string]any{"width": 320, "height": map[string]any{}}, paramsMsgDimsInvalid},
	{"height an array", map[string]any{"width": 320, "height": []any{240}}, paramsMsgDimsInvalid},
	{"width 0", map[string]any{"width": 0, "height": 240}, paramsMsgDimsInvalid},
	{"height -5", map[string]any{"width": 320, "height": -5}, paramsMsgDimsInvalid},
	{`height "0"`, map[string]any{"width": 320, "height": "0"}, paramsMsgDimsInvalid},
	{"width false", map[string]any{"width": false, "height": 240}, paramsMsgDimsInvalid},
	{`max_framerate "fast"`, map[string]any{"max_framerate": "fast"}, paramsMsgFPSInvalid},
	{`max_framerate "30.0"`, map[string]any{"max_framerate": "30.0"}, paramsMsgFPSInvalid},
	{"max_framerate null", map[string]any{"max_framerate": nil}, paramsMsgFPSInvalid},
	{"max_framerate an array", map[string]any{"max_framerate": []any{30}}, paramsMsgFPSInvalid},
	{"max_framerate 0", map[string]any{"max_framerate": 0}, paramsMsgFPSNegative},
	{"max_framerate -1", map[string]any{"max_framerate": -1}, paramsMsgFPSNegative},
	{"max_framerate 0.5", map[string]any{"max_framerate": 0.5}, paramsMsgFPSNegative},
	{"max_framerate 61", map[string]any{"max_framerate": 61}, paramsMsgFPSTooHigh},
	{"max_framerate 120", map[string]any{"max_framerate": 120}, paramsMsgFPSTooHigh},
	{`max_framerate "61"`, map[string]any{"max_framerate": "61"}, paramsMsgFPSTooHigh},
	{`detect_out_resolution "maybe"`, map[string]any{"detect_out_resolution": "maybe"}, paramsMsgDetectOutRes},
	{`detect_out_resolution ""`, map[string]any{"detect_out_resolution": ""}, paramsMsgDetectOutRes},
	{"detect_out_resolution 1.5", map[string]any{"detect_out_resolution": 1.5}, paramsMsgDetectOutRes},
	{"detect_out_resolution null", map[string]any{"detect_out_resolution": nil}, paramsMsgDetectOutRes},
	{"detect_out_resolution an array", map[string]any{"detect_out_resolution": []any{true}}, paramsMsgDetectOutRes},
	{"detect_out_resolution an object", map[string]any{"detect_out_resolution": map[string]any{}}, paramsMsgDetectOutRes},
}

// paramsEntries makes one table entry per invalid case.
func paramsEntries() []TableEntry {
	var es []TableEntry
	for _, c := range paramsInvalid {
		es = append(es, Entry(c.name, c.params, c.msg))
	}
	return es
}

// paramsBadBodies are /stream/params bodies that are not a JSON object, or
// not sent as JSON: the message each must contain after the prefix ("" for
// any).
var paramsBadBodies = []TableEntry{
	Entry("text/plain", `{"prompt":"x"}`, "text/plain", "Unknown content type: text/plain"),
	Entry("not JSON", `{"prompt":`, "", ""),
	Entry("an array", `[{"prompt":"x"}]`, "", ""),
	Entry("a string", `"x"`, "", ""),
	Entry("a number", `5`, "", ""),
	Entry("null", `null`, "", ""),
}

// paramsAccepted posts each update (marked with a "case" key) to a running
// stream, expects 200 for each, and returns the params of the
// params_updated event of each case (nil when none came).
func paramsAccepted(ctx context.Context, updates []map[string]any) []map[string]any {
	GinkgoHelper()
	r := newRun()
	r.start(nil)
	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	evs := r.readEvents(ectx)
	for i, u := range updates {
		body := map[string]any{"case": i}
		for k, v := range u {
			body[k] = v
		}
		rep := postJSON(stream("params"), body)
		Expect(rep.status).To(Equal(200), "params %v: %s", u, rep.body)
		Expect(rep.json).To(Equal(map[string]any{"status": "success", "message": "Parameters updated successfully"}))
	}
	time.Sleep(cfg.reaction)
	cancel()
	got := make([]map[string]any, len(updates))
	for _, e := range <-evs {
		if e.Event["type"] != "params_updated" {
			continue
		}
		p, _ := e.Event["params"].(map[string]any)
		if c, ok := p["case"].(float64); ok && int(c) < len(got) {
			got[int(c)] = p
		}
	}
	return got
}

var _ = specs.Describe("Parameter validation", func() {
	DescribeTable("refuses a start whose params break a rule",
		harness.Req("PROC-022", harness.Must, harness.API),
		func(params map[string]any, msg string) {
			r := newRun()
			rep := postJSON(stream("start"), r.request(params))
			got := apiExpectError(rep, 400, "Error starting stream: ")
			Expect(got).To(ContainSubstring(msg))
			apiExpectState(rep.json["current_state"], "IDLE")
			Expect(health()).To(Equal("IDLE"))
		},
		paramsEntries(),
	)

	It("converts width and height like Python's int()", harness.Req("PROC-027", harness.Must, harness.API), func(ctx SpecContext) {
		cases := []struct {
			in   map[string]any
			w, h float64
		}{
			{map[string]any{"width": "320", "height": 240.0}, 320, 240},
			{map[string]any{"width": 1920.7, "height": 1080}, 1920, 1080},
			{map[string]any{"width": true, "height": true}, 1, 1},
			{map[string]any{"width": " 640 ", "height": "+480"}, 640, 480},
		}
		var updates []map[string]any
		for _, c := range cases {
			updates = append(updates, c.in)
		}
		got := paramsAccepted(ctx, updates)
		for i, c := range cases {
			Expect(got[i]).NotTo(BeNil(), "no params_updated event for %v", c.in)
			Expect(got[i]["width"]).To(Equal(c.w), "width of %v", c.in)
			Expect(got[i]["height"]).To(Equal(c.h), "height of %v", c.in)
		}
	})

	It("scales the output to width and height given as a string and a float", harness.Req("PROC-027", harness.Must, harness.API), func(ctx SpecContext) {
		needFeature("passthrough")
		_, segs := fixture("h264-aac-854x480")
		r := newRun()
		r.start(map[string]any{"width": "320", "height": 240.0})
		octx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		out := r.readOutput(octx)
		Expect(<-r.publish(octx, segs[:2], 300*time.Millisecond, true)).To(Succeed())
		o := <-out
		Expect(o.frames).NotTo(BeEmpty(), "no output (ended: %v)", o.ended)
		for _, f := range o.frames {
			Expect([2]int{f.w, f.h}).To(Equal([2]int{320, 240}))
		}
	})

	It("converts and accepts max_framerate from 1 to 60", harness.Req("PROC-028", harness.Must, harness.API), func(ctx SpecContext) {
		in := []any{1, 15, 30, 60, "30", 30.9}
		want := []float64{1, 15, 30, 60, 30, 30}
		var updates []map[string]any
		for _, v := range in {
			updates = append(updates, map[string]any{"max_framerate": v})
		}
		got := paramsAccepted(ctx, updates)
		for i := range in {
			Expect(got[i]).NotTo(BeNil(), "no params_updated event for max_framerate %v", in[i])
			Expect(got[i]["max_framerate"]).To(Equal(want[i]), "max_framerate %#v", in[i])
		}
	})

	It("converts and accepts detect_out_resolution", harness.Req("PROC-029", harness.Must, harness.API), func(ctx SpecContext) {
		in := []any{true, false, "TRUE", "Yes", "1", "0", "No", "fAlSe", 1, 0, 7}
		want := []bool{true, false, true, true, true, false, false, false, true, false, true}
		var updates []map[string]any
		for _, v := range in {
			updates = append(updates, map[string]any{"detect_out_resolution": v})
		}
		got := paramsAccepted(ctx, updates)
		for i := range in {
			Expect(got[i]).NotTo(BeNil(), "no params_updated event for detect_out_resolution %#v", in[i])
			Expect(got[i]["detect_out_resolution"]).To(Equal(want[i]), "detect_out_resolution %#v", in[i])
		}
	})

	It("passes every other key unchanged", harness.Req("PROC-030", harness.Must, harness.API), func(ctx SpecContext) {
		body := map[string]any{"prompt": "x", "nested": map[string]any{"a": []any{1.0, map[string]any{"b": nil}}},
			"list": []any{"s", 2.5, false}, "none": nil, "load": "it"}
		got := paramsAccepted(ctx, []map[string]any{body})
		Expect(got[0]).NotTo(BeNil(), "no params_updated event")
		want := map[string]any{"case": 0.0}
		for k, v := range body {
			want[k] = v
		}
		Expect(got[0]).To(Equal(want))
	})
})

var _ = specs.Describe("Updating parameters", func() {
	It("answers params without a stream 400", harness.Req("PROC-036", harness.Must, harness.API), func(ctx SpecContext) {
		rep := postJSON(stream("params"), map[string]any{"prompt": "x"})
		apiExpectError(rep, 400, "")
		Expect(rep.json).To(Equal(map[string]any{"status": "error", "message": "No active stream to update"}))
		Expect(health()).To(Equal("IDLE"))
	})

	DescribeTable("refuses params that break a rule, without a stream",
		harness.Req("PROC-037", harness.Must, harness.API),
		func(params map[string]any, msg string) {
			rep := postJSON(stream("params"), params)
			Expect(rep.status).To(BeNumerically(">=", 400), "body %s", rep.body)
			got := apiExpectError(rep, rep.status, "Parameter update failed: ")
			Expect(got).To(ContainSubstring(msg))
			Expect(health()).To(Equal("IDLE"))
		},
		paramsEntries(),
	)

	DescribeTable("refuses params bodies that are not a JSON object",
		harness.Req("PROC-037", harness.Must, harness.API),
		func(body, ct, msg string) {
			rep := call("POST", stream("params"), []byte(body), ct)
			Expect(rep.status).To(BeNumerically(">=", 400), "body %s", rep.body)
			got := apiExpectError(rep, rep.status, "Parameter update failed: ")
			Expect(got).To(ContainSubstring(msg))
			Expect(health()).To(Equal("IDLE"))
		},
		paramsBadBodies,
	)

	It("refuses bad params during a stream and leaves it alone", harness.Req("PROC-037", harness.Must, harness.API), func(ctx SpecContext) {
		r := newRun()
		r.start(nil)
		for _, c := range paramsInvalid {
			rep := postJSON(stream("params"), c.params)
			Expect(rep.status).To(BeNumerically(">=", 400), "%s: %s", c.name, rep.body)
			got := apiExpectError(rep, rep.status, "Parameter update failed: ")
			Expect(got).To(ContainSubstring(c.msg), c.name)
		}
		rep := call("POST", stream("params"), []byte(`{"prompt":"x"}`), "text/plain")
		got := apiExpectError(rep, rep.status, "Parameter update failed: ")
		Expect(got).To(ContainSubstring("Unknown content type: text/plain"))
		rep = call("POST", stream("params"), []byte(`[1]`), "")
		apiExpectError(rep, rep.status, "Parameter update failed: ")
		Expect(health()).To(Equal("OK"))
		st := apiExpectState(apiStatus(), "OK")
		Expect(st).To(HaveKeyWithValue("client_running", true))
		Expect(st["current_params"]).To(HaveKeyWithValue("gateway_request_id", r.id))
	})

	It("answers a valid update 200 once the updater has it", harness.Req("PROC-038", harness.Must, harness.API), func(ctx SpecContext) {
		r := newRun()
		r.start(nil)
		rep := postJSON(stream("params"), map[string]any{"prompt": "a cat", "max_framerate": 20})
		Expect(rep.status).To(Equal(200), "params: %s", rep.body)
		Expect(rep.json).To(Equal(map[string]any{"status": "success", "message": "Parameters updated successfully"}))
		Expect(health()).To(Equal("OK"))
	})

	DescribeTable("answers refused params 400",
		harness.Req("PROC-039", harness.Should, harness.API),
		func(params map[string]any, msg string) {
			rep := postJSON(stream("params"), params)
			apiExpectError(rep, 400, "Parameter update failed: ")
		},
		paramsEntries(),
	)

	DescribeTable("answers params bodies that are not a JSON object 400",
		harness.Req("PROC-039", harness.Should, harness.API),
		func(body, ct, msg string) {
			rep := call("POST", stream("params"), []byte(body), ct)
			apiExpectError(rep, 400, "Parameter update failed: ")
		},
		paramsBadBodies,
	)

	It("changes the cap of the running stream", harness.Req("PROC-041", harness.Must, harness.Timing), func(ctx SpecContext) {
		_, segs := fixture("h264-aac-320x240")
		r := newRun()
		r.start(map[string]any{"max_framerate": 30})
		octx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		out := r.readOutput(octx)
		pub := r.publish(octx, segs, time.Second, true)
		// Segment 0 is posted 0.3 s after publish starts, segment 1 at 1.3 s.
		time.Sleep(800 * time.Millisecond)
		rep := postJSON(stream("params"), map[string]any{"max_framerate": 10})
		Expect(rep.status).To(Equal(200), "params: %s", rep.body)
		Expect(<-pub).To(Succeed())
		o := <-out
		// Input from segment 3 on arrived at least 2 s after the update.
		for i := 3; i < len(segs); i++ {
			lo, hi := segs[i].FirstPTS.Ticks, int64(1<<62)
			if i+1 < len(segs) {
				hi = segs[i+1].FirstPTS.Ticks
			}
			n := 0
			for _, f := range o.frames {
				if f.pts >= lo && f.pts < hi {
					n++
				}
			}
			Expect(float64(n)/segs[i].DurationSeconds).To(BeNumerically("~", 10, 1),
				"output frames in input segment %d (%.2f s): %d (ended: %v)", i, segs[i].DurationSeconds, n, o.ended)
		}
	})
})
