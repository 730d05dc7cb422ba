package testserver

import (
	"os"
	"syscall"
)

// DieWithParent returns the process attributes that have the kernel send
// sig to a server when the test binary that started it dies, even one
// killed outright: a Shared server has no test to stop it.
func DieWithParent(sig os.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: sig.(syscall.Signal)}
}
