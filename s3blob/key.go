package s3blob

import (
	"strings"
	"unicode/utf8"

	"github.com/imgrec/imgrec"
)

// maxKeyLen matches fsblob's, whose keys are file names: both backends
// accept the same keys, so a deployment can move between them.
const maxKeyLen = 255

// checkKey applies fsblob's rules (fsblob/key.go): a plain file name,
// UTF-8, no control characters, no leading dot. S3 itself would take
// more, but a key one backend refuses must not work on the other.
func checkKey(op, bucket, key string) error {
	bad := func(why string) error {
		return imgrec.Errorf(imgrec.EINVALID, "s3blob: %s %q in bucket %s: invalid key: %s", op, key, bucket, why)
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
