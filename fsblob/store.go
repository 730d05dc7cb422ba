// Package fsblob implements imgrec.BlobStore on a local directory: one file
// per object, named by its key. Several processes may share the directory;
// writes go through a temporary file and a rename or link, so readers see
// whole objects or none.
package fsblob

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/imgrec/imgrec"
)

var _ imgrec.BlobStore = (*Store)(nil)

// Store is a bucket kept in one directory.
type Store struct {
	dir  string
	root *os.Root     // confines every access to dir, whatever the key or symlinks say
	sync *groupCommit // nil with NoSync
}

// Options tune a Store.
type Options struct {
	// NoSync skips flushing objects and directory entries to disk. Writes
	// stay atomic, so a crashed process never leaves a partial object, but a
	// power loss may forget recent ones (as it may the queue's, which NATS
	// JetStream flushes only periodically).
	NoSync bool
}

// Open creates dir if needed and removes temporary files that crashed
// writers left behind. Every write is on disk before it returns; concurrent
// writes share their flushes (group commit).
func Open(dir string) (*Store, error) { return OpenWith(dir, Options{}) }

// OpenWith is Open with options.
func OpenWith(dir string, opt Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open blob store: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open blob store: %w", err)
	}
	s := &Store{dir: dir, root: root}
	if err := s.removeStaleTemps(); err != nil {
		root.Close()
		return nil, fmt.Errorf("open blob store %s: %w", dir, err)
	}
	if !opt.NoSync {
		d, err := root.Open(".")
		if err != nil {
			root.Close()
			return nil, fmt.Errorf("open blob store %s: %w", dir, err)
		}
		s.sync = newGroupCommit(d)
	}
	return s, nil
}

// Options returns the options the store runs with.
func (s *Store) Options() Options { return Options{NoSync: s.sync == nil} }

// Close releases the directory handles.
func (s *Store) Close() error {
	if s.sync != nil {
		s.sync.dir.Close()
	}
	return s.root.Close()
}

// Put stores data under key, atomically replacing any previous object.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	if err := s.check(ctx, "put", key); err != nil {
		return err
	}
	// The course's clients send the same images again and again: a result
	// computed again is the bytes already stored, and writing them anew
	// would cost a file and a flush for nothing.
	if f, fi := s.openIfSame(key, data); f != nil {
		return s.keep(f, fi, "put", key)
	}
	f, tmp, err := s.writeTemp(data)
	if err != nil {
		return fmt.Errorf("put %q in %s: %w", key, s.dir, err)
	}
	if err := s.root.Rename(tmp, key); err != nil {
		f.Close()
		s.root.Remove(tmp)
		return fmt.Errorf("put %q in %s: %w", key, s.dir, err)
	}
	return s.commit(f, "put", key)
}

// PutNew stores data under key unless key exists. link(2) fails if the
// target exists, which makes the check and the creation one atomic step,
// also between processes.
func (s *Store) PutNew(ctx context.Context, key string, data []byte) error {
	if err := s.check(ctx, "put-new", key); err != nil {
		return err
	}
	// A key that exists fails below anyway; finding out first saves
	// writing a file for nothing.
	if _, err := s.root.Lstat(key); err == nil {
		return imgrec.Errorf(imgrec.ECONFLICT, "put-new %q: already exists", key)
	}
	f, tmp, err := s.writeTemp(data)
	if err != nil {
		return fmt.Errorf("put-new %q in %s: %w", key, s.dir, err)
	}
	err = s.root.Link(tmp, key)
	s.root.Remove(tmp)
	if errors.Is(err, fs.ErrExist) {
		f.Close()
		return imgrec.Errorf(imgrec.ECONFLICT, "put-new %q: already exists", key)
	} else if err != nil {
		f.Close()
		return fmt.Errorf("put-new %q in %s: %w", key, s.dir, err)
	}
	return s.commit(f, "put-new", key)
}

// Get returns the object stored under key.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.check(ctx, "get", key); err != nil {
		return nil, err
	}
	data, err := s.root.ReadFile(key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, imgrec.Errorf(imgrec.ENOTFOUND, "get %q: not found", key)
	} else if err != nil {
		return nil, fmt.Errorf("get %q in %s: %w", key, s.dir, err)
	}
	return data, nil
}

// List returns up to limit objects whose keys start with prefix and sort
// after after, in byte order of the keys. It reads the whole directory,
// which is fine for the thousands of objects a bucket here holds.
func (s *Store) List(ctx context.Context, prefix, after string, limit int) ([]imgrec.BlobInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list %s: %w", s.dir, err)
	}
	if limit < 1 {
		return nil, imgrec.Errorf(imgrec.EINVALID, "list: limit %d: want at least 1", limit)
	}
	entries, err := fs.ReadDir(s.root.FS(), ".") // sorted by name
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.dir, err)
	}
	var infos []imgrec.BlobInfo
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || name <= after || !strings.HasPrefix(name, prefix) || imgrec.CheckKey(name) != nil {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since the directory was read
		} else if err != nil {
			return nil, fmt.Errorf("list %s: %w", s.dir, err)
		}
		infos = append(infos, imgrec.BlobInfo{Key: name, Size: fi.Size(), Modified: fi.ModTime()})
		if len(infos) == limit {
			break
		}
	}
	return infos, nil
}

// Delete removes key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.check(ctx, "delete", key); err != nil {
		return err
	}
	if err := s.root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %q in %s: %w", key, s.dir, err)
	}
	return nil
}

func (s *Store) check(ctx context.Context, op, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %q: %w", op, key, err)
	}
	if err := imgrec.CheckKey(key); err != nil {
		return fmt.Errorf("%s in %s: %w", op, s.dir, err)
	}
	return nil
}
