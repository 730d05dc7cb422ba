package resnet

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/nn"
	"github.com/imgrec/imgrec/pth"
	"github.com/imgrec/imgrec/vision"
)

const shared = "../../shared"

var standinPath = filepath.Join(shared, "models/resnet18-standin.pth")

// pilImages returns the 100 course images as PIL decoded them, in manifest order.
func pilImages(t testing.TB) (names []string, imgs []*imgrec.Image) {
	t.Helper()
	var manifest struct {
		Images []struct {
			File          string
			Width, Height int
			Offset        int `json:"rgb_offset"`
			Len           int `json:"rgb_len"`
		}
	}
	b, err := os.ReadFile(filepath.Join(shared, "models/manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &manifest); err != nil {
		t.Fatal(err)
	}
	rgb, err := os.ReadFile(filepath.Join(shared, "models/pil-rgb.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range manifest.Images {
		names = append(names, m.File)
		imgs = append(imgs, &imgrec.Image{Width: m.Width, Height: m.Height, Pix: rgb[m.Offset : m.Offset+m.Len]})
	}
	return names, imgs
}

func readExpected(t testing.TB, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, row := range rows {
		if row[0] != "file" {
			m[row[0]] = row[1]
		}
	}
	return m
}

var loaded struct {
	m   *Model
	err error
}

func standin(t testing.TB) *Model {
	t.Helper()
	if loaded.m == nil && loaded.err == nil {
		loaded.m, loaded.err = Load(standinPath)
	}
	if loaded.err != nil {
		t.Fatal(loaded.err)
	}
	return loaded.m
}

// TestStandinMatchesTorch feeds PIL's own pixels to the stand-in network and
// compares every logit with torch's.
func TestStandinMatchesTorch(t *testing.T) {
	m := standin(t)
	names, imgs := pilImages(t)
	raw, err := os.ReadFile(filepath.Join(shared, "models/resnet18-standin-logits.f32"))
	if err != nil {
		t.Fatal(err)
	}
	expected := readExpected(t, filepath.Join(shared, "models/resnet18-standin-expected.csv"))
	var maxErr float64
	correct := 0
	for start := 0; start < len(imgs); start += 8 {
		end := min(start+8, len(imgs))
		x := nn.Tensor{N: end - start, H: 64, W: 64, C: 3}
		for _, img := range imgs[start:end] {
			d, _, _ := vision.ProfileReference.Tensor(img)
			x.Data = append(x.Data, d...)
		}
		logits := m.Forward(&x)
		for j := range end - start {
			i := start + j
			row := logits[j*NumClasses : (j+1)*NumClasses]
			for c := range NumClasses {
				want := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*(i*NumClasses+c):]))
				maxErr = max(maxErr, math.Abs(float64(row[c]-want)))
			}
			if got := TopK(row, 1)[0].Label; got == expected[names[i]] {
				correct++
			} else {
				t.Errorf("%s: got %q, torch says %q", names[i], got, expected[names[i]])
			}
		}
	}
	t.Logf("max |logit - torch| = %.3g over 100 images × 1000 classes; %d/100 labels", maxErr, correct)
	if maxErr > 5e-3 {
		t.Errorf("max logit error %.3g exceeds 5e-3", maxErr)
	}
}

// TestClassifyCourseImages runs the whole path a user runs: JPEG bytes →
// decoder → profile → batched network → labels.
func TestClassifyCourseImages(t *testing.T) {
	c := &Classifier{Model: standin(t), Profile: vision.ProfileReference}
	expected := readExpected(t, filepath.Join(shared, "models/resnet18-standin-expected.csv"))
	checkFolder(t, c, expected)
}

// TestRealWeights checks the course's expected labels when the real
// torchvision weights are available.
func TestRealWeights(t *testing.T) {
	path := os.Getenv("IMGREC_REAL_MODEL")
	if path == "" {
		path = filepath.Join(shared, "models", WeightsFile)
	}
	if _, err := os.Stat(path); err != nil {
		t.Skipf("real weights not present (%s; see ../shared/models/README.md, or set IMGREC_REAL_MODEL): run `imgrec model pull` where the internet is reachable", path)
	}
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	checkFolder(t, &Classifier{Model: m, Profile: vision.ProfileReference},
		readExpected(t, filepath.Join(shared, "data/classification_results.csv")))
}

func checkFolder(t *testing.T, c *Classifier, expected map[string]string) {
	t.Helper()
	dir := filepath.Join(shared, "data/imagenet-100")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var imgs []*imgrec.Image
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		img, err := vision.Decode(b, vision.Limits{})
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		names = append(names, e.Name())
		imgs = append(imgs, img)
	}
	preds, err := c.Classify(context.Background(), imgs, 1)
	if err != nil {
		t.Fatal(err)
	}
	correct := 0
	for i, p := range preds {
		if p[0].Label == expected[names[i]] {
			correct++
		} else {
			t.Errorf("%s: got %q, want %q", names[i], p[0].Label, expected[names[i]])
		}
	}
	if len(preds) != 100 || correct != 100 {
		t.Errorf("%d/%d correct", correct, len(preds))
	}
}

func TestBatchDoesNotChangeAnswers(t *testing.T) {
	m := standin(t)
	_, imgs := pilImages(t)
	single := &Classifier{Model: m, Profile: vision.ProfileReference, MaxBatch: 1}
	batched := &Classifier{Model: m, Profile: vision.ProfileReference, MaxBatch: 8}
	a, err := single.Classify(context.Background(), imgs[:11], 5)
	if err != nil {
		t.Fatal(err)
	}
	b, err := batched.Classify(context.Background(), imgs[:11], 5)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		for j := range a[i] {
			if a[i][j].Index != b[i][j].Index || math.Abs(float64(a[i][j].Logit-b[i][j].Logit)) > 1e-4 {
				t.Fatalf("image %d rank %d: batch 1 %+v, batch 8 %+v", i, j, a[i][j], b[i][j])
			}
		}
	}
}

func TestClassifyRejectsTinyImage(t *testing.T) {
	c := &Classifier{Model: standin(t), Profile: vision.ProfileReference}
	_, err := c.Classify(context.Background(), []*imgrec.Image{{Width: 8, Height: 8, Pix: make([]byte, 8*8*3)}}, 1)
	if imgrec.ErrorCode(err) != imgrec.EINVALID {
		t.Fatalf("err = %v, want EINVALID", err)
	}
}

func TestRejectsOtherStateDicts(t *testing.T) {
	sd, err := pth.Load(standinPath)
	if err != nil {
		t.Fatal(err)
	}
	delete(sd, "layer3.1.bn2.running_var")
	sd["head.weight"] = &pth.Tensor{Shape: []int{1}, DType: "float32", F32: []float32{1}}
	sd["fc.weight"] = &pth.Tensor{Shape: []int{10, 512}, DType: "float32", F32: make([]float32, 5120)}
	_, err = New(sd)
	for _, want := range []string{"not a ResNet-18", "missing: layer3.1.bn2.running_var", "unexpected: head.weight", "fc.weight is [10 512], want [1000 512]"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to say %q", err, want)
		}
	}
}

func TestEmbeddedLabelsAreTheCourseLabels(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(shared, "data/imagenet-labels.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, labelsJSON) {
		t.Fatal("resnet/labels.json differs from ../shared/data/imagenet-labels.json")
	}
	if l := Labels(); l[0] != "tench" || l[999] == "" {
		t.Fatalf("labels: %q … %q", l[0], l[999])
	}
}

func TestTopKOrderAndTies(t *testing.T) {
	logits := make([]float32, NumClasses)
	logits[7], logits[3], logits[500] = 2, 2, 5
	p := TopK(logits, 3)
	if p[0].Index != 500 || p[1].Index != 3 || p[2].Index != 7 {
		t.Fatalf("TopK = %+v", p)
	}
	all := TopK(logits, NumClasses)
	for i := 1; i < len(all); i++ {
		if all[i].Logit > all[i-1].Logit || (all[i].Logit == all[i-1].Logit && all[i].Index < all[i-1].Index) {
			t.Fatalf("TopK(1000) out of order at %d: %+v %+v", i, all[i-1], all[i])
		}
	}
}

// TestTopKProbabilities: the softmax over all logits, stable where a naive
// exp would overflow (logits of 1000) or lose the small terms.
func TestTopKProbabilities(t *testing.T) {
	logits := make([]float32, NumClasses)
	logits[1], logits[2] = 1000, 1000
	p := TopK(logits, 3)
	if p[0].Probability != 0.5 || p[1].Probability != 0.5 || p[2].Probability != 0 {
		t.Errorf("two logits of 1000: %+v, want 0.5, 0.5, 0", p)
	}
	// All equal: 1/1000 each.
	clear(logits)
	for _, pr := range TopK(logits, NumClasses) {
		if math.Abs(float64(pr.Probability)-0.001) > 1e-9 {
			t.Fatalf("uniform logits: %+v, want 0.001", pr)
		}
	}
	// ln 3 above the rest: 3/(3+999).
	logits[42] = float32(math.Log(3))
	p = TopK(logits, 2)
	if math.Abs(float64(p[0].Probability)-3.0/1002) > 1e-7 || math.Abs(float64(p[1].Probability)-1.0/1002) > 1e-7 {
		t.Errorf("ln 3 above 999 zeros: %+v, want %g then %g", p, 3.0/1002, 1.0/1002)
	}
}
