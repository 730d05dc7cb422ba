//go:build !linux

package fsblob

import "os"

// flush syncs each file of the group, then the directory once.
func flush(files []*os.File, dir *os.File) error {
	var first error
	for _, f := range files {
		if err := f.Sync(); err != nil && first == nil {
			first = err
		}
	}
	if err := dir.Sync(); err != nil && first == nil {
		first = err
	}
	return first
}
