package benchmarks

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// The load test's trickle server runs in a child process (this test binary
// again, in server mode) so that its resident memory, CPU time and open
// files are the server's alone and not the thousand clients'.

const (
	// loadServerEnv, set to a ring size, makes TestLoad serve instead of
	// load: it prints "listening URL" and serves until stdin closes.
	loadServerEnv = "GOTRICKLE_LOAD_SERVER_RING"
	// loadMemPath answers the server process's Go heap and stacks in use
	// (bytes): unlike its RSS, a figure the race detector does not inflate.
	loadMemPath = "/_load/mem"
	// loadSendBuffer is the server's SO_SNDBUF (Linux doubles it).
	loadSendBuffer = 32 << 10
)

// loadServer is the server under load.
type loadServer struct {
	url    string // base URL, ending in "/"
	pid    int
	cmd    *exec.Cmd
	in     io.WriteCloser
	exited chan struct{} // closed once the child has exited
}

// startLoadServer starts the child server with the given ring size.
func startLoadServer(t *testing.T, ring int) *loadServer {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoad$", "-test.count=1", "-test.timeout=0")
	cmd.Env = append(os.Environ(), loadServerEnv+"="+strconv.Itoa(ring))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &loadServer{pid: cmd.Process.Pid, cmd: cmd, in: in, exited: make(chan struct{})}
	t.Cleanup(s.stop)
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if u, ok := strings.CutPrefix(lines.Text(), "listening "); ok {
			s.url = u
			break
		}
	}
	go func() {
		io.Copy(io.Discard, out) // the child's test summary, to its end
		cmd.Wait()
		close(s.exited)
	}()
	if s.url == "" {
		t.Fatalf("the server process printed no address: %v", lines.Err())
	}
	return s
}

// stop ends the child (closing stdin tells it to) and waits for it.
func (s *loadServer) stop() {
	s.in.Close()
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// serveForLoad is the child's side: gotrickle's server with auto-create on
// a loopback port, until stdin closes.
func serveForLoad(t *testing.T, ring string) {
	n, err := strconv.Atoi(ring)
	if err != nil {
		t.Fatalf("%s=%q: %v", loadServerEnv, ring, err)
	}
	// Accepted connections inherit the listener's send buffer: capped (and
	// so not auto-tuned up to megabytes), a reader that stops reading
	// blocks the server's writes to it within about 64 KiB plus its own
	// receive window, instead of after whole segments of kernel buffering.
	// That is the path under test: a handler blocked on one reader.
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, loadSendBuffer)
		}); err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := trickle.NewServer(trickle.ServerConfig{Autocreate: true, RingSize: n, Logger: quiet})
	// Routed by hand: a ServeMux would clean (and redirect) channel paths.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != loadMemPath {
			srv.ServeHTTP(w, r)
			return
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		fmt.Fprintf(w, "%d\n", m.HeapInuse+m.StackInuse)
	})
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	fmt.Printf("listening http://%s/\n", ln.Addr())
	io.Copy(io.Discard, os.Stdin)
	srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(ctx)
}

// serverSampler records the server's resident memory and Go heap once a
// second.
type serverSampler struct {
	stop chan struct{}
	done chan struct{}
	rss  []int64 // bytes, one a second
	heap []int64 // bytes (heap and stacks in use), one a second
}

func (l *loadServer) sample() *serverSampler {
	s := &serverSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			if v, err := procRSS(l.pid); err == nil {
				s.rss = append(s.rss, v)
			}
			if v, err := l.heap(); err == nil {
				s.heap = append(s.heap, v)
			}
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// finish stops sampling.
func (s *serverSampler) finish() {
	close(s.stop)
	<-s.done
}

// heap asks the server for its Go heap and stacks in use.
func (l *loadServer) heap() (int64, error) {
	resp, err := http.Get(strings.TrimSuffix(l.url, "/") + loadMemPath)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}
