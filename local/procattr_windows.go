package local

import "syscall"

// Windows has no parent-death signal: a worker of a parent killed outright
// drains and exits when its standard input closes. A new process group keeps
// Ctrl-C from reaching the workers, so that we drain them in order.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}
