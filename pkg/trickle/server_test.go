package trickle

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newTestServer starts a Server behind an httptest.Server on loopback.
func newTestServer(t *testing.T, cfg ServerConfig) (*Server, string) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = discardLogger()
	}
	srv := NewServer(cfg)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	return srv, hs.URL
}

func do(t *testing.T, method, url string, body io.Reader, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestServerAnswersBadRequestsWithClearStatuses(t *testing.T) {
	_, base := newTestServer(t, ServerConfig{Autocreate: true})
	do(t, "POST", base+"/ch", nil)
	long := strings.Repeat("a", MaxChannelNameLen+1)
	cases := []struct {
		name, method, path string
		want               int
	}{
		{"a seq that is not a number is refused", "GET", "/ch/abc", 400},
		{"a seq that overflows int64 is refused", "GET", "/ch/99999999999999999999", 400},
		{"a seq past MaxSeq is refused", "GET", "/ch/9007199254740992", 400},
		{"negative seqs other than -1 and -2 are refused on GET", "GET", "/ch/-3", 400},
		{"-5 is refused on GET (go-livepeer answers 470)", "GET", "/ch/-5", 400},
		{"-2 is refused on POST", "POST", "/ch/-2", 400},
		{"negative seqs are refused on DELETE", "DELETE", "/ch/-1", 400},
		{"a channel named .. is refused", "GET", "/../0", 400},
		{"a percent-encoded NUL in a name is refused", "GET", "/a%00b/0", 400},
		{"a name over 256 bytes is refused", "POST", "/" + long, 400},
		{"PUT on a segment path is not allowed", "PUT", "/ch/0", 405},
		{"GET on a channel path is not allowed", "GET", "/ch", 405},
		{"a deeper path is not found", "GET", "/ch/0/x", 404},
		{"an unknown channel is not found", "GET", "/nope/0", 404},
		{"deleting an unknown channel is not found", "DELETE", "/nope", 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := do(t, c.method, base+c.path, nil)
			if resp.StatusCode != c.want {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, c.want, body)
			}
			if strings.TrimSpace(body) == "" {
				t.Fatalf("error answer has no text body")
			}
		})
	}
	t.Run("405 answers list the allowed methods", func(t *testing.T) {
		resp, _ := do(t, "PUT", base+"/ch/0", nil)
		if got := resp.Header.Get("Allow"); got != "DELETE, GET, HEAD, POST" {
			t.Fatalf("Allow %q", got)
		}
	})
}

func TestServerServesSegmentsAndSequenceAliases(t *testing.T) {
	_, base := newTestServer(t, ServerConfig{Autocreate: true})
	if resp, _ := do(t, "POST", base+"/s", nil); resp.StatusCode != 200 {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	for i, body := range []string{"zero", "one", "two"} {
		resp, _ := do(t, "POST", base+"/s/"+formatSeq(int64(i)), strings.NewReader(body))
		if resp.StatusCode != 200 || resp.Header.Get(HeaderSeq) != formatSeq(int64(i)) {
			t.Fatalf("post %d: %d seq %q", i, resp.StatusCode, resp.Header.Get(HeaderSeq))
		}
	}
	t.Run("a written segment is served whole with its seq and the latest", func(t *testing.T) {
		resp, body := do(t, "GET", base+"/s/1", nil)
		if resp.StatusCode != 200 || body != "one" || resp.Header.Get(HeaderSeq) != "1" || resp.Header.Get(HeaderLatest) != "3" {
			t.Fatalf("%d %q %v", resp.StatusCode, body, resp.Header)
		}
	})
	t.Run("-2 serves the last segment written", func(t *testing.T) {
		resp, body := do(t, "GET", base+"/s/-2", nil)
		if body != "two" || resp.Header.Get(HeaderSeq) != "2" {
			t.Fatalf("%q %v", body, resp.Header)
		}
	})
	t.Run("next reports the next segment to start", func(t *testing.T) {
		resp, body := do(t, "GET", base+"/s/next", nil)
		if body != "3" || resp.Header.Get(HeaderLatest) != "3" {
			t.Fatalf("%q %v", body, resp.Header)
		}
	})
	t.Run("a segment too far ahead answers 470 with the latest", func(t *testing.T) {
		resp, _ := do(t, "GET", base+"/s/9", nil)
		if resp.StatusCode != 470 || resp.Header.Get(HeaderLatest) != "3" || resp.Header.Get(HeaderSeq) != "9" {
			t.Fatalf("%d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("rewriting a complete segment is refused", func(t *testing.T) {
		resp, _ := do(t, "POST", base+"/s/1", strings.NewReader("again"))
		if resp.StatusCode != http.StatusConflict {
			t.Fatalf("%d", resp.StatusCode)
		}
		_, body := do(t, "GET", base+"/s/1", nil)
		if body != "one" {
			t.Fatalf("segment changed to %q", body)
		}
	})
}

func TestServerEvictsOldSegmentsWith470(t *testing.T) {
	_, base := newTestServer(t, ServerConfig{Autocreate: true, RingSize: 3})
	for i := range 6 {
		do(t, "POST", base+"/s/"+formatSeq(int64(i)), strings.NewReader("x"))
	}
	resp, _ := do(t, "GET", base+"/s/2", nil)
	if resp.StatusCode != 470 || resp.Header.Get(HeaderLatest) != "6" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := do(t, "GET", base+"/s/3", nil); resp.StatusCode != 200 {
		t.Fatalf("seq 3 should still be held: %d", resp.StatusCode)
	}
	t.Run("posting to an evicted seq answers 470", func(t *testing.T) {
		resp, _ := do(t, "POST", base+"/s/0", strings.NewReader("late"))
		if resp.StatusCode != 470 {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
}

func TestServerStreamsBytesBeforeThePostEnds(t *testing.T) {
	_, base := newTestServer(t, ServerConfig{Autocreate: true})
	do(t, "POST", base+"/s", nil)

	// A reader waiting on the next segment.
	type got struct {
		resp *http.Response
		err  error
	}
	gc := make(chan got, 1)
	go func() {
		resp, err := http.Get(base + "/s/0")
		gc <- got{resp, err}
	}()

	pr, pw := io.Pipe()
	postDone := make(chan int, 1)
	go func() {
		resp, err := http.Post(base+"/s/0", "video/mp2t", pr)
		if err != nil {
			postDone <- -1
			return
		}
		resp.Body.Close()
		postDone <- resp.StatusCode
	}()
	if _, err := pw.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	g := <-gc
	if g.err != nil {
		t.Fatal(g.err)
	}
	defer g.resp.Body.Close()
	if g.resp.Header.Get(HeaderSeq) != "0" {
		t.Fatalf("seq %q", g.resp.Header.Get(HeaderSeq))
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(g.resp.Body, buf); err != nil || string(buf) != "first" {
		t.Fatalf("read %q %v", buf, err)
	}
	pw.Write([]byte("-second"))
	pw.Close()
	rest, _ := io.ReadAll(g.resp.Body)
	if string(rest) != "-second" {
		t.Fatalf("rest %q", rest)
	}
	if code := <-postDone; code != 200 {
		t.Fatalf("post %d", code)
	}
}

func TestServerReleasesReadersWhenTheChannelCloses(t *testing.T) {
	_, base := newTestServer(t, ServerConfig{Autocreate: true})
	do(t, "POST", base+"/s", nil)
	done := make(chan *http.Response, 1)
	go func() {
		resp, err := http.Get(base + "/s/-1")
		if err != nil {
			done <- nil
			return
		}
		resp.Body.Close()
		done <- resp
	}()
	time.Sleep(50 * time.Millisecond) // let the GET park on the segment
	if resp, _ := do(t, "DELETE", base+"/s", nil); resp.StatusCode != 200 {
		t.Fatalf("delete %d", resp.StatusCode)
	}
	resp := <-done
	if resp == nil || resp.StatusCode != 200 || resp.Header.Get(HeaderClosed) != ClosedValue {
		t.Fatalf("waiting reader got %+v", resp)
	}
	if resp, _ := do(t, "GET", base+"/s/0", nil); resp.StatusCode != 404 {
		t.Fatalf("after delete %d", resp.StatusCode)
	}
}

func TestServerCutsSegmentsAtTheSizeLimit(t *testing.T) {
	_, base := newTestServer(t, ServerConfig{Autocreate: true, MaxSegmentBytes: 1000})
	resp, _ := do(t, "POST", base+"/s/0", bytes.NewReader(make([]byte, 1001)))
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d", resp.StatusCode)
	}
	_, body := do(t, "GET", base+"/s/0", nil)
	if len(body) != 1000 {
		t.Fatalf("readers got %d bytes, want the 1000 up to the cap", len(body))
	}
	t.Run("a segment exactly at the limit is accepted", func(t *testing.T) {
		resp, _ := do(t, "POST", base+"/s/1", bytes.NewReader(make([]byte, 1000)))
		if resp.StatusCode != 200 {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
}

func TestServerClosesASegmentWhosePublisherVanishes(t *testing.T) {
	_, base := newTestServer(t, ServerConfig{Autocreate: true})
	do(t, "POST", base+"/s", nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, "POST /s/0 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
	// Wait until the bytes are visible to readers, then drop the publisher.
	resp, err := http.Get(base + "/s/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	b := make([]byte, 5)
	if _, err := io.ReadFull(br, b); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	rest, err := io.ReadAll(br)
	if err != nil || len(rest) != 0 {
		t.Fatalf("reader should see a clean end, got %q %v", rest, err)
	}
	// The channel moves on: the next POST works.
	if resp, _ := do(t, "POST", base+"/s/1", strings.NewReader("ok")); resp.StatusCode != 200 {
		t.Fatalf("%d", resp.StatusCode)
	}
}

func TestServerLetsASegmentBeRetriedWhenItsPublisherVanishesBeforeAnyByte(t *testing.T) {
	_, base := newTestServer(t, ServerConfig{Autocreate: true})
	do(t, "POST", base+"/s", nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, "POST /s/0 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
	// A reader waits on the segment the vanished POST had claimed.
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(base + "/s/0")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	time.Sleep(50 * time.Millisecond)
	conn.Close()
	time.Sleep(50 * time.Millisecond)
	if resp, body := do(t, "POST", base+"/s/0", strings.NewReader("retried")); resp.StatusCode != 200 {
		t.Fatalf("retry of seq 0: %d %q", resp.StatusCode, body)
	}
	if b := <-got; b != "retried" {
		t.Fatalf("waiting reader got %q", b)
	}
}
