//go:build !linux

package moto

import "syscall"

// dieWithParent: only Linux has a parent-death signal. Elsewhere the Shared
// server outlives the test binary (stop it with `pkill -f moto.server`);
// those of Start stop with their test.
func dieWithParent() *syscall.SysProcAttr { return nil }
