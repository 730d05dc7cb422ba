package resnet

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/imgrec/imgrec"
)

// The official torchvision ImageNet weights (IMAGENET1K_V1).
const (
	WeightsFile   = "resnet18-f37072fd.pth"
	WeightsURL    = "https://download.pytorch.org/models/" + WeightsFile
	WeightsSHA256 = "f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec"
	WeightsSize   = 46830571
)

// ModelEnv names the environment variable consulted when no --model is given.
const ModelEnv = "IMGREC_MODEL"

// CacheDir is where `imgrec model pull` puts the weights: $XDG_CACHE_HOME/imgrec
// (or the platform's user cache directory).
func CacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: %w (set XDG_CACHE_HOME or HOME)", err)
	}
	return filepath.Join(dir, "imgrec"), nil
}

// Locate finds the weights: the explicit path if given, then $IMGREC_MODEL,
// then the cache directory. The error tells the user how to get a model.
func Locate(explicit string) (string, error) {
	for _, c := range []struct{ path, from string }{
		{explicit, "--model"},
		{os.Getenv(ModelEnv), "$" + ModelEnv},
	} {
		if c.path == "" {
			continue
		}
		if _, err := os.Stat(c.path); err != nil {
			return "", imgrec.Errorf(imgrec.ENOTFOUND, "model %s (from %s): %v", c.path, c.from, unwrapPathError(err))
		}
		return c.path, nil
	}
	dir, err := CacheDir()
	if err == nil {
		p := filepath.Join(dir, WeightsFile)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", imgrec.Errorf(imgrec.ENOTFOUND,
		"no ResNet-18 weights found: run `imgrec model pull` to download them (%.1f MB) into %s, or pass --model PATH or set %s",
		float64(WeightsSize)/1e6, dir, ModelEnv)
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
