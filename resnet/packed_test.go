package resnet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgrec/imgrec/nn"
	"github.com/imgrec/imgrec/vision"
)

func TestPackedModelIsTheSameNetwork(t *testing.T) {
	dir := t.TempDir()
	packed, err := Prepare(standinPath, dir)
	if err != nil {
		t.Fatal(err)
	}
	st1, _ := os.Stat(packed)
	again, err := Prepare(standinPath, dir)
	if err != nil || again != packed {
		t.Fatalf("second Prepare: %q %v", again, err)
	}
	if st2, _ := os.Stat(packed); !st2.ModTime().Equal(st1.ModTime()) {
		t.Error("second Prepare rewrote the packed file")
	}
	if p, err := Prepare(packed, dir); err != nil || p != packed {
		t.Fatalf("Prepare of a packed file: %q %v", p, err)
	}
	pm, err := Load(packed)
	if err != nil {
		t.Fatal(err)
	}
	_, imgs := pilImages(t)
	x := nn.Tensor{N: 4, H: 64, W: 64, C: 3}
	for _, img := range imgs[:4] {
		d, _, _ := vision.ProfileReference.Tensor(img)
		x.Data = append(x.Data, d...)
	}
	want := standin(t).Forward(&x)
	got := pm.Forward(&x)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("logit %d: packed %v, original %v", i, got[i], want[i])
		}
	}
}

func TestPackedModelRejectsDamage(t *testing.T) {
	dir := t.TempDir()
	packed, err := Prepare(standinPath, dir)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(packed)
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"truncated":    {data[:len(data)/2], "corrupt packed model"},
		"header only":  {data[:30], "corrupt packed model"},
		"other layout": {append(append(append([]byte{}, data[:16]...), 99, 0, 0, 0), data[20:]...), "weight layout 99"},
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, c.data, 0o644)
		if _, err := Load(p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
}
