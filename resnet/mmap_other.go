//go:build !unix

package resnet

import "os"

// mapFile reads the file where memory mapping is not available.
func mapFile(path string) ([]byte, error) { return os.ReadFile(path) }
