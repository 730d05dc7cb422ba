// Package imgrec holds the domain of the elastic image-recognition service: the
// types that flow between tiers and the interfaces every backend implements.
// Implementations live in subpackages named after their dependency.
package imgrec

import "context"

// Image is a decoded picture: 8-bit RGB, row-major, 3 bytes per pixel, exactly
// as PIL's Image.convert("RGB") lays it out.
type Image struct {
	Width, Height int
	Pix           []byte // len == Width*Height*3
}

// Prediction is one of a classifier's ranked answers for an image.
type Prediction struct {
	Index int     `json:"index"` // ImageNet class index, 0..999
	Label string  `json:"label"`
	Logit float32 `json:"logit"` // the network's raw score, unbounded
	// Probability is the softmax of the logits over every class, so the
	// probabilities of all classes add up to 1.
	Probability float32 `json:"probability"`
}

// Classifier labels images. Implementations must be safe for concurrent use.
type Classifier interface {
	// Classify returns, for each image, its top-k predictions, best first.
	Classify(ctx context.Context, images []*Image, k int) ([][]Prediction, error)
}
