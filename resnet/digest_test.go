package resnet

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDigest: a .pth and the packed copy Prepare makes of it have one
// digest, the start of the .pth's SHA-256; a packed file under another name
// has its own.
func TestDigest(t *testing.T) {
	sum, err := fileSHA256(standinPath)
	if err != nil {
		t.Fatal(err)
	}
	fromPth, err := Digest(standinPath)
	if err != nil || fromPth != sum[:16] {
		t.Fatalf("Digest(.pth) = %q, %v; want %q", fromPth, err, sum[:16])
	}
	packed, err := Prepare(standinPath, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if d, err := Digest(packed); err != nil || d != fromPth {
		t.Errorf("Digest(%s) = %q, %v; want the .pth's %q", filepath.Base(packed), d, err, fromPth)
	}
	renamed := filepath.Join(t.TempDir(), "mine.packed")
	b, err := os.ReadFile(packed)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(renamed, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if d, err := Digest(renamed); err != nil || len(d) != 17 || d[0] != 'p' || d == "p"+fromPth {
		t.Errorf("Digest(renamed packed file) = %q, %v; want its own, p + 16 hex", d, err)
	}
}
