package brokenprocessor

import (
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// transport is the RoundTripper of the processor's HTTPClient, which
// carries its input (subscribe) and output (publish) trickle requests. It
// plants the mutations that change the output on its way to the server and
// passes everything else to next unchanged.
type transport struct {
	next http.RoundTripper
	mut  Mutation
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base, seq, isSeq := splitSeq(req.URL.Path)
	switch {
	case t.mut == MutationOutputLeftOpen && req.Method == http.MethodDelete && !isSeq:
		// The output publisher ends its channel: pretend it worked.
		return swallow(req)
	case t.mut == MutationDropFirstSegment && isSeq && seq >= 0 && isOutput(req):
		if seq == 0 {
			return swallow(req)
		}
		return t.next.RoundTrip(withSeq(req, base, seq-1))
	case t.mut == MutationSkipOutputSeq && isSeq && seq >= 2 && isOutput(req):
		return t.next.RoundTrip(withSeq(req, base, seq+1))
	}
	return t.next.RoundTrip(req)
}

// isOutput reports whether req writes or closes an output segment: a POST
// of MPEG-TS or a DELETE of one seq (after a partial failure). The input
// subscriber only GETs.
func isOutput(req *http.Request) bool {
	switch req.Method {
	case http.MethodDelete:
		return true
	case http.MethodPost:
		mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
		return strings.EqualFold(mt, "video/mp2t")
	}
	return false
}

// splitSeq splits a trickle path /…/{channel}/{seq} into the channel's
// path and the seq; isSeq is false when the last element is not a number
// (a request for the channel itself).
func splitSeq(path string) (base string, seq int64, isSeq bool) {
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		return path, 0, false
	}
	n, err := strconv.ParseInt(path[i+1:], 10, 64)
	if err != nil {
		return path, 0, false
	}
	return path[:i], n, true
}

// withSeq returns a copy of req for seq on the same channel.
func withSeq(req *http.Request, base string, seq int64) *http.Request {
	r := req.Clone(req.Context())
	r.URL.Path = base + "/" + strconv.FormatInt(seq, 10)
	r.URL.RawPath = ""
	return r
}

// swallow reads req's body to its end, as a server would, and answers 200
// without sending anything on.
func swallow(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, err := io.Copy(io.Discard, req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: http.NoBody, ContentLength: 0, Request: req,
	}, nil
}
