package main

import (
	"path/filepath"

	"github.com/imgrec/imgrec/resnet"
	"github.com/imgrec/imgrec/vision"
)

// modelUsage is the help of --model.
const modelUsage = "ResNet-18 weights (.pth); default $IMGREC_MODEL, then the cache of 'imgrec model pull'"

// loadClassifier finds and loads the weights and pairs them with a profile.
func loadClassifier(modelFlag, profileName string) (*resnet.Classifier, string, error) {
	profile, err := vision.ParseProfile(profileName)
	if err != nil {
		return nil, "", err
	}
	path, err := resnet.Locate(modelFlag)
	if err != nil {
		return nil, "", err
	}
	model, err := resnet.Load(path)
	if err != nil {
		return nil, "", err
	}
	return &resnet.Classifier{Model: model, Profile: profile}, path, nil
}

// packedModel locates the weights and returns the absolute path of their
// packed copy in dir, made once: a wrong file fails here, with its reason, and
// every worker maps the packed weights instead of parsing the .pth again.
func packedModel(modelFlag, dir string) (string, error) {
	path, err := resnet.Locate(modelFlag)
	if err != nil {
		return "", err
	}
	if path, err = resnet.Prepare(path, dir); err != nil {
		return "", err
	}
	return filepath.Abs(path)
}
