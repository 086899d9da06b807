package idp

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel SIGTERM node if the Go process dies without Stop
// (e.g. a test binary killed by its -timeout), so no provider is left holding the port.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
