package devgw

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes plugin servers receive SIGTERM if the gateway dies.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
