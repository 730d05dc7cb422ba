package main

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestNaturalOrder(t *testing.T) {
	want := []string{
		"a", "a0", "a00", "a1", "a01", "a001", "a01b", "a1c", "a2", "a02", "a10", "a010",
		"test_0.JPEG", "test_1.JPEG", "test_2.JPEG", "test_10.JPEG", "test_99.JPEG", "test_100.JPEG",
		"x01y1", "x1y2", "x1y02", "x01y2",
	}
	// Every shuffle sorts the same way: no two different names compare equal.
	r := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		got := slices.Clone(want)
		r.Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
		sortNatural(got)
		if !slices.Equal(got, want) {
			t.Fatalf("sorted\n%q\nwant\n%q", got, want)
		}
	}
	for _, c := range []struct {
		a, b string
		sign int
	}{
		{"a1", "a01", -1},      // fewer leading zeros first
		{"a01", "a1", 1},       // and antisymmetric
		{"a01b", "a1c", -1},    // the text after the number decides before the zeros do
		{"x01y2", "x1y02", 1},  // the first run that differs in zeros decides
		{"x01y1", "x1y02", -1}, // but numbers first, everywhere
		{"a1", "a1", 0},
		{"test_2", "test_10", -1},
	} {
		if got := naturalCompare(c.a, c.b); sign(got) != c.sign {
			t.Errorf("naturalCompare(%q, %q) = %d, want sign %d", c.a, c.b, got, c.sign)
		}
	}
	// A total order: transitive and antisymmetric over every triple.
	for _, a := range want {
		for _, b := range want {
			if sign(naturalCompare(a, b)) != -sign(naturalCompare(b, a)) || (a != b) != (naturalCompare(a, b) != 0) {
				t.Errorf("%q, %q: not antisymmetric", a, b)
			}
			for _, c := range want {
				if naturalCompare(a, b) < 0 && naturalCompare(b, c) < 0 && naturalCompare(a, c) >= 0 {
					t.Errorf("%q < %q < %q but not %q < %q", a, b, c, a, c)
				}
			}
		}
	}
}

func sign(n int) int { return min(max(n, -1), 1) }
