package imgrec_test

import (
	"testing"

	"github.com/imgrec/imgrec"
)

func TestOutputKey(t *testing.T) {
	for in, want := range map[string]string{
		"test_0.JPEG": "test_0", "a.b.png": "a.b", "noext": "noext", "x-1f2e.JPEG": "x-1f2e",
	} {
		if got := imgrec.OutputKey(in); got != want {
			t.Errorf("OutputKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOutputRecord(t *testing.T) {
	for _, r := range []imgrec.OutputRecord{
		{"test_0", "bathtub"},
		{"test_1", "crane (bird)"},  // a label with parentheses
		{"a, b", "electric guitar"}, // a name with the separator in it
	} {
		v := r.String()
		got, err := imgrec.ParseOutputRecord(v)
		if err != nil || got != r {
			t.Errorf("ParseOutputRecord(%q) = %+v, %v; want %+v", v, got, err, r)
		}
	}
	if v := (imgrec.OutputRecord{"test_0", "bathtub"}).String(); v != "(test_0, bathtub)" {
		t.Errorf("stored value %q, want the course's (test_0, bathtub)", v)
	}
	for _, bad := range []string{"", "test_0, bathtub", "(test_0 bathtub)", "(test_0, bathtub", "test_0, bathtub)"} {
		if _, err := imgrec.ParseOutputRecord(bad); imgrec.ErrorCode(err) != imgrec.EINVALID {
			t.Errorf("ParseOutputRecord(%q): err %v, want %s", bad, err, imgrec.EINVALID)
		}
	}
}
