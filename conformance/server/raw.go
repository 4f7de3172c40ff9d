package server

import (
	"fmt"
	"net"
	"net/url"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// rawConn opens a plain TCP connection to the server, for requests that
// net/http will not send (a body cut off mid-chunk, a half-closed reader).
// It is closed when the spec ends.
func rawConn() net.Conn {
	GinkgoHelper()
	return rawConnTo(cfg.base)
}

// rawConnTo is rawConn to the server of another base URL.
func rawConnTo(base string) net.Conn {
	GinkgoHelper()
	u, err := url.Parse(base)
	Expect(err).NotTo(HaveOccurred())
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	if u.Scheme != "http" {
		Skip("raw-connection specs need a plain http:// target")
	}
	c, err := net.DialTimeout("tcp", host, 5*time.Second)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { c.Close() }) // specs may close it themselves
	return c
}

// rawPath is the request-target of /{ch}/{seq}.
func rawPath(ch string, seq any) string {
	u, _ := url.Parse(cfg.base)
	return fmt.Sprintf("%s%s/%v", u.Path, ch, seq)
}

// rawHost is the Host header value for raw requests.
func rawHost() string {
	u, _ := url.Parse(cfg.base)
	return u.Host
}
