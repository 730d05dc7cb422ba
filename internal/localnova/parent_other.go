//go:build !linux

package localnova

import "syscall"

// dieWithParent: only Linux has a parent-death signal. Elsewhere the Shared
// server outlives the test binary; those of Start stop with their test.
func dieWithParent() *syscall.SysProcAttr { return nil }
