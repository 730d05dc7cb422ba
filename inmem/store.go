package inmem

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/imgrec/imgrec"
)

var _ imgrec.BlobStore = (*Store)(nil)

// Store is a bucket in memory, safe for concurrent use. It keeps copies:
// neither the slices given to Put nor those Get returns are its own.
type Store struct {
	mu      sync.RWMutex
	objects map[string]object
}

type object struct {
	data     []byte
	modified time.Time
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{objects: make(map[string]object)} }

// Put stores a copy of data under key, replacing any previous object.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	if err := check(ctx, "put", key); err != nil {
		return err
	}
	o := object{data: bytes.Clone(data), modified: time.Now()}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[key] = o
	return nil
}

// PutNew stores a copy of data under key unless key exists.
func (s *Store) PutNew(ctx context.Context, key string, data []byte) error {
	if err := check(ctx, "put-new", key); err != nil {
		return err
	}
	o := object{data: bytes.Clone(data), modified: time.Now()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.objects[key]; ok {
		return imgrec.Errorf(imgrec.ECONFLICT, "inmem: put-new %q: already exists", key)
	}
	s.objects[key] = o
	return nil
}

// Get returns a copy of the object stored under key.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := check(ctx, "get", key); err != nil {
		return nil, err
	}
	s.mu.RLock()
	o, ok := s.objects[key]
	s.mu.RUnlock()
	if !ok {
		return nil, imgrec.Errorf(imgrec.ENOTFOUND, "inmem: get %q: not found", key)
	}
	return bytes.Clone(o.data), nil
}

// List returns up to limit objects whose keys start with prefix and sort
// after after, in byte order of the keys. It sorts all matching keys on each
// call, which suits the few objects tests hold.
func (s *Store) List(ctx context.Context, prefix, after string, limit int) ([]imgrec.BlobInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("inmem: list: %w", err)
	}
	if limit < 1 {
		return nil, imgrec.Errorf(imgrec.EINVALID, "inmem: list: limit %d: want at least 1", limit)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var keys []string
	for key := range s.objects {
		if key > after && strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	var infos []imgrec.BlobInfo
	for _, key := range keys[:min(limit, len(keys))] {
		o := s.objects[key]
		infos = append(infos, imgrec.BlobInfo{Key: key, Size: int64(len(o.data)), Modified: o.modified})
	}
	return infos, nil
}

// Delete removes key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := check(ctx, "delete", key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, key)
	return nil
}

// check refuses an operation whose ctx has ended or whose key any backend
// would refuse.
func check(ctx context.Context, op, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("inmem: %s %q: %w", op, key, err)
	}
	if err := imgrec.CheckKey(key); err != nil {
		return fmt.Errorf("inmem: %s: %w", op, err)
	}
	return nil
}
