package fsblob

import (
	"crypto/rand"
	"fmt"
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
