package inmem_test

import (
	"strings"
	"testing"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/inmem"
	"github.com/imgrec/imgrec/internal/conformance"
)

func TestStoreConformance(t *testing.T) {
	conformance.BlobStore(t, func(t *testing.T) imgrec.BlobStore { return inmem.NewStore() })
}

// TestStoreKeysAsFsblob refuses what fsblob refuses, so code tested on the
// in-memory store meets the same rules on a real one.
func TestStoreKeysAsFsblob(t *testing.T) {
	s := inmem.NewStore()
	ctx := t.Context()
	for _, key := range []string{"", "a/b.jpg", `a\b.jpg`, ".hidden", "tab\there", "bad\xffutf8", strings.Repeat("k", 256)} {
		_, getErr := s.Get(ctx, key)
		for op, err := range map[string]error{
			"Put": s.Put(ctx, key, []byte("x")), "PutNew": s.PutNew(ctx, key, []byte("x")),
			"Get": getErr, "Delete": s.Delete(ctx, key),
		} {
			if imgrec.ErrorCode(err) != imgrec.EINVALID {
				t.Errorf("%s(%q): %v; want EINVALID", op, key, err)
			}
		}
	}
	if infos, err := s.List(ctx, "", "", 10); err != nil || len(infos) != 0 {
		t.Errorf("List after refused writes: %v, %v; want nothing", infos, err)
	}
}
