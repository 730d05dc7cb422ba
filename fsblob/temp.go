package fsblob

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// Temporary files start with a dot, which no key may, so List and Get never
// see them.
const tempPrefix = ".tmp-"

// staleAfter is how old a temporary file must be before Open removes it.
// Another process may be writing a fresh one right now; no write of an
// image takes anywhere near this long.
const staleAfter = time.Hour

// writeTemp writes data to a new temporary file in the store's directory
// and returns the file, still open so that commit can flush it once it is in
// place, and its name.
func (s *Store) writeTemp(data []byte) (*os.File, string, error) {
	name := tempPrefix + rand.Text()
	f, err := s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, "", err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		s.root.Remove(name)
		return nil, "", err
	}
	return f, name, nil
}

// commit makes a written object durable (unless NoSync), then closes its
// file. Without the directory flush a crash could forget the new entry even
// though the data reached the disk.
func (s *Store) commit(f *os.File, op, key string) error {
	var err error
	if s.sync != nil {
		err = s.sync.commit(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s %q in %s: sync: %w", op, key, s.dir, err)
	}
	return nil
}

// openIfSame returns key's object, open, and its FileInfo if it is a
// regular file (not a link to one) holding exactly data. Objects are never written in place,
// only replaced, so what the open file holds cannot change while it is
// compared.
func (s *Store) openIfSame(key string, data []byte) (*os.File, os.FileInfo) {
	named, err := s.root.Lstat(key)
	if err != nil || !named.Mode().IsRegular() || named.Size() != int64(len(data)) {
		return nil, nil
	}
	f, err := s.root.Open(key)
	if err != nil {
		return nil, nil
	}
	if opened, err := f.Stat(); err == nil && os.SameFile(named, opened) && holds(f, data) {
		return f, opened
	}
	f.Close()
	return nil, nil
}

// holds reports whether r's next len(data) bytes are data, reading a chunk
// at a time so that a large object is never all in memory twice.
func holds(r io.Reader, data []byte) bool {
	buf := make([]byte, min(len(data), 64<<10))
	for len(data) > 0 {
		n := min(len(buf), len(data))
		if _, err := io.ReadFull(r, buf[:n]); err != nil || !bytes.Equal(buf[:n], data[:n]) {
			return false
		}
		data = data[n:]
	}
	return true
}

// keep settles a Put that found its bytes already stored: nothing to write,
// but the object must be on disk before Put returns, as if it had written
// it. A flush of this process that began after the object last changed
// proves that; otherwise (another process placed it a moment ago) the
// object joins the next flush.
func (s *Store) keep(f *os.File, fi os.FileInfo, op, key string) error {
	if s.sync != nil && !s.sync.onDisk(changed(fi)) {
		return s.commit(f, op, key)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s %q in %s: %w", op, key, s.dir, err)
	}
	return nil
}

func (s *Store) removeStaleTemps() error {
	entries, err := fs.ReadDir(s.root.FS(), ".")
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		fi, err := e.Info()
		if err != nil || time.Since(fi.ModTime()) < staleAfter {
			continue // gone already, or maybe still being written
		}
		if err := s.root.Remove(e.Name()); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("remove stale %s: %w", e.Name(), err)
		}
	}
	return nil
}
