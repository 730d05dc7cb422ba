package moto

import (
	"net/http"
	"testing"
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
