package moto

import "syscall"

// dieWithParent: the shared server has no test to stop it, so it dies with
// the test binary, even one killed outright.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
