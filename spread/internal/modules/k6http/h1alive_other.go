//go:build !unix

package k6http

import "syscall"

// peekAlive cannot peek here; a dead connection then fails the request.
func peekAlive(syscall.RawConn) bool { return true }
