//go:build unix && !linux

package local

import "syscall"

// Without Pdeathsig, a worker of a parent killed by SIGKILL drains and exits
// when its standard input closes, rather than at once.
func sysProcAttr() *syscall.SysProcAttr {
	// Out of the terminal's process group: Ctrl-C reaches only us, and we
	// drain the workers in order rather than have them all quit.
	return &syscall.SysProcAttr{Setpgid: true}
}
