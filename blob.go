package imgrec

import (
	"context"
	"time"
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
