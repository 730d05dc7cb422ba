package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/dynamojobs"
	"github.com/imgrec/imgrec/natsq"
)

// jobsUsage is the help of --jobs.
const jobsUsage = "job store (jobs and the result cache, shared by every web tier and worker): nats://HOST:PORT (key-value buckets <queue-prefix>_jobs and _results) " +
	"or dynamodb://TABLE (made by 'imgrec infra up'); default: the --queue's NATS server, or for --queue sqs://NAME the table NAME-jobs, NAME without its -requests"

// jobsFlagSet holds where a tier's job store is, how long it keeps what it
// holds and whether the result cache is used; every tier of a deployment
// should be given the same.
type jobsFlagSet struct {
	url   string
	ttl   time.Duration
	cache bool
}

func jobsFlags(fs *flag.FlagSet) *jobsFlagSet {
	jf := &jobsFlagSet{}
	fs.StringVar(&jf.url, "jobs", "", jobsUsage)
	fs.DurationVar(&jf.ttl, "job-ttl", imgrec.DefaultJobTTL, "how long a job is kept after its answer (a queued one after it was taken), cached results after they were computed; "+
		"an Idempotency-Key is honoured as long as its job is kept")
	fs.BoolVar(&jf.cache, "cache", true, "answer an upload whose bytes the workers classified before from the result cache, with no worker (web tier), "+
		"and keep every result there (workers); false: every upload goes to a worker")
	return jf
}

func (jf *jobsFlagSet) check() error {
	if jf.ttl < time.Second {
		return usagef("--job-ttl %v: want at least 1s", jf.ttl)
	}
	return nil
}

// args passes the flags on to a worker.
func (jf *jobsFlagSet) args() []string {
	argv := []string{"--job-ttl", jf.ttl.String(), fmt.Sprintf("--cache=%v", jf.cache)}
	if jf.url != "" {
		argv = append(argv, "--jobs", jf.url)
	}
	return argv
}

// jobsTable is the DynamoDB table of the jobs of request queue NAME (what
// 'imgrec infra up' makes for a cluster): imgrec-CLUSTER-requests →
// imgrec-CLUSTER-jobs.
func jobsTable(queueName string) string {
	return strings.TrimSuffix(queueName, "-requests") + "-jobs"
}

// open opens the job store --jobs names, or the one the queue implies: on
// the queue's own NATS server and connection (q, when it is a natsq queue
// and --jobs is unset or names its server), or the table of an SQS queue.
func (jf *jobsFlagSet) open(ctx context.Context, q imgrec.Queue, queueURL string, qf *queueFlagSet, af *awsFlagSet, log *slog.Logger) (imgrec.JobStore, error) {
	spec := jf.url
	nq, onNATS := q.(*natsq.Queue)
	if onNATS && (spec == "" || spec == queueURL || spec == nq.URL()) {
		return nq.JobStore(jf.ttl)
	}
	if spec == "" {
		if name, ok := strings.CutPrefix(queueURL, "sqs://"); ok {
			spec = "dynamodb://" + jobsTable(name)
		}
	}
	u, err := url.Parse(spec)
	switch {
	case err != nil:
	case u.Scheme == "nats" && u.Host != "":
		return natsq.DialJobStore(spec, natsq.JobStoreConfig{Prefix: qf.prefix, TTL: jf.ttl, Logger: log})
	case u.Scheme == "dynamodb" && u.Host != "" && strings.Trim(u.Path, "/") == "" && u.RawQuery == "":
		if err := dynamojobs.Check(u.Host); err != nil {
			return nil, usagef("--jobs %q: %v", spec, err)
		}
		cfg, err := af.config(ctx)
		if err != nil {
			return nil, err
		}
		return dynamojobs.Open(ctx, dynamodb.NewFromConfig(cfg), u.Host, dynamojobs.Config{TTL: jf.ttl})
	}
	return nil, usagef("--jobs %q: want nats://HOST:PORT or dynamodb://TABLE", spec)
}
