package resnet

import (
	"fmt"
	"path/filepath"
	"regexp"
)

// digestLen is how many hex digits of the weights' SHA-256 name them: as
// many as the packed file's name carries.
const digestLen = 16

// packedName is the name Prepare gives a packed copy of a .pth file.
var packedName = regexp.MustCompile(`^resnet18-([0-9a-f]{16})\.v\d+\.packed$`)

// Digest names the weights a model file holds, for the result cache: the
// first 16 hex digits of the .pth file's SHA-256, read from the name of a
// packed copy that Prepare made (so serve's workers, which map the packed
// file, and a worker that loads the .pth agree, and neither hashes 47 MB
// at start). Any other packed file is named by its own SHA-256 with a "p"
// in front, which costs cache misses against the .pth's digest, never a
// wrong answer.
func Digest(path string) (string, error) {
	if m := packedName.FindStringSubmatch(filepath.Base(path)); m != nil && IsPacked(path) {
		return m[1], nil
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return "", fmt.Errorf("digest of %s: %w", path, err)
	}
	if IsPacked(path) {
		return "p" + sum[:digestLen], nil
	}
	return sum[:digestLen], nil
}
