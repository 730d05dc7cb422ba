package fsblob

import (
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const flushCoversAll = true

// flush writes back the whole filesystem with one syncfs(2): one journal
// commit for every file of the group. fsyncing them one by one would commit
// once per file, since each file's delayed block allocation dirties the
// journal again.
func flush(_ []*os.File, dir *os.File) error {
	return unix.Syncfs(int(dir.Fd()))
}

// changed is when f's inode last changed: its data, or the rename that
// named it.
func changed(fi os.FileInfo) time.Time {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return time.Time{}
	}
	return time.Unix(st.Ctim.Unix())
}
