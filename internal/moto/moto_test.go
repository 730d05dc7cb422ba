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

// The server runs with the SQS and DynamoDB races closed (server.py), or
// tests that send, receive and delete at once lose messages on a loaded
// machine, and concurrent conditional writes both succeed.
func TestOperationsLocked(t *testing.T) {
	s := Shared(t)
	for _, want := range []string{"imgrec: SQS operations locked", "imgrec: DynamoDB item operations locked"} {
		for deadline := time.Now().Add(startWait); !strings.Contains(s.logs.String(), want); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in moto's log:\n%s", want, s.logs.String())
			}
		}
	}
}
