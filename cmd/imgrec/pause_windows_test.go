package main

import "testing"

// pauseProcess: Windows has no SIGSTOP; the tests that pause workers run
// on Unix.
func pauseProcess(t *testing.T, pid int) { t.Skip("pausing a process is tested on Unix") }

func resumeProcess(t *testing.T, pid int) {}
