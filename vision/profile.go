package vision

import (
	"math"

	"github.com/imgrec/imgrec"
)

// Profile names a preprocessing pipeline from decoded RGB to network input.
type Profile string

const (
	// ProfileReference is the course classifier's pipeline: torchvision
	// ToTensor only (value = float32(byte)/255), no resize, crop or
	// normalisation.
	ProfileReference Profile = "reference"
	// ProfileImageNet is torchvision's standard evaluation pipeline:
	// Resize(256) (shorter side to 256, PIL bilinear with antialiasing),
	// CenterCrop(224), ToTensor, Normalize(ImageNet mean and std).
	ProfileImageNet Profile = "imagenet"
)

// ParseProfile maps a name to a Profile; "" means ProfileReference.
func ParseProfile(s string) (Profile, error) {
	switch Profile(s) {
	case "", ProfileReference:
		return ProfileReference, nil
	case ProfileImageNet:
		return ProfileImageNet, nil
	}
	return "", imgrec.Errorf(imgrec.EINVALID, "unknown preprocessing profile %q (valid: %s, %s)",
		s, ProfileReference, ProfileImageNet)
}

// ImageNet channel statistics as torchvision's Normalize holds them: float32.
var (
	imagenetMean = [3]float32{0.485, 0.456, 0.406}
	imagenetStd  = [3]float32{0.229, 0.224, 0.225}
)

// Tensor returns the network input in NHWC layout (H*W*3 float32, channel
// last) and its height and width. The arithmetic is torch's: float32
// division by 255, then (x - mean) / std in float32. A Profile that
// ParseProfile would reject is treated as ProfileReference, like "".
func (p Profile) Tensor(img *imgrec.Image) (data []float32, height, width int) {
	if p != ProfileImageNet {
		data = make([]float32, len(img.Pix))
		for i, b := range img.Pix {
			data[i] = float32(b) / 255
		}
		return data, img.Height, img.Width
	}
	crop := imagenetCrop(img)
	data = make([]float32, len(crop.Pix))
	for i, b := range crop.Pix {
		c := i % 3
		data[i] = (float32(b)/255 - imagenetMean[c]) / imagenetStd[c]
	}
	return data, crop.Height, crop.Width
}

// imagenetCrop applies Resize(256) and CenterCrop(224) as torchvision 0.14
// does on a PIL image.
func imagenetCrop(img *imgrec.Image) *imgrec.Image {
	const size, crop = 256, 224
	w, h := img.Width, img.Height
	nw, nh := size, int(float64(size*h)/float64(w)) // Python int(256*long/short)
	if w > h {
		nw, nh = int(float64(size*w)/float64(h)), size
	}
	// Python's round() rounds half to even.
	top := int(math.RoundToEven(float64(nh-crop) / 2))
	left := int(math.RoundToEven(float64(nw-crop) / 2))
	return resizeCrop(img, nw, nh, left, top, crop, crop)
}
