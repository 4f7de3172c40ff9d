package media

import (
	"errors"
	"io"
	"sync"

	"github.com/asticode/go-astiav"
)

// segmentReader adapts one segment's io.Reader to FFmpeg's read callback.
// FFmpeg needs astiav.ErrEof (any other error becomes AVERROR_UNKNOWN),
// drops bytes returned together with an error, and asks again after an
// EOF, so the end is reported on its own and stays reported.
type segmentReader struct {
	mu  sync.Mutex
	r   io.Reader // nil once released: the IOContext closure outlives Free in astiav v0.16.0
	eof bool
	err error // a read error other than EOF
	n   int64
}

func (s *segmentReader) read(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.r == nil || s.eof {
		return 0, astiav.ErrEof
	}
	if s.err != nil {
		return 0, s.err
	}
	var (
		n   int
		err error
	)
	// io.Reader may return 0, nil; FFmpeg would take that for the end.
	for tries := 0; n == 0 && err == nil && tries < 100; tries++ {
		n, err = s.r.Read(b)
	}
	s.n += int64(n)
	switch {
	case errors.Is(err, io.EOF):
		s.eof = true
	case err != nil:
		s.err = err
	}
	if n > 0 {
		return n, nil
	}
	if s.eof {
		return 0, astiav.ErrEof
	}
	if s.err != nil {
		return 0, s.err
	}
	return 0, nil
}

// release drops the reader so that astiav's leaked handler keeps nothing
// alive but this small box.
func (s *segmentReader) release() {
	s.mu.Lock()
	s.r = nil
	s.mu.Unlock()
}

func (s *segmentReader) readErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
