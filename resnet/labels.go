package resnet

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"
)

// labels.json is the course classifier's list of the 1000 ImageNet class
// names; index i names output i.
//
//go:embed labels.json
var labelsJSON []byte

// Labels returns the 1000 class names, index = network output index.
var Labels = sync.OnceValue(func() []string {
	var l []string
	if err := json.Unmarshal(labelsJSON, &l); err != nil || len(l) != NumClasses {
		panic(fmt.Sprintf("embedded labels.json: %d labels, err %v", len(l), err))
	}
	return l
})
