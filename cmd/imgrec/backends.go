package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/fsblob"
	"github.com/imgrec/imgrec/natsq"
	"github.com/imgrec/imgrec/s3blob"
	"github.com/imgrec/imgrec/sqsq"
)

// Help texts of --queue and --blobs, shared by the tiers.
const (
	queueForms = "nats://HOST:PORT (a NATS JetStream server) or sqs://NAME (the SQS queue NAME made by 'imgrec infra up'; " +
		"region and credentials from the standard AWS chain)"
	queueUsage = "request queue: " + queueForms
	blobsUsage = "buckets: file:///DIR (DIR/input and DIR/output; ?sync=0 skips the fsync) or s3://PREFIX (the S3 buckets PREFIX-input and PREFIX-output)"
)

// backendFlagSet holds what a tier needs to reach its queue, buckets and
// job store: --queue, --blobs and --jobs, the queue's and the job store's
// settings and the AWS flags.
type backendFlagSet struct {
	queueURL, blobsURL string
	queue              *queueFlagSet
	jobs               *jobsFlagSet
	aws                *awsFlagSet
}

// backendFlags adds the flags; defaultQueue "" makes --queue and --blobs
// required (serve's default is "embedded").
func backendFlags(fs *flag.FlagSet, defaultQueue, queueHelp, blobsHelp string) *backendFlagSet {
	bf := &backendFlagSet{}
	fs.StringVar(&bf.queueURL, "queue", defaultQueue, queueHelp)
	fs.StringVar(&bf.blobsURL, "blobs", "", blobsHelp)
	bf.queue = queueFlags(fs)
	bf.jobs = jobsFlags(fs)
	bf.aws = awsFlags(fs)
	return bf
}

// check checks that --queue and --blobs are given and the queue flags agree.
func (bf *backendFlagSet) check() error {
	if bf.queueURL == "" || bf.blobsURL == "" {
		return usagef("--queue and --blobs are required")
	}
	if err := bf.jobs.check(); err != nil {
		return err
	}
	return bf.queue.check()
}

// backends are a tier's open queue, buckets and job store.
type backends struct {
	queue    imgrec.Queue
	queueURL string // what workers are given: under serve, the embedded server's own URL
	jobs     imgrec.JobStore
	buckets
}

func (b *backends) Close() error {
	b.jobs.Close()
	return b.queue.Close()
}

// open opens the queue, the buckets and the job store. A --queue of
// "embedded" (serve only) starts a NATS server in this process, storing
// under embeddedDir; the job store is on it too unless --jobs says otherwise.
func (bf *backendFlagSet) open(ctx context.Context, log *slog.Logger, embeddedDir string) (*backends, error) {
	if err := bf.check(); err != nil {
		return nil, err
	}
	b, err := openBuckets(ctx, bf.blobsURL, bf.aws)
	if err != nil {
		return nil, err
	}
	bk := &backends{queueURL: bf.queueURL, buckets: b}
	if bf.queueURL == "embedded" && embeddedDir != "" {
		nq, err := bf.queue.embedded(embeddedDir, log)
		if err != nil {
			return nil, err
		}
		bk.queue, bk.queueURL = nq, nq.URL()
	} else if bk.queue, err = bf.queue.open(ctx, bf.queueURL, bf.aws, log); err != nil {
		return nil, err
	}
	if bk.jobs, err = bf.jobs.open(ctx, bk.queue, bf.queueURL, bf.queue, bf.aws, log); err != nil {
		bk.queue.Close()
		return nil, err
	}
	return bk, nil
}

// workerArgv is the command line a provider runs for one worker of this
// tier's queue (queueURL, as the worker reaches it) and buckets.
func (bf *backendFlagSet) workerArgv(exe, queueURL, modelPath string, extra ...string) []string {
	qf := bf.queue
	argv := []string{exe, "worker", "--queue", queueURL, "--blobs", bf.blobsURL, "--model", modelPath,
		"--queue-prefix", qf.prefix, "--visibility", qf.visibility.String(), "--extend-every", qf.extendEvery.String(), "--max-deliver", fmt.Sprint(qf.maxDeliver)}
	argv = append(argv, bf.jobs.args()...)
	argv = append(argv, "--log-level", "warn")
	argv = append(argv, bf.aws.args()...)
	return append(argv, extra...)
}

// buckets are the input and output buckets.
type buckets struct{ input, output imgrec.BlobStore }

// openBuckets opens the buckets a --blobs URL names: file:///dir (or a plain
// path) keeps them in dir/input and dir/output, file:///dir?sync=0 skips the
// per-object fsync (see fsblob.Options); s3://PREFIX is the S3 buckets
// PREFIX-input and PREFIX-output, reached through af.
func openBuckets(ctx context.Context, spec string, af *awsFlagSet) (buckets, error) {
	u, err := url.Parse(spec)
	if err != nil {
		return buckets{}, usagef("--blobs %q: %v", spec, err)
	}
	switch u.Scheme {
	case "", "file":
		dir := u.Path
		if u.Scheme == "" {
			dir = spec
		}
		if dir == "" {
			return buckets{}, usagef("--blobs %q: no directory", spec)
		}
		var opt fsblob.Options
		switch v := u.Query().Get("sync"); v {
		case "", "1", "true":
		case "0", "false":
			opt.NoSync = true
		default:
			return buckets{}, usagef("--blobs %q: sync=%q, want 1 or 0", spec, v)
		}
		in, err := fsblob.OpenWith(filepath.Join(dir, "input"), opt)
		if err != nil {
			return buckets{}, err
		}
		out, err := fsblob.OpenWith(filepath.Join(dir, "output"), opt)
		if err != nil {
			return buckets{}, err
		}
		return buckets{in, out}, nil
	case "s3":
		prefix := u.Host
		if prefix == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
			return buckets{}, usagef("--blobs %q: want s3://PREFIX (the buckets PREFIX-input and PREFIX-output)", spec)
		}
		cfg, err := af.config(ctx)
		if err != nil {
			return buckets{}, err
		}
		client := newS3Client(cfg)
		inName, outName := s3BucketNames(prefix)
		in, err := s3blob.Open(ctx, client, inName)
		if err != nil {
			return buckets{}, err
		}
		out, err := s3blob.Open(ctx, client, outName)
		if err != nil {
			return buckets{}, err
		}
		return buckets{in, out}, nil
	}
	return buckets{}, usagef("--blobs %q: unknown scheme %q (want file:///DIR or s3://PREFIX)", spec, u.Scheme)
}

// s3BucketNames are the buckets of --blobs s3://PREFIX.
func s3BucketNames(prefix string) (input, output string) {
	return prefix + "-input", prefix + "-output"
}

// fileURL makes the --blobs URL for a local directory.
func fileURL(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	return "file://" + abs
}

// defaultDataDir is where serve keeps its queue and buckets:
// $XDG_DATA_HOME/imgrec, else ~/.local/share/imgrec.
func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "imgrec")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "imgrec")
	}
	return "imgrec-data"
}

// queueFlagSet holds the request queue's settings, shared by every tier.
type queueFlagSet struct {
	prefix      string
	visibility  time.Duration
	extendEvery time.Duration
	maxDeliver  int
}

func queueFlags(fs *flag.FlagSet) *queueFlagSet {
	qf := &queueFlagSet{}
	fs.StringVar(&qf.prefix, "queue-prefix", natsq.DefaultPrefix, "nats: names the queue's subjects and streams; tiers sharing a queue use the same")
	fs.DurationVar(&qf.visibility, "visibility", imgrec.DefaultVisibility, "the lease: how long a received request stays with a worker that stops extending it (one that died) before it is delivered again; "+
		"shorter recovers sooner, but a worker stalled for longer has its requests done twice (harmless, results are idempotent); whole seconds on sqs")
	fs.DurationVar(&qf.extendEvery, "extend-every", imgrec.DefaultExtendEvery, "how often a worker extends the lease of each request it holds; at most half of --visibility")
	fs.IntVar(&qf.maxDeliver, "max-deliver", natsq.DefaultMaxDeliver, "nats: server-side backstop on deliveries of one request (above --max-attempts); on sqs, the redrive policy 'imgrec infra up' sets")
	return qf
}

// check refuses a lease that its renewals could not keep.
func (qf *queueFlagSet) check() error {
	if qf.visibility <= 0 || qf.extendEvery <= 0 || qf.extendEvery > qf.visibility/2 {
		return usagef("--visibility %v, --extend-every %v: want both positive and extend-every at most half the visibility", qf.visibility, qf.extendEvery)
	}
	return nil
}

func (qf *queueFlagSet) config(log *slog.Logger) natsq.Config {
	return natsq.Config{Prefix: qf.prefix, Visibility: qf.visibility, MaxDeliver: qf.maxDeliver, Logger: log}
}

// open connects to the queue a --queue URL names: nats://HOST:PORT or
// sqs://NAME (reached through af).
func (qf *queueFlagSet) open(ctx context.Context, spec string, af *awsFlagSet, log *slog.Logger) (imgrec.Queue, error) {
	u, err := url.Parse(spec)
	switch {
	case spec == "embedded":
		return nil, usagef("--queue embedded: only 'imgrec serve' runs an embedded queue; want nats://HOST:PORT or sqs://NAME")
	case err != nil:
	case u.Scheme == "nats" && u.Host != "":
		return natsq.Dial(spec, qf.config(log))
	case u.Scheme == "sqs" && u.Host != "" && strings.Trim(u.Path, "/") == "" && u.RawQuery == "":
		cfg, err := af.config(ctx)
		if err != nil {
			return nil, err
		}
		return sqsq.Open(ctx, sqs.NewFromConfig(cfg), u.Host, sqsq.Config{Visibility: qf.visibility, Logger: log})
	}
	return nil, usagef("--queue %q: want nats://HOST:PORT or sqs://NAME", spec)
}

// embedded starts the in-process NATS server serve uses, storing under dir.
func (qf *queueFlagSet) embedded(dir string, log *slog.Logger) (*natsq.Queue, error) {
	cfg := qf.config(log)
	cfg.DataDir = dir
	return natsq.Embedded(cfg)
}
