package sqsq

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"github.com/imgrec/imgrec"
)

// A queue NAME comes with NAME-dlq and NAME-resp-<16 hex digits>; SQS allows
// 80 characters, so NAME may have 58.
const (
	dlqSuffix  = "-dlq"
	respInfix  = "-resp-"
	respIDLen  = 16
	maxNameLen = 80 - len(respInfix) - respIDLen
)

var validName = regexp.MustCompile(fmt.Sprintf(`^[A-Za-z0-9_-]{1,%d}$`, maxNameLen))

func checkName(op, name string) error {
	if !validName.MatchString(name) {
		return imgrec.Errorf(imgrec.EINVALID, "sqsq: %s: queue name %q: want 1 to %d letters, digits, '-' and '_'", op, name, maxNameLen)
	}
	return nil
}

// DeadLetterQueueName names the dead-letter queue of the request queue name.
func DeadLetterQueueName(name string) string { return name + dlqSuffix }

// newRespName names a new response queue of the queue name.
func newRespName(name string) string {
	b := make([]byte, respIDLen/2)
	rand.Read(b)
	return name + respInfix + hex.EncodeToString(b)
}

// isRespName reports whether queue is one of name's response queues. The
// exact form keeps another queue's names out: a queue "demo-resp" has the
// DLQ "demo-resp-dlq", which is no response queue of "demo".
func isRespName(name, queue string) bool {
	id, ok := strings.CutPrefix(queue, name+respInfix)
	if !ok || len(id) != respIDLen {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

// queueNameOfURL is the last path element of a queue URL
// (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME).
func queueNameOfURL(url string) string {
	return url[strings.LastIndexByte(url, '/')+1:]
}

// queueNameOfARN is the last element of a queue ARN
// (arn:aws:sqs:REGION:ACCOUNT:NAME).
func queueNameOfARN(arn string) string {
	return arn[strings.LastIndexByte(arn, ':')+1:]
}
