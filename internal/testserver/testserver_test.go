package testserver_test

import (
	"strings"
	"testing"

	"github.com/imgrec/imgrec/internal/testserver"
)

func TestSharedStartsOnce(t *testing.T) {
	starts, stops := 0, 0
	k := &testserver.Kind[int]{
		Name: "counter", Require: "IMGREC_REQUIRE_COUNTER",
		Start: func() (int, error) { starts++; return starts, nil },
		Stop:  func(int) { stops++ },
	}
	if a, b := k.Shared(t), k.Shared(t); a != 1 || b != 1 || starts != 1 {
		t.Errorf("two Shared: %d and %d after %d starts; want the one server", a, b, starts)
	}
	t.Run("own", func(t *testing.T) {
		if s := k.Own(t); s != 2 {
			t.Errorf("Own: %d, want a second server", s)
		}
	})
	if stops != 1 {
		t.Errorf("%d stops once the test that owned a server ended, want 1", stops)
	}
}

func TestOutput(t *testing.T) {
	all, tail := &testserver.Output{}, &testserver.Output{Max: 4}
	for _, s := range []string{"abc", "def", "g"} {
		all.Write([]byte(s))
		tail.Write([]byte(s))
	}
	if all.String() != "abcdefg" || tail.String() != "defg" {
		t.Errorf("Output: %q and, keeping 4, %q; want all and the last 4", all, tail)
	}
	big := &testserver.Output{Max: 4}
	big.Write([]byte(strings.Repeat("x", 10) + "yz"))
	if big.String() != "xxyz" {
		t.Errorf("one write longer than Max: kept %q", big)
	}
}
