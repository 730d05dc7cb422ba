package main

import (
	"testing"

	"github.com/imgrec/imgrec/natsq"
)

// What the tests that run the tiers as separate processes share.

// natsAndFiles starts an embedded NATS server that processes reach at its
// URL, with its data in a directory of the test's, for the caller to close,
// and returns it with a URL for file buckets (file://DIR) in another.
func natsAndFiles(t *testing.T) (*natsq.Queue, string) {
	t.Helper()
	nats, err := natsq.Embedded(natsq.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return nats, "file://" + t.TempDir()
}
