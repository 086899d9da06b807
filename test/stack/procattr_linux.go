package stack

import "syscall"

// procAttr puts a process in its own group (Stop signals the group) and
// has the kernel SIGTERM it if the stack's process dies without Stop
// (kill -9 of make demo's binary, a test binary hitting its -timeout).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
