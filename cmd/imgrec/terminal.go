package main

import (
	"os"

	"golang.org/x/term"
)

// isTerminal reports whether s (a command's stdin, stdout or stderr) is a
// terminal: progress bars and confirmation prompts are for people only. A
// character device is not enough: /dev/null is one too.
func isTerminal(s any) bool {
	f, ok := s.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
