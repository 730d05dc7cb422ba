package main

import (
	"flag"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/fsblob"
	"github.com/imgrec/imgrec/natsq"
)

// buckets are the input and output buckets.
type buckets struct{ input, output imgrec.BlobStore }

// openBuckets opens the buckets a --blobs URL names: file:///dir (or a plain
// path) keeps them in dir/input and dir/output; file:///dir?sync=0 skips the
// per-object fsync (see fsblob.Options).
func openBuckets(spec string) (buckets, error) {
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
	}
	return buckets{}, usagef("--blobs %q: unknown scheme %q (want file://DIR)", spec, u.Scheme)
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
	prefix     string
	visibility time.Duration
	maxDeliver int
}

func queueFlags(fs *flag.FlagSet) *queueFlagSet {
	qf := &queueFlagSet{}
	fs.StringVar(&qf.prefix, "queue-prefix", natsq.DefaultPrefix, "names the queue's subjects and streams; tiers sharing a queue use the same")
	fs.DurationVar(&qf.visibility, "visibility", natsq.DefaultVisibility, "how long a request stays with a silent worker before it is redelivered (extended while the worker is busy)")
	fs.IntVar(&qf.maxDeliver, "max-deliver", natsq.DefaultMaxDeliver, "server-side backstop on deliveries of one request (above --max-attempts)")
	return qf
}

func (qf *queueFlagSet) config(log *slog.Logger) natsq.Config {
	return natsq.Config{Prefix: qf.prefix, Visibility: qf.visibility, MaxDeliver: qf.maxDeliver, Logger: log}
}

// dial connects to the queue a --queue URL names.
func (qf *queueFlagSet) dial(spec string, log *slog.Logger) (*natsq.Queue, error) {
	u, err := url.Parse(spec)
	if err != nil || u.Scheme != "nats" || u.Host == "" {
		return nil, usagef("--queue %q: want nats://HOST:PORT", spec)
	}
	return natsq.Dial(spec, qf.config(log))
}

// embedded starts the in-process NATS server serve uses, storing under dir.
func (qf *queueFlagSet) embedded(dir string, log *slog.Logger) (*natsq.Queue, error) {
	cfg := qf.config(log)
	cfg.DataDir = dir
	return natsq.Embedded(cfg)
}
