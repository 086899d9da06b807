//go:build !linux

package stack

import "syscall"

// procAttr puts a process in its own group: Stop signals the group.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
