package trickle

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRequestsAfterCloseGetTheEndOfTheirStreamOr503(t *testing.T) {
	srv := NewServer(ServerConfig{Logger: discardLogger()})
	if err := srv.CreateChannel("a", ContentTypeMPEGTS); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	for _, tc := range []struct {
		name, method, path string
		status             int
		closed             bool
	}{
		{"a read of a channel Close ended gets the end of the stream", "GET", "/a/3", 200, true},
		{"a HEAD of it too", "HEAD", "/a/0", 200, true},
		{"a read of a channel that never was gets 503", "GET", "/b/0", 503, false},
		{"a write gets 503", "POST", "/a/3", 503, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, strings.NewReader("")))
			if rec.Code != tc.status || (rec.Header().Get(HeaderClosed) != "") != tc.closed {
				t.Fatalf("%d with %s %q; want %d (closed header: %v)", rec.Code, HeaderClosed, rec.Header().Get(HeaderClosed), tc.status, tc.closed)
			}
		})
	}
	t.Run("a subscriber sees the end of the stream", func(t *testing.T) {
		hs := httptest.NewServer(srv)
		defer hs.Close()
		sub, err := NewSubscriber(SubscriberConfig{URL: hs.URL + "/a", Start: StartAt(0), Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if _, err := sub.Next(t.Context()); !errors.Is(err, ErrStreamClosed) {
			t.Fatalf("Next: %v, want ErrStreamClosed", err)
		}
	})
}
