package localnova

import "syscall"

// dieWithParent: the shared server has no test to stop it, so it gets
// SIGTERM (and removes its temporary files) when the test binary dies, even
// one killed outright.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
