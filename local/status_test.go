package local

import (
	"slices"
	"strings"
	"testing"
)

func TestScanStatus(t *testing.T) {
	in := "ready\n" +
		"\n   \n" + // blank
		"  busy  request-42 \r\n" + // white space and words after the first
		strings.Repeat("z", 1000) + "idle\n" + // over-long: skipped whole
		"idle\n" +
		"unknown\n" +
		"busy" // unterminated: the worker died mid-write
	var got []string
	scanStatus(strings.NewReader(in), func(w string) { got = append(got, w) })
	if want := []string{"ready", "busy", "idle", "unknown"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
