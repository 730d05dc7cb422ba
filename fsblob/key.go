package fsblob

import (
	"strings"
	"unicode/utf8"

	"github.com/imgrec/imgrec"
)

// maxKeyLen is the longest file name Linux and macOS file systems accept.
const maxKeyLen = 255

// checkKey rejects keys that are not plain file names. Keys come from
// clients, so this is what keeps every access inside the store's directory;
// os.Root is the second line of defence. A leading dot is reserved for the
// store's temporary files.
func checkKey(op, key string) error {
	bad := func(why string) error {
		return imgrec.Errorf(imgrec.EINVALID, "%s %q: invalid key: %s", op, key, why)
	}
	switch {
	case key == "":
		return bad("empty")
	case len(key) > maxKeyLen:
		return bad("longer than 255 bytes")
	case strings.HasPrefix(key, "."):
		return bad("starts with '.'")
	case !utf8.ValidString(key):
		return bad("not UTF-8")
	}
	for _, r := range key {
		switch {
		case r == '/' || r == '\\':
			return bad("contains a path separator")
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return bad("contains a control character")
		}
	}
	return nil
}
