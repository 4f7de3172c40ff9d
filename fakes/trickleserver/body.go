package trickleserver

import (
	"io"
	"time"
)

// recBody wraps a request body: it records the bytes read and, for a POST
// with DropAfterBytes, drops the connection once that many have been read.
// It is read from whichever goroutine the real server reads the body on.
type recBody struct {
	rc        io.ReadCloser
	e         *entry
	rw        *respWriter
	dropAfter int64 // -1 never
	n         int64
}

func (b *recBody) Read(p []byte) (int, error) {
	if b.dropAfter >= 0 {
		left := b.dropAfter - b.n
		if left <= 0 {
			b.rw.dropConn()
			return 0, errDropped
		}
		if int64(len(p)) > left {
			p = p[:left]
		}
	}
	k, err := b.rc.Read(p)
	if k > 0 {
		b.n += int64(k)
		b.e.bodyIn(k, time.Now())
	}
	return k, err
}

func (b *recBody) Close() error { return b.rc.Close() }
