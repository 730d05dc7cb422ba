package main

import (
	"bytes"
	"os"
	"testing"
)

// /dev/null is a character device but no terminal: a prompt or a progress
// bar there would go nowhere, and infra down must refuse to ask.
func TestIsTerminal(t *testing.T) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if isTerminal(null) {
		t.Error("/dev/null taken for a terminal")
	}
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a buffer taken for a terminal")
	}
}
