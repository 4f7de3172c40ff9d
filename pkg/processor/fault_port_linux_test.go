package processor_test

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// holdPort keeps addr's port from being handed to anything else while a
// rig server is down, and returns what gives it back. The socket is bound
// but does not listen, so a connection to the port is refused, as when
// nothing is there; the kernel does not pick a port bound this way for an
// outgoing connection; and a listener, with the SO_REUSEADDR that Go sets,
// can bind the port beside it (on Linux; the BSDs would want SO_REUSEPORT
// on both).
func holdPort(addr string) (release func(), err error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("holding %q: not an IPv4 address and port", addr)
	}
	// Close-on-exec: a child process a test beside this one starts must
	// not keep the port after release.
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("holding %s: %w", addr, err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("holding %s: %w", addr, err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("holding %s: %w", addr, &net.OpError{Op: "bind", Net: "tcp", Err: err})
	}
	return func() { syscall.Close(fd) }, nil
}
