//go:build !unix

package localnova

// lockStart: run-nova.sh is a Linux script; elsewhere there is nothing to
// serialise.
func lockStart() (func(), error) { return func() {}, nil }
