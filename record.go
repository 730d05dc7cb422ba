package imgrec

import (
	"path"
	"strings"
)

// The output bucket holds one record per input name, in the course's format:
// key "test_0", value "(test_0, bathtub)". Workers write it, the web tier and
// its page read it back; this file is the one place the format is spelled.

// OutputKey is the output bucket key of an input key: the name without its
// extension ("test_0.JPEG" → "test_0").
func OutputKey(inputKey string) string {
	return strings.TrimSuffix(inputKey, path.Ext(inputKey))
}

// OutputRecord is one output bucket entry.
type OutputRecord struct {
	Name  string // the output key
	Label string
}

// String is the stored value: "(test_0, bathtub)".
func (r OutputRecord) String() string { return "(" + r.Name + ", " + r.Label + ")" }

// ParseOutputRecord reads a stored value back. A name may hold ", " but no
// ImageNet label does, so the label is what follows the last ", ".
func ParseOutputRecord(value string) (OutputRecord, error) {
	inner, ok := strings.CutPrefix(value, "(")
	if ok {
		inner, ok = strings.CutSuffix(inner, ")")
	}
	i := strings.LastIndex(inner, ", ")
	if !ok || i < 0 {
		return OutputRecord{}, Errorf(EINVALID, "output record %q: want (NAME, LABEL)", value)
	}
	return OutputRecord{Name: inner[:i], Label: inner[i+2:]}, nil
}
