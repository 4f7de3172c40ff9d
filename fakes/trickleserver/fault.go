package trickleserver

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Fault makes the server misbehave for the requests it matches.
//
// A fault matches a request when every filter that is set agrees. Each fault
// counts the requests it matches, and fires on the Nth of them (every one
// when Nth is 0), at most Times times (no limit when 0). At most one fault
// applies to a request: the first, in the order added, that fires.
//
// The actions combine: Latency and Header go with any other. Status answers
// instead of serving, so DropAfterBytes and StallAfterBytes are ignored with
// it; DropAfterBytes wins over StallAfterBytes. Validate refuses those
// combinations; AddFault and New accept them and apply the precedence.
type Fault struct {
	// Name describes the fault in Request.Fault and logs; when empty,
	// String makes a description up.
	Name string `json:"name,omitempty"`

	// Method matches the request method ("" any), compared case-insensitively.
	Method string `json:"method,omitempty"`
	// Channel matches the channel name ("" any).
	Channel string `json:"channel,omitempty"`
	// Seq matches the sequence number as requested: -1 matches a request
	// for -1, not the segment it resolves to. nil matches any request,
	// including those that name no seq.
	Seq *int64 `json:"seq,omitempty"`
	// Nth makes the fault fire only on the Nth matching request (1-based);
	// 0 fires on every match.
	Nth int `json:"nth,omitempty"`
	// Times caps how often the fault fires; 0 means no cap.
	Times int `json:"times,omitempty"`

	// Status answers with this status and a short text body instead of
	// serving. A 470 also carries Lp-Trickle-Latest (and Lp-Trickle-Seq)
	// as the real server would, when the channel exists.
	Status int `json:"status,omitempty"`
	// Latency delays handling by this long (less if the client leaves or
	// the server closes). In JSON it is a Go duration string: "250ms".
	Latency time.Duration `json:"latency,omitempty"`
	// DropAfterBytes closes the TCP connection abruptly: on a POST after
	// that many request-body bytes have been read, on any other method
	// after that many response-body bytes have been sent (the client sees
	// the body end early, without the end of the chunked encoding). A
	// response that ends before the count is not touched; one that reaches
	// it exactly is still dropped.
	DropAfterBytes *int64 `json:"drop_after_bytes,omitempty"`
	// StallAfterBytes stops the response after that many body bytes but
	// keeps the connection open until the client leaves or the server
	// closes, then drops it. It counts response-body bytes, so on a POST
	// (whose answer has none) only 0 does anything: the answer's headers
	// are sent and it never ends.
	StallAfterBytes *int64 `json:"stall_after_bytes,omitempty"`
	// Header adds response headers (set, replacing the server's).
	Header map[string]string `json:"header,omitempty"`
}

// Validate reports what makes no sense in f: negative counts, a status that
// cannot be a final answer, a fault with no action, or actions that exclude
// each other.
func (f Fault) Validate() error {
	var errs []error
	if f.Nth < 0 {
		errs = append(errs, fmt.Errorf("nth %d is negative", f.Nth))
	}
	if f.Times < 0 {
		errs = append(errs, fmt.Errorf("times %d is negative", f.Times))
	}
	if f.Status != 0 && (f.Status < 200 || f.Status > 599) {
		errs = append(errs, fmt.Errorf("status %d is not a final HTTP status (200-599)", f.Status))
	}
	if f.Latency < 0 {
		errs = append(errs, fmt.Errorf("latency %v is negative", f.Latency))
	}
	if f.DropAfterBytes != nil && *f.DropAfterBytes < 0 {
		errs = append(errs, fmt.Errorf("drop_after_bytes %d is negative", *f.DropAfterBytes))
	}
	if f.StallAfterBytes != nil && *f.StallAfterBytes < 0 {
		errs = append(errs, fmt.Errorf("stall_after_bytes %d is negative", *f.StallAfterBytes))
	}
	if f.Status != 0 && (f.DropAfterBytes != nil || f.StallAfterBytes != nil) {
		errs = append(errs, errors.New("status answers instead of serving, so it cannot be combined with drop_after_bytes or stall_after_bytes"))
	}
	if f.DropAfterBytes != nil && f.StallAfterBytes != nil {
		errs = append(errs, errors.New("drop_after_bytes and stall_after_bytes exclude each other"))
	}
	for k := range f.Header {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			errs = append(errs, fmt.Errorf("header name %q is not a valid HTTP header name", k))
		}
	}
	if f.Status == 0 && f.Latency == 0 && f.DropAfterBytes == nil && f.StallAfterBytes == nil && len(f.Header) == 0 {
		errs = append(errs, errors.New("fault has no action (status, latency, drop_after_bytes, stall_after_bytes or header)"))
	}
	return errors.Join(errs...)
}

// String describes the fault: its Name, or its filters and actions, e.g.
// "GET s/1 #2: status 500".
func (f Fault) String() string {
	if f.Name != "" {
		return f.Name
	}
	var b strings.Builder
	b.WriteString(cmp.Or(strings.ToUpper(f.Method), "*"))
	b.WriteString(" ")
	b.WriteString(cmp.Or(f.Channel, "*"))
	b.WriteString("/")
	if f.Seq != nil {
		b.WriteString(strconv.FormatInt(*f.Seq, 10))
	} else {
		b.WriteString("*")
	}
	if f.Nth > 0 {
		fmt.Fprintf(&b, " #%d", f.Nth)
	}
	if f.Times > 0 {
		fmt.Fprintf(&b, " x%d", f.Times)
	}
	var acts []string
	if f.Latency > 0 {
		acts = append(acts, "latency "+f.Latency.String())
	}
	if f.Status != 0 {
		acts = append(acts, "status "+strconv.Itoa(f.Status))
	}
	if f.DropAfterBytes != nil {
		acts = append(acts, fmt.Sprintf("drop after %d bytes", *f.DropAfterBytes))
	}
	if f.StallAfterBytes != nil {
		acts = append(acts, fmt.Sprintf("stall after %d bytes", *f.StallAfterBytes))
	}
	if len(f.Header) > 0 {
		keys := make([]string, 0, len(f.Header))
		for k := range f.Header {
			keys = append(keys, http.CanonicalHeaderKey(k))
		}
		slices.Sort(keys)
		acts = append(acts, "header "+strings.Join(keys, ","))
	}
	b.WriteString(": ")
	b.WriteString(cmp.Or(strings.Join(acts, ", "), "nothing"))
	return b.String()
}

// matches reports whether the request passes every filter that is set.
func (f *Fault) matches(method string, t target) bool {
	switch {
	case f.Method != "" && !strings.EqualFold(f.Method, method):
		return false
	case f.Channel != "" && f.Channel != t.channel:
		return false
	case f.Seq != nil && (!t.hasSeq || t.seq != *f.Seq):
		return false
	}
	return true
}

// dropAfter and stallAfter give the byte counts the fault acts at, -1 for
// none, after the precedence documented on Fault.
func (f *Fault) dropAfter() int64 {
	if f.Status != 0 || f.DropAfterBytes == nil {
		return -1
	}
	return *f.DropAfterBytes
}

func (f *Fault) stallAfter() int64 {
	if f.Status != 0 || f.DropAfterBytes != nil || f.StallAfterBytes == nil {
		return -1
	}
	return *f.StallAfterBytes
}
