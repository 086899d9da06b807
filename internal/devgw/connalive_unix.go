//go:build unix

package devgw

import (
	"net"
	"syscall"
)

// connAlive is OpenResty's keepalive close handler check
// (ngx_http_lua_socket_keepalive_close_handler): recv(fd, 1, MSG_PEEK)
// without waiting; only "would block" means the idle connection is still
// usable. EOF (the peer closed, e.g. a plugin server that crashed), an
// error or unexpected data close it. nginx runs the check as soon as the
// event arrives; kong-devgw runs it when it takes the connection out of
// the pool, so a dead connection is never reused either way.
//
// A read deadline cannot do this: Go fails a read whose deadline has
// passed before it asks the kernel, so every connection looked alive.
func connAlive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK
		return true // never wait for readiness
	})
	return err == nil && alive
}
