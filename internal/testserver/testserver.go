// Package testserver is what the packages that start a server process for
// tests (moto, localnova) share: one server for a whole test binary or one
// of a test's own, the skip — or, where CI requires the server, the failure
// — of a test whose server cannot start, the server's output kept for
// failure messages, and a server that dies with the test binary.
package testserver

import (
	"os"
	"sync"
	"testing"
)

// Kind is one kind of server and how tests get one.
type Kind[S any] struct {
	// Name is the server in messages: "moto server", "local Nova".
	Name string
	// Require is the environment variable that, set to 1 (as CI sets it),
	// makes a server that cannot start fail the test instead of skipping
	// it: IMGREC_REQUIRE_MOTO.
	Require string
	// Hint follows the reason in a skipped test's message: how to get the
	// server.
	Hint string
	// Start starts a server; Stop stops one that Start started.
	Start func() (S, error)
	Stop  func(S)

	once   sync.Once
	shared S
	err    error
}

// Shared returns one server for the whole test binary, started on first
// use; it lives until the process exits.
func (k *Kind[S]) Shared(t testing.TB) S {
	t.Helper()
	k.once.Do(func() { k.shared, k.err = k.Start() })
	if k.err != nil {
		k.skipOrFail(t, k.err)
	}
	return k.shared
}

// Own starts a server of the test's own, stopped when the test ends.
func (k *Kind[S]) Own(t testing.TB) S {
	t.Helper()
	s, err := k.Start()
	if err != nil {
		k.skipOrFail(t, err)
	}
	t.Cleanup(func() { k.Stop(s) })
	return s
}

func (k *Kind[S]) skipOrFail(t testing.TB, err error) {
	t.Helper()
	if os.Getenv(k.Require) == "1" {
		t.Fatalf("%s: %v", k.Name, err)
	}
	t.Skipf("%s unavailable (%v); %s", k.Name, err, k.Hint)
}
