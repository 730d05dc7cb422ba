package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// execute runs a command in-process and returns its exit code and output.
func execute(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errs bytes.Buffer
	code = run(ctx, &env{strings.NewReader(""), &out, &errs}, args)
	return code, out.String(), errs.String()
}

func runImgrec(t *testing.T, args ...string) (int, string, string) {
	return execute(t.Context(), args...)
}

func TestClassifyPrintsTheExpectedCSV(t *testing.T) {
	want, err := os.ReadFile(filepath.Join(sharedDir, "models/resnet18-standin-expected.csv"))
	if err != nil {
		t.Fatal(err)
	}
	// The issue's own spelling: flags after the directory.
	code, out, errs := runImgrec(t, "classify", filepath.Join(sharedDir, "data/imagenet-100"), "--model", standinModel)
	if code != 0 || out != string(want) {
		t.Fatalf("exit %d, stderr %q; stdout differs from the expected CSV:\n%s", code, errs, out)
	}
}

func TestClassifyJSONAndTop(t *testing.T) {
	img := filepath.Join(sharedDir, "data/imagenet-100/test_0.JPEG")
	code, out, _ := runImgrec(t, "classify", "--model", standinModel, "--top", "3", "--json", img)
	var got struct {
		File string
		Top  []struct {
			Index int
			Label string
			Logit float64
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || got.File != "test_0.JPEG" || len(got.Top) != 3 ||
		got.Top[0].Index != 546 || got.Top[0].Label != "electric guitar" || got.Top[0].Logit < got.Top[1].Logit {
		t.Fatalf("exit %d: %s", code, out)
	}
	code, out, _ = runImgrec(t, "classify", "--model", standinModel, "--top", "2", img)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != 3 || lines[0] != "file,rank,index,label,logit,probability" ||
		!strings.HasPrefix(lines[1], "test_0.JPEG,1,546,electric guitar,") || !strings.HasPrefix(lines[2], "test_0.JPEG,2,") {
		t.Fatalf("csv top 2: %d %q", code, out)
	}
}

// TestClassifyProbabilities: --top 1000 gives every class's probability,
// which add up to 1, and test_0's top-1 probability is the softmax of
// torch's logits for it (../shared/models/resnet18-standin-logits.f32,
// row 0), computed here in float64 from the stored logits.
func TestClassifyProbabilities(t *testing.T) {
	img := filepath.Join(sharedDir, "data/imagenet-100/test_0.JPEG")
	code, out, errs := runImgrec(t, "classify", "--model", standinModel, "--top", "1000", "--json", img)
	var got struct {
		Top []struct {
			Index       int
			Logit       float64
			Probability *float64
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || len(got.Top) != 1000 {
		t.Fatalf("exit %d, %s: %.200s", code, errs, out)
	}
	sum := 0.0
	for _, p := range got.Top {
		if p.Probability == nil || *p.Probability < 0 || *p.Probability > 1 {
			t.Fatalf("prediction %+v: want a probability in [0, 1]", p)
		}
		sum += *p.Probability
	}
	if math.Abs(sum-1) > 1e-4 {
		t.Errorf("probabilities add up to %v, want 1", sum)
	}

	raw, err := os.ReadFile(filepath.Join(sharedDir, "models/resnet18-standin-logits.f32"))
	if err != nil {
		t.Fatal(err)
	}
	logits := make([]float64, 1000) // row 0 is test_0 (manifest.json)
	top := 0
	for i := range logits {
		logits[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
		if logits[i] > logits[top] {
			top = i
		}
	}
	denom := 0.0
	for _, l := range logits {
		denom += math.Exp(l - logits[top])
	}
	want := 1 / denom // exp(top - top) / Σ
	best := got.Top[0]
	if best.Index != top || math.Abs(*best.Probability-want) > 1e-3*want {
		t.Errorf("top-1 class %d probability %v (logit %v); torch's logits give class %d probability %v (logit %v)",
			best.Index, *best.Probability, best.Logit, top, want, logits[top])
	}
	t.Logf("test_0: class %d, logit %.4f, probability %.6f (from torch's logits %.6f)", best.Index, best.Logit, *best.Probability, want)
}

func TestClassifyErrors(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("IMGREC_MODEL", "")
	img := filepath.Join(sharedDir, "data/imagenet-100/test_1.JPEG")
	code, _, errs := runImgrec(t, "classify", img)
	if code != 1 || !strings.Contains(errs, "imgrec model pull") {
		t.Errorf("no model: exit %d, %q", code, errs)
	}
	code, _, errs = runImgrec(t, "classify", "--model", standinModel)
	if code != 2 || !strings.Contains(errs, "no FILE or DIR") {
		t.Errorf("no files: exit %d, %q", code, errs)
	}
	code, _, errs = runImgrec(t, "classify", "--model", standinModel, "--profile", "fancy", img)
	if code != 2 || !strings.Contains(errs, "reference") {
		t.Errorf("bad profile: exit %d, %q", code, errs)
	}
	notModel := filepath.Join(t.TempDir(), "x.pth")
	os.WriteFile(notModel, []byte("hello"), 0o644)
	code, _, errs = runImgrec(t, "classify", "--model", notModel, img)
	if code != 1 || !strings.Contains(errs, "not a torch.save zip") {
		t.Errorf("not a model: exit %d, %q", code, errs)
	}
	// A bad file among good ones: the good ones are still labelled.
	bad := filepath.Join(t.TempDir(), "bad.jpg")
	os.WriteFile(bad, []byte("not an image"), 0o644)
	code, out, errs := runImgrec(t, "classify", "--model", standinModel, img, bad)
	if code != 1 || !strings.HasPrefix(out, "test_1.JPEG,") || !strings.Contains(errs, "bad.jpg") || !strings.Contains(errs, "1 of 2") {
		t.Errorf("mixed: exit %d, out %q, err %q", code, out, errs)
	}
}

func TestModelPullAndPath(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv("IMGREC_MODEL", "")
	weights, err := os.ReadFile(standinModel)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(weights)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(weights) }))
	defer srv.Close()

	code, _, errs := runImgrec(t, "model", "path")
	if code != 1 || !strings.Contains(errs, "imgrec model pull") {
		t.Fatalf("path before pull: %d %q", code, errs)
	}
	code, out, errs := runImgrec(t, "model", "pull", "--url", srv.URL+"/resnet18.pth", "--sha256", hex.EncodeToString(sum[:]))
	dest := filepath.Join(cache, "imgrec", "resnet18-f37072fd.pth")
	if code != 0 || strings.TrimSpace(out) != dest {
		t.Fatalf("pull: %d %q %q", code, out, errs)
	}
	code, out, _ = runImgrec(t, "model", "path")
	if code != 0 || strings.TrimSpace(out) != dest {
		t.Fatalf("path after pull: %d %q", code, out)
	}
	// The pulled weights are found without --model.
	code, out, _ = runImgrec(t, "classify", filepath.Join(sharedDir, "data/imagenet-100/test_0.JPEG"))
	if code != 0 || out != "test_0.JPEG,electric guitar\n" {
		t.Fatalf("classify with pulled weights: %d %q", code, out)
	}
	code, _, errs = runImgrec(t, "model", "pull", "--url", srv.URL+"/resnet18.pth", "--dest", filepath.Join(t.TempDir(), "m.pth"))
	if code != 1 || !strings.Contains(errs, "sha256 is") {
		t.Fatalf("official digest against other bytes: %d %q", code, errs)
	}
}

func TestHelp(t *testing.T) {
	for _, cmd := range []string{"classify", "serve", "web", "worker", "controller", "loadgen"} {
		code, _, errs := runImgrec(t, cmd, "-h")
		if code != 0 || !strings.Contains(errs, "Usage: imgrec "+cmd) {
			t.Errorf("%s -h: %d %q", cmd, code, errs)
		}
	}
	if code, _, errs := runImgrec(t, "frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Errorf("unknown command: %d %q", code, errs)
	}
}
