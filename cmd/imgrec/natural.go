package main

import (
	"slices"
	"strings"
)

// sortNatural orders strings so that runs of digits compare as numbers.
func sortNatural(s []string) { slices.SortFunc(s, naturalCompare) }

// naturalCompare orders a and b by their text, with runs of digits compared
// as numbers: test_2 before test_10. It is a total order, 0 only for equal
// strings: names that differ only in leading zeros (a1, a01, a001) go
// fewer zeros first, decided at the first run that differs so; names that
// are equal even so (a run of digits is no longer than another's, but each
// character matches) fall back to byte order.
func naturalCompare(a, b string) int {
	zeros := 0 // the first tie by leading zeros: <0 if a has fewer
	x, y := a, b
	for len(x) > 0 && len(y) > 0 {
		if isDigit(x[0]) && isDigit(y[0]) {
			nx, rx := digitRun(x)
			ny, ry := digitRun(y)
			// Compare numerically: a longer run without leading zeros is larger.
			tx, ty := trimZeros(nx), trimZeros(ny)
			if len(tx) != len(ty) {
				return len(tx) - len(ty)
			}
			if c := strings.Compare(tx, ty); c != 0 {
				return c
			}
			if zeros == 0 {
				zeros = len(nx) - len(ny)
			}
			x, y = rx, ry
			continue
		}
		if x[0] != y[0] {
			return int(x[0]) - int(y[0])
		}
		x, y = x[1:], y[1:]
	}
	if len(x) != len(y) {
		return len(x) - len(y)
	}
	if zeros != 0 {
		return zeros
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func digitRun(s string) (run, rest string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

func trimZeros(s string) string {
	for len(s) > 1 && s[0] == '0' {
		s = s[1:]
	}
	return s
}
