package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/imgrec/imgrec/autoscale"
	"github.com/imgrec/imgrec/vision"
	"github.com/imgrec/imgrec/web"
)

// newFlags makes a FlagSet whose -h prints the command's usage line and
// flags. A bad flag prints only the error and where help is (see run): the
// flag package's own report would bury it under the whole usage.
func newFlags(e *env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the error itself is printed by run
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: imgrec %s\n\nFlags (each also settable as IMGREC_<NAME>):\n", usage)
		printDefaults(fs, e.stderr)
	}
	return fs
}

// printDefaults writes the flags' help to w (the FlagSet's own output is
// silenced, see newFlags).
func printDefaults(fs *flag.FlagSet, w io.Writer) {
	fs.SetOutput(w)
	defer fs.SetOutput(io.Discard)
	fs.PrintDefaults()
}

// parseFlags parses args, taking defaults from IMGREC_* environment variables
// and allowing flags after positional arguments ("classify DIR --model M").
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		key := "IMGREC_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(key); ok && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = usagef("%s=%q: %v", key, v, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	// The flag package calls Usage on -h and on every error; only -h
	// should print the help.
	help := fs.Usage
	fs.Usage = func() {}
	defer func() { fs.Usage = help }()
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				help()
				return nil, err
			}
			return nil, &usageError{msg: err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		// flag.Parse stops at the first non-flag, or after "--".
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// webFlagSet holds the web tier's limits, shared by serve and web.
type webFlagSet struct {
	maxUpload  *int64
	maxPixels  *int64
	timeout    *time.Duration
	inlineMax  *int
	maxUploads *int
	requeue    *time.Duration

	readHeaderTimeout *time.Duration
	bodyTimeout       *time.Duration
	minUploadRate     *int64
	idleTimeout       *time.Duration
}

// Defaults of the HTTP server's own timeouts (the body's are web's). An idle
// minute is the usual keep-alive (nginx 75 s, an AWS load balancer 60 s).
const (
	defaultReadHeaderTimeout = 10 * time.Second
	defaultIdleTimeout       = 60 * time.Second
)

func webFlags(fs *flag.FlagSet) *webFlagSet {
	return &webFlagSet{
		maxUpload: fs.Int64("max-upload-bytes", web.DefaultMaxUploadBytes, "largest accepted upload, in bytes"),
		maxPixels: fs.Int64("max-pixels", vision.DefaultMaxPixels, "largest accepted image, in pixels (width × height)"),
		timeout:   fs.Duration("timeout", web.DefaultTimeout, "how long a request waits for its answer"),
		inlineMax: fs.Int("inline-max-bytes", 0, "send images up to this size inside the request message too, saving workers a bucket read (0: never; a message the queue refuses is sent with the key alone; SQS takes 256 KiB, base64 adds a third)"),
		requeue: fs.Duration("requeue-after", web.DefaultRequeueAfter,
			"a retry with an Idempotency-Key that finds its job unanswered queues the job's request again once the job is this old, in case the web tier that took it died before queueing it; one tier per interval, the first answer kept (0: never)"),
		maxUploads: fs.Int("max-uploads-in-progress", web.DefaultMaxUploadsInProgress,
			"uploads received, stored and queued at once; more get 503 with Retry-After. Each may hold --max-upload-bytes in memory: 128 × 10 MiB is 1.25 GiB (0: no limit)"),

		readHeaderTimeout: fs.Duration("read-header-timeout", defaultReadHeaderTimeout, "how long a client may take to send a request's headers before its connection is closed (0: no limit)"),
		bodyTimeout: fs.Duration("read-body-timeout", web.DefaultBodyTimeout,
			"how long a request body may take to arrive, plus 1s for every --min-upload-rate bytes received; a slower one gets 408 and its connection is closed (0: no limit)"),
		minUploadRate: fs.Int64("min-upload-rate", web.DefaultMinUploadRate,
			"bytes a second a request body must average after --read-body-timeout: with the defaults (64 kbit/s) a 10 MiB upload may take 22 minutes, a client sending a byte a second is cut off after 30s (0: the whole body within --read-body-timeout)"),
		idleTimeout: fs.Duration("idle-timeout", defaultIdleTimeout, "how long a keep-alive connection may wait for its next request before it is closed (0: no limit)"),
	}
}

// config fills c's web-tier settings from the flags.
func (w *webFlagSet) config(c web.Config) web.Config {
	// web.Config takes 0 for its default and a negative value for none;
	// the flags' defaults are those defaults, and 0 says none.
	none := func(v int64) int64 {
		if v <= 0 {
			return -1
		}
		return v
	}
	lim := vision.Limits{MaxPixels: *w.maxPixels}
	c.Check = func(b []byte) error { return vision.Check(b, lim) }
	c.MaxUploadBytes, c.MaxPixels, c.Timeout, c.InlineMaxBytes = *w.maxUpload, *w.maxPixels, *w.timeout, *w.inlineMax
	c.MaxUploadsInProgress = int(none(int64(*w.maxUploads)))
	c.RequeueAfter = time.Duration(none(int64(*w.requeue)))
	c.BodyTimeout = time.Duration(none(int64(*w.bodyTimeout)))
	c.MinUploadRate = none(*w.minUploadRate)
	return c
}

// httpTimeouts are the HTTP server's.
func (w *webFlagSet) httpTimeouts() httpTimeouts {
	return httpTimeouts{readHeader: *w.readHeaderTimeout, idle: *w.idleTimeout}
}

// scalingFlagSet holds the tunables of the controller's policy (BootAware)
// and how often it looks, shared by serve and controller.
type scalingFlagSet struct {
	cfg      autoscale.Config
	caps     capsFlag // --max-instances, into cfg.Max
	interval time.Duration
}

// scalingFlags adds the flags; interval is how often the controller reads
// the queue by default: serve's local queue costs nothing to ask, SQS bills
// every request.
func scalingFlags(fs *flag.FlagSet, interval time.Duration) *scalingFlagSet {
	sf := &scalingFlagSet{}
	fs.DurationVar(&sf.interval, "scale-interval", interval, "how often the controller reads the queue and decides (and at once when work arrives)")
	fs.IntVar(&sf.cfg.Min, "min-instances", 0, "instances kept running even when idle")
	sf.cfg.Max = autoscale.DefaultMax
	sf.caps = capsFlag{total: &sf.cfg.Max}
	fs.Var(&sf.caps, "max-instances", "most instances ever pending or running; with several providers, a cap each: nova=4,ec2=16")
	fs.IntVar(&sf.cfg.TargetPerInstance, "target-per-instance", autoscale.DefaultTargetPerInstance, "queue depth one instance absorbs: desired = ceil(depth / this), never fewer than are busy, nothing that would boot after the backlog is gone")
	fs.DurationVar(&sf.cfg.Window, "scale-window", autoscale.DefaultWindow, "depth readings this recent are considered together (the largest counts)")
	fs.DurationVar(&sf.cfg.ScaleInAfter, "scale-in-after", autoscale.DefaultScaleInAfter, "how long fewer instances must suffice before idle ones are stopped; once all work is done this long, all idle ones are")
	fs.IntVar(&sf.cfg.WarmPool, "warm-pool", 0, "stopped instances kept for a fast restart (0: as many as --max-instances; -1: none, idle instances are terminated)")
	return sf
}
