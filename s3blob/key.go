package s3blob

import (
	"fmt"

	"github.com/imgrec/imgrec"
)

// checkKey applies the keys' rules shared by every backend (imgrec.CheckKey).
// S3 itself would take more, but a key one backend refuses must not work on
// another.
func checkKey(op, bucket, key string) error {
	if err := imgrec.CheckKey(key); err != nil {
		return fmt.Errorf("s3blob: %s in bucket %s: %w", op, bucket, err)
	}
	return nil
}
