package resnet

import "testing"

// BenchmarkLoad is what every worker process pays once at start.
func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		if _, err := Load(standinPath); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadPacked is the same start-up cost from a packed model.
func BenchmarkLoadPacked(b *testing.B) {
	packed, err := Prepare(standinPath, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Load(packed); err != nil {
			b.Fatal(err)
		}
	}
}
