//go:build unix

package localnova

import (
	"os"
	"path/filepath"
	"syscall"
)

// lockStart serialises the starts of local Novas across test binaries (go
// test runs packages in parallel): run-nova.sh's first run installs into a
// shared cache, which two at once would corrupt. It returns the unlock.
func lockStart() (func(), error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "imgrec-localnova.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}
