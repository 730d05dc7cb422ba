package main

import "slices"

// sortNatural orders strings so that runs of digits compare as numbers.
func sortNatural(s []string) { slices.SortFunc(s, naturalCompare) }

func naturalCompare(a, b string) int {
	for len(a) > 0 && len(b) > 0 {
		if isDigit(a[0]) && isDigit(b[0]) {
			na, ra := digitRun(a)
			nb, rb := digitRun(b)
			// Compare numerically: longer run (without leading zeros) is larger.
			ta, tb := trimZeros(na), trimZeros(nb)
			if len(ta) != len(tb) {
				return len(ta) - len(tb)
			}
			if ta != tb {
				if ta < tb {
					return -1
				}
				return 1
			}
			a, b = ra, rb
			continue
		}
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
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
