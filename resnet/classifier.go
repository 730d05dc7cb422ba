package resnet

import (
	"context"
	"fmt"
	"math"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/nn"
	"github.com/imgrec/imgrec/vision"
)

// DefaultMaxBatch is how many same-sized images go through the network at once.
const DefaultMaxBatch = 8

// minSide is the smallest input ResNet-18 accepts: below it the stride-32
// stages run out of pixels.
const minSide = 32

// Classifier runs a Model on decoded images with a preprocessing profile.
type Classifier struct {
	Model    *Model
	Profile  vision.Profile
	MaxBatch int // 0 means DefaultMaxBatch
}

var _ imgrec.Classifier = (*Classifier)(nil)

// Classify returns each image's top-k predictions. Images of the same size
// are batched together; the answer for an image does not depend on its batch.
func (c *Classifier) Classify(ctx context.Context, images []*imgrec.Image, k int) ([][]imgrec.Prediction, error) {
	k = min(max(k, 1), NumClasses)
	maxBatch := c.MaxBatch
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	type input struct {
		data []float32
		h, w int
	}
	inputs := make([]input, len(images))
	bySize := map[[2]int][]int{}
	var order [][2]int
	for i, img := range images {
		data, h, w := c.Profile.Tensor(img)
		if h < minSide || w < minSide {
			return nil, imgrec.Errorf(imgrec.EINVALID, "image is %dx%d; the network needs at least %dx%d", img.Width, img.Height, minSide, minSide)
		}
		inputs[i] = input{data, h, w}
		key := [2]int{h, w}
		if _, seen := bySize[key]; !seen {
			order = append(order, key)
		}
		bySize[key] = append(bySize[key], i)
	}
	out := make([][]imgrec.Prediction, len(images))
	for _, key := range order {
		idx := bySize[key]
		for start := 0; start < len(idx); start += maxBatch {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			batch := idx[start:min(start+maxBatch, len(idx))]
			h, w := key[0], key[1]
			x := nn.Tensor{N: len(batch), H: h, W: w, C: 3, Data: make([]float32, 0, len(batch)*h*w*3)}
			for _, i := range batch {
				x.Data = append(x.Data, inputs[i].data...)
			}
			logits := c.Model.Forward(&x)
			for j, i := range batch {
				out[i] = TopK(logits[j*NumClasses:(j+1)*NumClasses], k)
			}
		}
	}
	return out, nil
}

// TopK returns the k largest logits, best first, with their probabilities
// (the softmax over all the logits); ties go to the lower index, as
// torch.argmax does. It selects in one pass per rank, cheaper than a sort
// for the small k a classifier reports.
func TopK(logits []float32, k int) []imgrec.Prediction {
	if len(logits) != NumClasses {
		panic(fmt.Sprintf("TopK: %d logits", len(logits)))
	}
	labels := Labels()
	logSum := logSumExp(logits)
	preds := make([]imgrec.Prediction, 0, k)
	taken := make([]bool, len(logits))
	for range k {
		best := -1
		for i, v := range logits {
			if !taken[i] && (best < 0 || v > logits[best]) {
				best = i
			}
		}
		taken[best] = true
		preds = append(preds, imgrec.Prediction{Index: best, Label: labels[best], Logit: logits[best],
			Probability: float32(math.Exp(float64(logits[best]) - logSum))})
	}
	return preds
}

// logSumExp is log(Σ exp(x)), computed stably: shifted by the largest x so
// that no exp overflows, in float64 so that small terms still count.
func logSumExp(xs []float32) float64 {
	top := math.Inf(-1)
	for _, x := range xs {
		top = max(top, float64(x))
	}
	if math.IsInf(top, 0) {
		return top // all -Inf (every probability 0), or a +Inf logit
	}
	sum := 0.0
	for _, x := range xs {
		sum += math.Exp(float64(x) - top)
	}
	return top + math.Log(sum)
}
