package conformance

import (
	"testing"

	"github.com/imgrec/imgrec"
)

func mustPut(t *testing.T, s imgrec.BlobStore, key string, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, data); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func mustGet(t *testing.T, s imgrec.BlobStore, key string) []byte {
	t.Helper()
	b, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return b
}

func mustList(t *testing.T, s imgrec.BlobStore, prefix, after string, limit int) []imgrec.BlobInfo {
	t.Helper()
	infos, err := s.List(t.Context(), prefix, after, limit)
	if err != nil {
		t.Fatalf("List(prefix %q, after %q, limit %d): %v", prefix, after, limit, err)
	}
	return infos
}

func keysOf(infos []imgrec.BlobInfo) []string {
	var keys []string
	for _, in := range infos {
		keys = append(keys, in.Key)
	}
	return keys
}
