package imgrec

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// BlobStore is a bucket of small objects: the input bucket holds uploaded
// images under their (sanitised) file names, the output bucket holds
// "(name, label)" under the file name without extension.
type BlobStore interface {
	// Put stores data under key, replacing what was there.
	Put(ctx context.Context, key string, data []byte) error
	// PutNew stores data under key only if key is free; otherwise it
	// returns an ECONFLICT error and leaves the stored object alone.
	PutNew(ctx context.Context, key string, data []byte) error
	// Get returns the object or an ENOTFOUND error.
	Get(ctx context.Context, key string) ([]byte, error)
	// List returns up to limit objects whose keys start with prefix and sort
	// after the key after, in key order.
	List(ctx context.Context, prefix, after string, limit int) ([]BlobInfo, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// BlobInfo describes a stored object.
type BlobInfo struct {
	Key      string    `json:"key"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
}

// MaxKeyLen is the longest key: the longest file name Linux and macOS file
// systems accept, since the filesystem backend stores a key as a file name.
const MaxKeyLen = 255

// CheckKey rejects keys that are not plain file names: empty, longer than
// MaxKeyLen, starting with '.' (reserved for backends' temporary objects),
// not UTF-8, or holding a path separator or a control character. Keys come
// from clients; every backend applies the same rules, so a deployment can
// move between them and no key reaches outside its bucket.
func CheckKey(key string) error {
	bad := func(why string) error {
		return Errorf(EINVALID, "invalid key %q: %s", key, why)
	}
	switch {
	case key == "":
		return bad("empty")
	case len(key) > MaxKeyLen:
		return bad("longer than 255 bytes")
	case strings.HasPrefix(key, "."):
		return bad("starts with '.'")
	case !utf8.ValidString(key):
		return bad("not UTF-8")
	}
	for _, r := range key {
		switch {
		case r == '/' || r == '\\':
			return bad("contains a path separator")
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return bad("contains a control character")
		}
	}
	return nil
}
