package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/resnet"
	"github.com/imgrec/imgrec/vision"
)

func init() {
	register("classify", "label image files with ResNet-18 (no server needed)", runClassify)
}

// classifyChunk bounds how many decoded images are held at once.
const classifyChunk = 64

func runClassify(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "classify", "classify [--model PATH] [--profile reference|imagenet] [--top K] [--json] FILE|DIR...\n\n"+
		"Prints file,label lines (the course's format). With --top K above 1, a header line and\n"+
		"one line per image and rank: file,rank,index,label,logit,probability; the logit is the\n"+
		"network's raw score, the probability its softmax over all 1000 classes.")
	modelFlag := fs.String("model", "", modelUsage)
	profileFlag := fs.String("profile", "reference", "preprocessing: reference (ToTensor only, as the course classifier) or imagenet (resize 256, crop 224, normalise)")
	top := fs.Int("top", 1, "how many labels per image, best first (1-1000), with their logits and probabilities")
	asJSON := fs.Bool("json", false, `print one JSON object per image: {"file":…, "top":[{"index":…, "label":…, "logit":…, "probability":…}]}`)
	maxPixels := fs.Int64("max-pixels", vision.DefaultMaxPixels, "refuse images with more pixels than this")
	paths, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return usagef("no FILE or DIR given")
	}
	if *top < 1 || *top > resnet.NumClasses {
		return usagef("--top %d: must be between 1 and %d", *top, resnet.NumClasses)
	}
	if _, err := vision.ParseProfile(*profileFlag); err != nil {
		return err // before the slow part
	}
	files, err := listImages(paths)
	if err != nil {
		return err
	}
	c, _, err := loadClassifier(*modelFlag, *profileFlag)
	if err != nil {
		return err
	}

	out := csv.NewWriter(e.stdout)
	enc := json.NewEncoder(e.stdout)
	if *top > 1 && !*asJSON {
		out.Write(classifyHeader)
	}
	failed := 0
	for start := 0; start < len(files); start += classifyChunk {
		chunk := files[start:min(start+classifyChunk, len(files))]
		var names []string
		var imgs []*imgrec.Image
		for _, f := range chunk {
			img, err := decodeFile(f, vision.Limits{MaxPixels: *maxPixels})
			if err != nil {
				fmt.Fprintf(e.stderr, "imgrec classify: %s: %v\n", f, err)
				failed++
				continue
			}
			names = append(names, filepath.Base(f))
			imgs = append(imgs, img)
		}
		preds, err := c.Classify(ctx, imgs, *top)
		if err != nil {
			return err
		}
		for i, p := range preds {
			if *asJSON {
				enc.Encode(struct {
					File string              `json:"file"`
					Top  []imgrec.Prediction `json:"top"`
				}{names[i], p})
				continue
			}
			if *top == 1 {
				out.Write([]string{names[i], p[0].Label})
				continue
			}
			for rank, pr := range p {
				out.Write([]string{names[i], strconv.Itoa(rank + 1), strconv.Itoa(pr.Index), pr.Label,
					strconv.FormatFloat(float64(pr.Logit), 'g', -1, 32), strconv.FormatFloat(float64(pr.Probability), 'g', -1, 32)})
			}
		}
		out.Flush()
		if err := out.Error(); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d images could not be classified", failed, len(files))
	}
	return nil
}

// classifyHeader names the columns of classify's CSV with --top above 1.
var classifyHeader = []string{"file", "rank", "index", "label", "logit", "probability"}

func decodeFile(path string, lim vision.Limits) (*imgrec.Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return vision.Decode(b, lim)
}

// imageExts are the files taken from a directory; files named explicitly are
// always tried.
var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".jpe": true, ".png": true}

// listImages expands directories (non-recursively, hidden files skipped) in
// natural order: test_2 before test_10, as the course's CSVs list them.
func listImages(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, imgrec.WrapError(imgrec.ENOTFOUND, err, "%s", p)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, ent := range entries {
			n := ent.Name()
			if ent.Type().IsRegular() && !strings.HasPrefix(n, ".") && imageExts[strings.ToLower(filepath.Ext(n))] {
				names = append(names, n)
			}
		}
		sortNatural(names)
		for _, n := range names {
			files = append(files, filepath.Join(p, n))
		}
	}
	return files, nil
}
