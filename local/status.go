package local

import (
	"bufio"
	"io"
	"strings"
)

// scanStatus calls fn with the first word of each newline-terminated line
// read from r until r fails. It skips blank lines, lines longer than a
// status word could be, and an unterminated last line. It never stops
// reading early: a worker blocked on a full pipe would hang.
func scanStatus(r io.Reader, fn func(word string)) {
	br := bufio.NewReaderSize(r, 256)
	overlong := false
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == bufio.ErrBufferFull:
			overlong = true
			continue
		case err != nil:
			return
		case overlong:
			overlong = false // the end of an over-long line
			continue
		}
		if fields := strings.Fields(string(line)); len(fields) > 0 {
			fn(fields[0])
		}
	}
}
