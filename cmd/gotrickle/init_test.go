package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/fixtures"
	"github.com/gotrickle/gotrickle/internal/scaffold"
	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/media"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// tmplRepoRoot is the gotrickle checkout these tests run in: the generated
// modules are pointed at it with --gotrickle-replace.
func tmplRepoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scaffold.CheckReplace(root); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestListPrintsEveryTemplateWithItsDescription(t *testing.T) {
	var out bytes.Buffer
	if err := execute(context.Background(), []string{"list"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"passthrough", "colorgrade", "audiofilter", "boxes"} {
		tm, err := scaffold.Lookup(want)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for line := range strings.Lines(out.String()) {
			if f := strings.Fields(line); len(f) > 1 && f[0] == want && strings.Contains(line, tm.Description) {
				found = true
			}
		}
		if !found {
			t.Errorf("list does not show %q with its description:\n%s", want, out.String())
		}
	}
}

func TestInitBadCommandLinesExit2AndWriteNothing(t *testing.T) {
	for _, args := range [][]string{
		{"init"},
		{"init", "a", "b"},
		{"init", ""},
		{"init", "my proc"},
		{"init", "-dash"},
		{"init", "example.com//x"},
		{"init", "trailing/"},
		{"init", "../escape"},
		{"init", "dot."},
		{"init", "myproc", "--template", "nosuch"},
		{"init", "myproc", "--port", "0"},
		{"init", "myproc", "--port", "70000"},
		{"init", "myproc", "--gotrickle-replace", "/nonexistent/checkout"},
		{"init", "myproc", "--bogus"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out := t.TempDir()
			args := append(args, "--out", out)
			if code := run(context.Background(), args); code != 2 {
				t.Fatalf("exit status %d, want 2", code)
			}
			if ents, _ := os.ReadDir(out); len(ents) != 0 {
				t.Fatalf("%d entries written", len(ents))
			}
		})
	}
}

func TestInitWritesTheModule(t *testing.T) {
	root := tmplRepoRoot(t)
	out := t.TempDir()
	var stdout bytes.Buffer
	err := execute(context.Background(), []string{"init", "example.com/me/grader", "-t", "colorgrade", "--port", "9123",
		"--out", out, "--gotrickle-replace", root}, &stdout)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(out, "grader")
	for _, f := range []string{"go.mod", "main.go", "handler.go", "handler_test.go", "README.md", "Makefile", ".gitignore"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	for _, want := range []string{"module example.com/me/grader\n", "require github.com/gotrickle/gotrickle v0.0.0\n",
		"replace github.com/gotrickle/gotrickle => " + filepath.ToSlash(root) + "\n"} {
		if !bytes.Contains(gomod, []byte(want)) {
			t.Errorf("go.mod lacks %q:\n%s", want, gomod)
		}
	}
	main, _ := os.ReadFile(filepath.Join(dir, "main.go"))
	if !bytes.Contains(main, []byte(`"9123"`)) {
		t.Errorf("main.go does not default to port 9123")
	}
	if !strings.Contains(stdout.String(), dir) {
		t.Errorf("output does not name %s:\n%s", dir, stdout.String())
	}
}

func TestInitRefusesANonEmptyDirectoryWithoutForce(t *testing.T) {
	out := t.TempDir()
	dir := filepath.Join(out, "myproc")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(dir, "handler.go")
	if err := os.WriteFile(mine, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"init", "myproc", "--out", out}
	if code := run(context.Background(), args); code == 0 {
		t.Fatal("init into a non-empty directory exited 0")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("the directory holds %d entries after a refused init, want 1", len(ents))
	}
	if b, _ := os.ReadFile(mine); string(b) != "mine" {
		t.Fatal("a refused init changed a file")
	}

	extra := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(extra, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := run(context.Background(), append(args, "--force")); code != 0 {
		t.Fatalf("init --force exited %d", code)
	}
	if b, _ := os.ReadFile(mine); string(b) == "mine" {
		t.Error("init --force did not write handler.go")
	}
	if b, _ := os.ReadFile(extra); string(b) != "keep" {
		t.Error("init --force touched a file it does not generate")
	}
}

// The template test: every template is generated against this checkout,
// built, vetted and unit-tested with the go command, then started and
// given a stream whose output must show the template's effect.
func TestTemplatesBuildAndProcessAStream(t *testing.T) {
	if testing.Short() {
		t.Skip("builds four modules with the go command")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	root := tmplRepoRoot(t)
	ref := tmplDecodeInput(t)
	for _, tc := range []struct {
		template    string
		startParams string // the start request's params, besides the size
		update      string // a /stream/params body sent mid-stream
		check       func(t *testing.T, r *tmplResult)
	}{
		{"passthrough", ``, `{"note": "hello"}`, func(t *testing.T, r *tmplResult) {
			tmplWant(t, r.psnr() >= 30, "passthrough: mean PSNR %.1f dB against the input, want ≥ 30", r.psnr())
			tmplWant(t, r.rmsRatio() > 0.9 && r.rmsRatio() < 1.1, "passthrough: audio RMS %.2f× the input's, want about 1",
				r.rmsRatio())
		}},
		{"colorgrade", `, "intensity": 0.8`, `{"intensity": 0.8}`, func(t *testing.T, r *tmplResult) {
			// Intensity 0.8 scales R, G, B by 0.84, 0.68, 0.52: luma by about 0.71.
			ratio := r.lumaOut / r.lumaIn
			tmplWant(t, ratio > 0.62 && ratio < 0.8, "colorgrade: output luma %.2f× the input's, want about 0.71", ratio)
			tmplWant(t, r.rbOut > r.rbIn*1.2, "colorgrade: red/blue %.2f out, %.2f in: want warmer", r.rbOut, r.rbIn)
		}},
		{"audiofilter", `, "gain": 0.25`, `{"gain": 0.25, "mute": false}`, func(t *testing.T, r *tmplResult) {
			tmplWant(t, r.rmsRatio() > 0.2 && r.rmsRatio() < 0.3, "audiofilter: audio RMS %.2f× the input's, want about 0.25",
				r.rmsRatio())
			tmplWant(t, r.psnr() >= 30, "audiofilter: video PSNR %.1f dB against the input, want ≥ 30 (untouched)", r.psnr())
		}},
		{"boxes", ``, `{"color": "#00ff00"}`, func(t *testing.T, r *tmplResult) {
			in, out := r.outlineIn/float64(r.matched), r.outlineOut/float64(r.matched)
			tmplWant(t, out > 0.9, "boxes: %.0f%% of the outline's pixels are green in the output, want > 90%%", 100*out)
			tmplWant(t, in < 0.5, "boxes: %.0f%% of the outline's pixels are green in the input already", 100*in)
			tmplWant(t, r.psnrInside() >= 30, "boxes: PSNR inside the box %.1f dB, want ≥ 30 (untouched)", r.psnrInside())
		}},
	} {
		t.Run(tc.template, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			dir := tmplGenerate(t, goBin, root, tc.template)
			t.Logf("generated, tidied, vetted, tested and built in %v", time.Since(start).Round(time.Millisecond))
			r := tmplDriveStream(t, filepath.Join(dir, "app"), ref, tc.startParams, tc.update)
			t.Logf("%s: %d of %d frames matched; luma %.1f → %.1f; audio RMS %.4f → %.4f; PSNR %.1f dB",
				tc.template, r.matched, len(ref.frames), r.lumaIn, r.lumaOut, r.rmsIn, r.rmsOut, r.psnr())
			tmplWant(t, r.matched >= len(ref.frames)*2/3, "only %d of the %d input frames came out", r.matched, len(ref.frames))
			tmplWant(t, r.audioOut > 0, "no audio came out")
			tc.check(t, r)
		})
	}
}

func tmplWant(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Errorf(format, args...)
	}
}

// tmplGenerate runs gotrickle init for the template and the go command's
// tidy, vet, test and build on the result, which it returns the directory
// of (the program is "app" in it).
func tmplGenerate(t *testing.T, goBin, root, template string) string {
	out := t.TempDir()
	name := "example.com/tmpl/" + template + "-proc"
	var msg bytes.Buffer
	if err := execute(context.Background(), []string{"init", name, "--template", template, "--out", out,
		"--gotrickle-replace", root}, &msg); err != nil {
		t.Fatalf("gotrickle init: %v (exit status %d)\n%s", err, exitCode(err), msg.String())
	}
	dir := filepath.Join(out, template+"-proc")
	// Offline: everything comes from the module cache the checkout's own
	// build filled, so a missing module fails at once instead of hanging.
	env := append(os.Environ(), "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local")
	for _, args := range [][]string{
		{"mod", "tidy"},
		{"vet", "./..."},
		{"test", "-count=1", "./..."},
		{"build", "-o", "app", "."},
	} {
		cmd := exec.Command(goBin, args...)
		cmd.Dir, cmd.Env = dir, env
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}
	if b, err := exec.Command(filepath.Join(filepath.Dir(goBin), "gofmt"), "-l", dir).CombinedOutput(); err != nil ||
		len(b) > 0 {
		t.Fatalf("gofmt -l: %v\n%s", err, b)
	}
	return dir
}

// tmplInput is the reference: the input fixture decoded as the processor
// sees it.
type tmplInput struct {
	segs   []fixtures.Segment
	frames map[int64]*frame.Video // by PTS, never released
	rms    float64
}

const tmplW, tmplH = 320, 240

func tmplDecodeInput(t *testing.T) *tmplInput {
	t.Helper()
	m, err := fixtures.Load()
	if err != nil {
		t.Fatal(err)
	}
	fx, err := m.Fixture("h264-aac-320x240")
	if err != nil {
		t.Fatal(err)
	}
	in := &tmplInput{frames: map[int64]*frame.Video{}}
	if in.segs, err = fx.Segments(time.Second); err != nil {
		t.Fatal(err)
	}
	dec, err := media.NewDecoder(media.DecoderConfig{Width: tmplW, Height: tmplH, MaxFramerate: media.NoFramerateCap})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var rms tmplRMS
	for _, s := range in.segs {
		rms.newSegment()
		f, err := s.Open()
		if err != nil {
			t.Fatal(err)
		}
		_, err = dec.DecodeSegment(context.Background(), f, media.Handlers{
			Video: func(v *frame.Video) error { in.frames[v.PTS] = v; return nil },
			Audio: func(a *frame.Audio) error { rms.add(a); a.Release(); return nil },
		})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	in.rms = rms.value()
	return in
}

// tmplRMS measures the level of audio decoded segment by segment, leaving
// out the first 200 ms of each segment: every segment gets fresh decoders,
// and an Opus decoder that starts cold, without the packets before, gets
// the level of its first frames wrong (by several dB for quiet audio).
type tmplRMS struct {
	sum     float64
	n       int
	started bool  // a frame of this segment has been seen
	start   int64 // its first frame's PTS
}

// newSegment says that the next frame is the first of a segment.
func (r *tmplRMS) newSegment() { r.started = false }

func (r *tmplRMS) add(a *frame.Audio) {
	if !r.started {
		r.started, r.start = true, a.PTS
	}
	if float64(a.PTS-r.start)*float64(a.TimeBase.Num)/float64(a.TimeBase.Den) < 0.2 {
		return
	}
	for _, ch := range a.Samples {
		for _, s := range ch {
			r.sum += float64(s) * float64(s)
		}
		r.n += len(ch)
	}
}

func (r *tmplRMS) value() float64 {
	if r.n == 0 {
		return 0
	}
	return math.Sqrt(r.sum / float64(r.n))
}

// tmplResult compares the output with the input, frame by frame (matched by
// PTS, which the processor keeps).
type tmplResult struct {
	matched, audioOut int
	mse, mseInside    float64 // summed over matched frames
	lumaIn, lumaOut   float64 // means over matched frames
	rbIn, rbOut       float64 // mean red / mean blue
	rmsIn, rmsOut     float64
	// Green pixels on the boxes template's default outline, as a fraction
	// of those sampled, summed over matched frames.
	outlineIn, outlineOut float64
}

func tmplPSNR(mse float64) float64 {
	if mse == 0 {
		return 99
	}
	return 10 * math.Log10(255*255/mse)
}

func (r *tmplResult) psnr() float64       { return tmplPSNR(r.mse / float64(max(r.matched, 1))) }
func (r *tmplResult) psnrInside() float64 { return tmplPSNR(r.mseInside / float64(max(r.matched, 1))) }
func (r *tmplResult) rmsRatio() float64   { return r.rmsOut / r.rmsIn }

// The boxes template's default box at 320×240 is (80, 60)–(240, 180), its
// outline 4 pixels wide; tmplInside is well inside it.
var tmplInside = struct{ x0, y0, x1, y1 int }{96, 76, 224, 164}

// compare adds one output frame and the input frame it came from.
func (r *tmplResult) compare(in, out *frame.Video) {
	r.matched++
	var sq, sqIn float64
	var nIn int
	var lIn, lOut, rIn, rOut, bIn, bOut float64
	for y := range tmplH {
		for x := range tmplW {
			a, b := in.RGBAt(x, y), out.RGBAt(x, y)
			d := (float64(a.R)-float64(b.R))*(float64(a.R)-float64(b.R)) +
				(float64(a.G)-float64(b.G))*(float64(a.G)-float64(b.G)) +
				(float64(a.B)-float64(b.B))*(float64(a.B)-float64(b.B))
			sq += d
			if x >= tmplInside.x0 && x < tmplInside.x1 && y >= tmplInside.y0 && y < tmplInside.y1 {
				sqIn += d
				nIn++
			}
			lIn += 0.299*float64(a.R) + 0.587*float64(a.G) + 0.114*float64(a.B)
			lOut += 0.299*float64(b.R) + 0.587*float64(b.G) + 0.114*float64(b.B)
			rIn, rOut, bIn, bOut = rIn+float64(a.R), rOut+float64(b.R), bIn+float64(a.B), bOut+float64(b.B)
		}
	}
	n := float64(tmplW * tmplH)
	r.mse += sq / (3 * n)
	r.mseInside += sqIn / (3 * float64(nIn))
	k := float64(r.matched)
	r.lumaIn += (lIn/n - r.lumaIn) / k
	r.lumaOut += (lOut/n - r.lumaOut) / k
	r.rbIn += (rIn/max(bIn, 1) - r.rbIn) / k
	r.rbOut += (rOut/max(bOut, 1) - r.rbOut) / k

	// The middle line of each side of the outline (rows 61-62 and 177-178,
	// columns 81-82 and 237-238), away from the corners.
	green := func(c frame.RGB) bool { return c.G > 180 && c.R < 90 && c.B < 90 }
	var gIn, gOut, total int
	sample := func(x, y int) {
		total++
		if green(in.RGBAt(x, y)) {
			gIn++
		}
		if green(out.RGBAt(x, y)) {
			gOut++
		}
	}
	for x := 88; x < 232; x += 2 {
		sample(x, 61)
		sample(x, 178)
	}
	for y := 68; y < 172; y += 2 {
		sample(81, y)
		sample(238, y)
	}
	r.outlineIn += float64(gIn) / float64(total)
	r.outlineOut += float64(gOut) / float64(total)
}

// tmplLineWriter passes what a program prints to w and reports its first
// line.
type tmplLineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	first chan string
	sent  bool
}

func (w *tmplLineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if line, _, ok := strings.Cut(w.buf.String(), "\n"); ok && !w.sent {
		w.sent = true
		w.first <- line
	}
	return len(p), nil
}

func (w *tmplLineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// tmplDriveStream starts the program, streams the fixture through it over
// an in-process trickle server and compares what comes out with ref.
func tmplDriveStream(t *testing.T, bin string, ref *tmplInput, startParams, update string) *tmplResult {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv := trickle.NewServer(trickle.ServerConfig{Logger: quietLogger()})
	hs := httptest.NewServer(srv)
	defer func() { srv.Close(); hs.Close() }()
	for _, ch := range []string{"in", "out"} {
		if err := srv.CreateChannel(ch, trickle.ContentTypeMPEGTS); err != nil {
			t.Fatal(err)
		}
	}

	stdout := &tmplLineWriter{first: make(chan string, 1)}
	var stderr tmplLineWriter
	stderr.first = make(chan string, 1)
	cmd := exec.Command(bin, "-host", "127.0.0.1", "-port", "0", "-log-level", "warn")
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("the program's log:\n%s", stderr.String())
		}
	}()
	var api string
	select {
	case line := <-stdout.first:
		u, ok := strings.CutPrefix(line, "listening ")
		if !ok {
			t.Fatalf("first line %q", line)
		}
		api = u
	case err := <-exited:
		stopped = true
		t.Fatalf("the program exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the program did not print its address")
	}

	client := &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}
	defer client.CloseIdleConnections()
	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		return callJSON(t, ctx, client, api+path, method, body)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, h := call("GET", "/health", ""); h["status"] == "IDLE" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("health never became IDLE: %v", h)
		}
	}

	// Read and judge the output as it comes, until the stream ends.
	r := &tmplResult{rmsIn: ref.rms}
	readDone := make(chan error, 1)
	go func() { readDone <- tmplReadOutput(ctx, hs.URL+"/out", ref, r) }()

	code, body := call("POST", "/stream/start", fmt.Sprintf(`{"subscribe_url": %q, "publish_url": %q,
		"gateway_request_id": "template-test", "params": {"width": %d, "height": %d, "max_framerate": 30%s}}`,
		hs.URL+"/in", hs.URL+"/out", tmplW, tmplH, startParams))
	if code != 200 {
		t.Fatalf("start: %d %v", code, body)
	}
	pub, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: hs.URL + "/in", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range ref.segs {
		b, err := s.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		w, err := pub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if code, body := call("POST", "/stream/params", update); code != 200 {
				t.Errorf("params %s: %d %v", update, code, body)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := pub.Close(ctx); err != nil { // the end of the input: the stream ends
		t.Errorf("closing the input: %v", err)
	}
	select {
	case err := <-readDone:
		if err != nil {
			t.Errorf("reading the output: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the output did not end")
	}
	// The stream ends a moment after its output does.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, h := call("GET", "/health", ""); h["status"] == "IDLE" {
			break
		} else if time.Now().After(deadline) {
			t.Errorf("health after the stream ended: %v, want IDLE", h)
			break
		}
	}
	client.CloseIdleConnections()

	cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("after SIGINT the program exited with %v, want 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("the program did not exit on SIGINT")
	}
	return r
}

// tmplReadOutput decodes the output channel from its first segment until
// the stream ends, comparing each frame with the input frame of its PTS.
func tmplReadOutput(ctx context.Context, url string, ref *tmplInput, r *tmplResult) error {
	sub, err := trickle.NewSubscriber(trickle.SubscriberConfig{URL: url, Start: trickle.StartAt(0), Logger: quietLogger()})
	if err != nil {
		return err
	}
	defer sub.Close()
	dec, err := media.NewDecoder(media.DecoderConfig{Width: tmplW, Height: tmplH, MaxFramerate: media.NoFramerateCap})
	if err != nil {
		return err
	}
	defer dec.Close()
	var rms tmplRMS
	defer func() { r.rmsOut = rms.value() }()
	for {
		seg, err := sub.Next(ctx)
		if errors.Is(err, trickle.ErrStreamClosed) {
			return nil
		} else if err != nil {
			return err
		}
		rms.newSegment()
		_, err = dec.DecodeSegment(ctx, seg, media.Handlers{
			Video: func(v *frame.Video) error {
				defer v.Release()
				if v.Width != tmplW || v.Height != tmplH {
					return fmt.Errorf("an output frame is %d×%d", v.Width, v.Height)
				}
				if in := ref.frames[v.PTS]; in != nil {
					r.compare(in, v)
				}
				return nil
			},
			Audio: func(a *frame.Audio) error { r.audioOut++; rms.add(a); a.Release(); return nil },
		})
		io.Copy(io.Discard, seg)
		seg.Close()
		if err != nil {
			return err
		}
	}
}
