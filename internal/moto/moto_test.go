package moto

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSharedServerAnswers(t *testing.T) {
	s := Shared(t)
	resp, err := http.Get(s.Endpoint + "/moto-api/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /moto-api/: %s", resp.Status)
	}
	s.Reset(t)
}

// The server runs with the SQS races closed (server.py), or tests that send,
// receive and delete at once lose messages on a loaded machine.
func TestSQSOperationsLocked(t *testing.T) {
	s := Shared(t)
	for deadline := time.Now().Add(startWait); !strings.Contains(s.logs.String(), "imgrec: SQS operations locked"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("moto's SQS operations are not locked; its log:\n%s", s.logs.String())
		}
	}
}
