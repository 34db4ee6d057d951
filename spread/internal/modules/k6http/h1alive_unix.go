//go:build unix

package k6http

import "syscall"

// peekAlive peeks one byte without blocking or consuming it: EAGAIN means
// open and quiet; 0 bytes means the server closed it; data means the
// connection is not in a clean idle state.
func peekAlive(raw syscall.RawConn) bool {
	alive := false
	_ = raw.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = n < 0 && (err == syscall.EAGAIN || err == syscall.EWOULDBLOCK)
		return true // never wait for readability
	})
	return alive
}
