//go:build unix && !linux

package local

import "syscall"

// Without Pdeathsig, workers outlive a parent killed by SIGKILL; Close still
// stops them on an orderly exit.
func sysProcAttr() *syscall.SysProcAttr {
	// Out of the terminal's process group: Ctrl-C reaches only us, and we
	// drain the workers in order rather than have them all quit.
	return &syscall.SysProcAttr{Setpgid: true}
}
