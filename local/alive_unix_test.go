//go:build unix

package local_test

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// alive reports whether pid runs. A zombie counts as dead: its parent is
// gone and init may not have reaped it yet.
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	// The state follows the parenthesised command name, which may hold spaces.
	rest := stat[bytes.LastIndexByte(stat, ')')+1:]
	return !bytes.HasPrefix(bytes.TrimSpace(rest), []byte("Z"))
}
