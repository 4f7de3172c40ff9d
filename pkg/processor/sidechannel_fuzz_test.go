package processor

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzDataSegmentBody: whatever strings a handler queues on the data
// channel, the segment body is one JSON array and a newline that parses
// back to the same strings (invalid UTF-8 becomes U+FFFD, as encoding/json
// writes it), with <, > and & left unescaped as Python's json.dumps leaves
// them; an empty queue sends "[]\n" only once the keepalive is due.
func FuzzDataSegmentBody(f *testing.F) {
	f.Add("", uint8(0))
	f.Add("a", uint8(1))
	f.Add("<b>&amp;</b>\x00{\"x\":1}\x00\u2028", uint8(3))
	f.Add("\xff\xfe\x00\"\\\n", uint8(2))
	f.Fuzz(func(t *testing.T, joined string, idle uint8) {
		var items []string
		if joined != "" {
			items = strings.Split(joined, "\x00")
		}
		keepalive := 2 * time.Second
		body, send := dataSegmentBody(items, time.Duration(idle)*time.Second/4, keepalive)
		if len(items) == 0 {
			due := time.Duration(idle)*time.Second/4 >= keepalive
			if send != due || (due && string(body) != "[]\n") || (!due && body != nil) {
				t.Fatalf("empty queue, idle %d/4 s: send %v body %q", idle, send, body)
			}
			return
		}
		if !send || !bytes.HasSuffix(body, []byte("\n")) || bytes.Count(body, []byte("\n")) != 1 {
			t.Fatalf("%q: send %v, body %q is not one line", items, send, body)
		}
		var back []string
		if err := json.Unmarshal(body, &back); err != nil {
			t.Fatalf("%q: body %q does not parse: %v", items, body, err)
		}
		want := make([]string, len(items))
		for i, s := range items {
			// encoding/json replaces each invalid byte on its own, as
			// decoding to runes does.
			want[i] = string(bytes.Runes([]byte(s)))
		}
		if !reflect.DeepEqual(back, want) {
			t.Fatalf("%q came back as %q", items, back)
		}
		for _, esc := range []string{`\u003c`, `\u003e`, `\u0026`} {
			if strings.Contains(string(body), esc) && !strings.Contains(joined, esc) {
				t.Fatalf("%q: HTML characters were escaped: %s", items, body)
			}
		}
	})
}
