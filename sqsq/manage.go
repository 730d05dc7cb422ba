package sqsq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/imgrec/imgrec"
)

// Defaults of CreateOptions.
const (
	DefaultMaxReceiveCount = 10
)

// dlqRetention (seconds) keeps dead letters as long as SQS allows, 14 days.
const dlqRetention = 14 * 24 * 3600

// CreateOptions shape the queues CreateQueues makes.
type CreateOptions struct {
	// Visibility is the request queue's visibility timeout (default
	// imgrec.DefaultVisibility), for receivers that do not ask for their own.
	Visibility time.Duration
	// MaxReceiveCount is the redrive policy's backstop (default
	// DefaultMaxReceiveCount): a request received this often is
	// dead-lettered. Keep it above the workers' --max-attempts + 1, so
	// that a worker gives up first, with its own reason.
	MaxReceiveCount int
}

// CreateQueues creates the request queue name and its dead-letter queue
// name-dlq, tied by a redrive policy, or brings existing ones to opt. It is
// idempotent.
func CreateQueues(ctx context.Context, client *sqs.Client, name string, opt CreateOptions) error {
	if err := checkName("create", name); err != nil {
		return err
	}
	if opt.Visibility == 0 {
		opt.Visibility = imgrec.DefaultVisibility
	}
	if opt.MaxReceiveCount == 0 {
		opt.MaxReceiveCount = DefaultMaxReceiveCount
	}
	if opt.Visibility < time.Second || opt.Visibility > maxVisibility {
		return imgrec.Errorf(imgrec.EINVALID, "sqsq: create %s: visibility %v: want 1s to 12h", name, opt.Visibility)
	}
	if opt.MaxReceiveCount < 1 || opt.MaxReceiveCount > 1000 {
		return imgrec.Errorf(imgrec.EINVALID, "sqsq: create %s: max receive count %d: want 1 to 1000", name, opt.MaxReceiveCount)
	}
	dlq := DeadLetterQueueName(name)
	dlqURL, err := ensureQueue(ctx, client, dlq, map[string]string{
		string(types.QueueAttributeNameMessageRetentionPeriod): strconv.Itoa(dlqRetention),
	})
	if err != nil {
		return err
	}
	attrs, err := attributes(ctx, client, dlqURL, types.QueueAttributeNameQueueArn)
	if err != nil {
		return wrapErr(err, "sqsq: create %s: ARN of %s", name, dlq)
	}
	policy, err := json.Marshal(map[string]any{
		"deadLetterTargetArn": attrs[string(types.QueueAttributeNameQueueArn)],
		"maxReceiveCount":     opt.MaxReceiveCount,
	})
	if err != nil {
		return err
	}
	_, err = ensureQueue(ctx, client, name, map[string]string{
		string(types.QueueAttributeNameVisibilityTimeout): strconv.Itoa(int(seconds(opt.Visibility))),
		string(types.QueueAttributeNameRedrivePolicy):     string(policy),
	})
	return err
}

// ensureQueue creates a queue with attrs, or sets them on the existing
// one: CreateQueue refuses a name that exists with other attributes.
func ensureQueue(ctx context.Context, client *sqs.Client, name string, attrs map[string]string) (string, error) {
	url, err := queueURL(ctx, client, name)
	if err == nil {
		if _, err := client.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url, Attributes: attrs}); err != nil {
			return "", wrapErr(err, "sqsq: update queue %s", name)
		}
		return url, nil
	}
	if imgrec.ErrorCode(err) != imgrec.ENOTFOUND {
		return "", err
	}
	out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &name, Attributes: attrs})
	var recently *types.QueueDeletedRecently
	var apiErr smithy.APIError
	if errors.As(err, &recently) || errors.As(err, &apiErr) && apiErr.ErrorCode() == "AWS.SimpleQueueService.QueueDeletedRecently" {
		return "", imgrec.WrapError(imgrec.ECONFLICT, err, "sqsq: create queue %s: deleted less than 60 s ago; SQS allows the name again after that", name)
	}
	if err != nil {
		return "", wrapErr(err, "sqsq: create queue %s", name)
	}
	return aws.ToString(out.QueueUrl), nil
}

// DeleteQueues deletes the request queue name, name-dlq and every response
// queue of name (a crashed web tier's included), and returns the names of
// those it deleted. Queues that do not exist are no error.
func DeleteQueues(ctx context.Context, client *sqs.Client, name string) ([]string, error) {
	if err := checkName("delete", name); err != nil {
		return nil, err
	}
	urls, err := listQueues(ctx, client, name)
	if err != nil {
		return nil, err
	}
	var deleted []string
	for _, url := range urls {
		_, err := client.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: &url})
		if isNoQueue(err) {
			continue
		}
		if err != nil {
			return deleted, wrapErr(err, "sqsq: delete queue %s", queueNameOfURL(url))
		}
		deleted = append(deleted, queueNameOfURL(url))
	}
	return deleted, nil
}

// Queue roles in a QueueInfo.
const (
	RoleRequests    = "requests"
	RoleDeadLetters = "dead letters"
	RoleResponses   = "responses"
)

// QueueInfo describes one queue of a name.
type QueueInfo struct {
	Name     string `json:"name"`
	URL      string `json:"url"`
	Role     string `json:"role"`
	Visible  int    `json:"visible"`
	Delayed  int    `json:"delayed"`
	InFlight int    `json:"in_flight"`
}

// Describe lists the queues of name that exist (none: an empty list), the
// request queue first, with their approximate counts.
func Describe(ctx context.Context, client *sqs.Client, name string) ([]QueueInfo, error) {
	if err := checkName("describe", name); err != nil {
		return nil, err
	}
	urls, err := listQueues(ctx, client, name)
	if err != nil {
		return nil, err
	}
	var infos []QueueInfo
	for _, url := range urls {
		qn := queueNameOfURL(url)
		c, err := counts(ctx, client, url)
		if isNoQueue(err) {
			continue // deleted since it was listed
		}
		if err != nil {
			return nil, wrapErr(err, "sqsq: describe queue %s", qn)
		}
		role := RoleResponses
		switch qn {
		case name:
			role = RoleRequests
		case DeadLetterQueueName(name):
			role = RoleDeadLetters
		}
		infos = append(infos, QueueInfo{Name: qn, URL: url, Role: role, Visible: c.Visible, Delayed: c.Delayed, InFlight: c.InFlight})
	}
	return infos, nil
}

// listQueues returns the URLs of name's queues: name, name-dlq, then the
// response queues. ListQueues is eventually consistent on AWS: a queue
// created a moment ago may be missing.
func listQueues(ctx context.Context, client *sqs.Client, name string) ([]string, error) {
	var main, dlq, resp []string
	pages := sqs.NewListQueuesPaginator(client, &sqs.ListQueuesInput{QueueNamePrefix: &name, MaxResults: aws.Int32(1000)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, wrapErr(err, "sqsq: list queues %s*", name)
		}
		for _, url := range page.QueueUrls {
			switch qn := queueNameOfURL(url); {
			case qn == name:
				main = append(main, url)
			case qn == DeadLetterQueueName(name):
				dlq = append(dlq, url)
			case isRespName(name, qn):
				resp = append(resp, url)
			}
		}
	}
	return append(append(main, dlq...), resp...), nil
}

// Settings are the request queue's attributes that CreateQueues sets.
type Settings struct {
	Visibility      time.Duration
	MaxReceiveCount int    // 0: no redrive policy
	DeadLetterQueue string // the redrive policy's target queue
}

// ReadSettings returns the settings of the queue name, or nil if it does
// not exist.
func ReadSettings(ctx context.Context, client *sqs.Client, name string) (*Settings, error) {
	url, err := queueURL(ctx, client, name)
	switch imgrec.ErrorCode(err) {
	case "":
	case imgrec.ENOTFOUND:
		return nil, nil
	default:
		return nil, err
	}
	attrs, err := attributes(ctx, client, url, types.QueueAttributeNameVisibilityTimeout, types.QueueAttributeNameRedrivePolicy)
	if err != nil {
		return nil, wrapErr(err, "sqsq: attributes of queue %s", name)
	}
	vis, err := int32Attr(attrs, types.QueueAttributeNameVisibilityTimeout)
	if err != nil {
		return nil, fmt.Errorf("sqsq: queue %s: visibility timeout: %w", name, err)
	}
	s := &Settings{Visibility: time.Duration(vis) * time.Second}
	if v := attrs[string(types.QueueAttributeNameRedrivePolicy)]; v != "" {
		if s.DeadLetterQueue, s.MaxReceiveCount, err = parseRedrivePolicy(v); err != nil {
			return nil, fmt.Errorf("sqsq: queue %s: %w", name, err)
		}
	}
	return s, nil
}

// Exists reports whether the queue name exists. It asks GetQueueUrl, which
// knows a queue as soon as it is created, unlike ListQueues, which AWS
// updates with a delay.
func Exists(ctx context.Context, client *sqs.Client, name string) (bool, error) {
	_, err := queueURL(ctx, client, name)
	switch imgrec.ErrorCode(err) {
	case "":
		return true, nil
	case imgrec.ENOTFOUND:
		return false, nil
	}
	return false, err
}
