//go:build !linux

package testserver

import (
	"os"
	"syscall"
)

// DieWithParent: only Linux has a parent-death signal. Elsewhere a Shared
// server outlives the test binary; those of Own stop with their test.
func DieWithParent(os.Signal) *syscall.SysProcAttr { return nil }
