package fsblob_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/fsblob"
	"github.com/imgrec/imgrec/internal/conformance"
)

func TestConformance(t *testing.T) {
	conformance.BlobStore(t, func(t *testing.T) imgrec.BlobStore { return open(t, t.TempDir()) })
}

// TestConformanceNoSync: skipping fsync must not weaken anything a process
// can observe (atomic replace, create-if-absent, listing).
func TestConformanceNoSync(t *testing.T) {
	conformance.BlobStore(t, func(t *testing.T) imgrec.BlobStore {
		s, err := fsblob.OpenWith(t.TempDir(), fsblob.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestOptions(t *testing.T) {
	if opt := open(t, t.TempDir()).Options(); opt.NoSync {
		t.Errorf("Open: %+v, want NoSync false", opt)
	}
	s, err := fsblob.OpenWith(t.TempDir(), fsblob.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if opt := s.Options(); !opt.NoSync {
		t.Errorf("OpenWith NoSync: %+v, want NoSync true", opt)
	}
}

func open(t *testing.T, dir string) *fsblob.Store {
	t.Helper()
	s, err := fsblob.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenCreatesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "input")
	s := open(t, dir)
	if err := s.Put(t.Context(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "k")); err != nil || string(b) != "v" {
		t.Fatalf("object file: %q, %v", b, err)
	}
}

// Keys come from clients: none may reach outside the directory or collide
// with the store's temporary files.
func TestRejectsDangerousKeys(t *testing.T) {
	parent := t.TempDir()
	s := open(t, filepath.Join(parent, "bucket"))
	ctx := t.Context()
	keys := []string{
		"", ".", "..", "../x", "../../etc/passwd", "a/b", "/abs", `a\b`, `..\x`,
		".hidden", ".tmp-ABC", "x\x00y", "tab\there", "line\n", "del\x7f", "c1\u0085",
		"bad utf8 \xff", strings.Repeat("k", 256),
	}
	for _, key := range keys {
		ops := map[string]error{
			"Put":    s.Put(ctx, key, []byte("x")),
			"PutNew": s.PutNew(ctx, key, []byte("x")),
			"Delete": s.Delete(ctx, key),
		}
		_, ops["Get"] = s.Get(ctx, key)
		for op, err := range ops {
			if imgrec.ErrorCode(err) != imgrec.EINVALID {
				t.Errorf("%s(%q): got %v, want an %s error", op, key, err, imgrec.EINVALID)
			}
		}
	}
	if names := dirNames(t, parent); !slices.Equal(names, []string{"bucket"}) {
		t.Errorf("parent directory holds %q, want only the bucket", names)
	}
	if names := dirNames(t, filepath.Join(parent, "bucket")); len(names) != 0 {
		t.Errorf("bucket holds %q after rejected writes, want nothing", names)
	}
	long := strings.Repeat("k", 255)
	if err := s.Put(ctx, long, []byte("x")); err != nil {
		t.Errorf("Put of a 255-byte key: %v", err)
	}
}

// A symlink planted in the directory must not let reads or writes escape it.
func TestSymlinkCannotEscape(t *testing.T) {
	parent := t.TempDir()
	secret := filepath.Join(parent, "secret")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "bucket")
	s := open(t, dir)
	if err := os.Symlink(secret, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if b, err := s.Get(t.Context(), "link"); err == nil {
		t.Errorf("Get through a symlink out of the directory returned %q", b)
	}
	infos, err := s.List(t.Context(), "", "", 10)
	if err != nil || len(infos) != 0 {
		t.Errorf("List: %v, %v; want no objects (symlinks are not objects)", infos, err)
	}
	if err := s.Put(t.Context(), "link", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(secret); string(b) != "secret" {
		t.Errorf("Put wrote through the symlink: target now holds %q", b)
	}
}

func TestTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, ".tmp-STALE")
	fresh := filepath.Join(dir, ".tmp-FRESH") // maybe another process's Put in progress
	for _, f := range []string{stale, fresh} {
		if err := os.WriteFile(f, []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	s := open(t, dir)
	if names := dirNames(t, dir); !slices.Equal(names, []string{".tmp-FRESH"}) {
		t.Errorf("after Open the directory holds %q, want only the fresh temporary file", names)
	}
	ctx := t.Context()
	for _, k := range []string{"a", "b", "a"} {
		if err := s.Put(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
		s.PutNew(ctx, k, []byte("again")) // conflicts too must clean up
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{".tmp-FRESH", "a", "b"}) {
		t.Errorf("after writes the directory holds %q, want the objects and no new temporary files", names)
	}
	infos, err := s.List(ctx, "", "", 10)
	if err != nil || len(infos) != 2 {
		t.Errorf("List: %v, %v; want a and b only", infos, err)
	}
}

// Processes share a directory through separate Stores; nothing is cached.
func TestSharedDirectory(t *testing.T) {
	dir := t.TempDir()
	web, worker := open(t, dir), open(t, dir)
	ctx := t.Context()
	if err := web.PutNew(ctx, "img.jpg", []byte("jpeg")); err != nil {
		t.Fatal(err)
	}
	if b, err := worker.Get(ctx, "img.jpg"); err != nil || string(b) != "jpeg" {
		t.Fatalf("Get from the other store: %q, %v", b, err)
	}
	if err := worker.PutNew(ctx, "img.jpg", []byte("other")); imgrec.ErrorCode(err) != imgrec.ECONFLICT {
		t.Errorf("PutNew from the other store: got %v, want a conflict", err)
	}
	if err := worker.Delete(ctx, "img.jpg"); err != nil {
		t.Fatal(err)
	}
	if _, err := web.Get(ctx, "img.jpg"); imgrec.ErrorCode(err) != imgrec.ENOTFOUND {
		t.Errorf("Get after the other store deleted: got %v, want not found", err)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestPutComparesLargeObjectsWhole: an object larger than one read chunk
// that differs only in its last byte is still replaced.
func TestPutComparesLargeObjectsWhole(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ctx := t.Context()
	data := make([]byte, 200<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := s.Put(ctx, "big", data); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(filepath.Join(dir, "big"))
	if err := s.Put(ctx, "big", slices.Clone(data)); err != nil {
		t.Fatal(err)
	}
	same, _ := os.Stat(filepath.Join(dir, "big"))
	if !os.SameFile(before, same) {
		t.Error("a Put of the same 200 KiB replaced the file")
	}
	changed := slices.Clone(data)
	changed[len(changed)-1]++
	if err := s.Put(ctx, "big", changed); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "big")
	if err != nil || !slices.Equal(got, changed) {
		t.Fatalf("after a Put that changed the last byte: %d bytes, equal %v, %v", len(got), slices.Equal(got, changed), err)
	}
}

// TestPutReplacesSymlinkWithSameBytes: a key that is a symbolic link (never
// made by the store) is replaced by a file even if the link's target holds
// the same bytes.
func TestPutReplacesSymlinkWithSameBytes(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ctx := t.Context()
	if err := s.Put(ctx, "a", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a", filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "b", []byte("v")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(filepath.Join(dir, "b"))
	if err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("b after Put: %v, %v; want a regular file", fi.Mode(), err)
	}
}
