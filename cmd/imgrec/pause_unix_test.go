//go:build unix

package main

import (
	"syscall"
	"testing"
)

// pauseProcess stops pid (SIGSTOP) until resumeProcess: a worker frozen in
// the middle of its work, whatever the machine's speed.
func pauseProcess(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("pause %d: %v", pid, err)
	}
}

func resumeProcess(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Errorf("resume %d: %v", pid, err)
	}
}
