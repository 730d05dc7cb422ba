package local

import "syscall"

func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		// Killed with us, even by SIGKILL; see startCmd for the caveat.
		Pdeathsig: syscall.SIGKILL,
		// Out of the terminal's process group: Ctrl-C reaches only us, and
		// we drain the workers in order rather than have them all quit.
		Setpgid: true,
	}
}
