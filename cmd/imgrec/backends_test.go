package main

import (
	"context"
	"errors"
	"testing"
)

func TestOpenBuckets(t *testing.T) {
	dir := t.TempDir()
	for _, spec := range []string{dir, "file://" + dir, "file://" + dir + "?sync=0", "file://" + dir + "?sync=1"} {
		b, err := openBuckets(spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if err := b.output.Put(context.Background(), "k", []byte("v")); err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
	}
	var ue *usageError
	for _, spec := range []string{"file://" + dir + "?sync=maybe", "s3://bucket", "file://"} {
		if _, err := openBuckets(spec); !errors.As(err, &ue) {
			t.Errorf("%s: err = %v, want a usage error", spec, err)
		}
	}
}
