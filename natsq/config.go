package natsq

import (
	"cmp"
	"log/slog"
	"regexp"
	"time"

	"github.com/imgrec/imgrec"
)

// Defaults for the zero values of Config.
const (
	DefaultPrefix     = "imgrec"
	DefaultMaxDeliver = 10
	DefaultHost       = "127.0.0.1"
)

// Config describes one queue. Every process sharing the queue must use the
// same Prefix; the last one to open it sets Visibility and MaxDeliver on the
// server.
type Config struct {
	// Prefix names the subjects (<prefix>.requests, <prefix>.dead,
	// <prefix>.reply.*), streams and consumer; letters, digits, '-' and '_'.
	Prefix string
	// Visibility is how long a received request stays invisible to other
	// workers before it is redelivered (the consumer's AckWait).
	Visibility time.Duration
	// MaxDeliver is a backstop, not the retry policy (the worker's is): the
	// server never delivers a request more often, so Receive dead-letters a
	// request on its MaxDeliver-th delivery instead of handing it out, and
	// answers its ReplyTo with the reason. Keep it above the worker's
	// attempts + 1, so that the worker gives up first, with its own reason.
	MaxDeliver int
	// Logger receives connection events and, for Embedded, server notices.
	Logger *slog.Logger

	// DataDir is where Embedded keeps JetStream's files (e.g. <data-dir>/nats).
	DataDir string
	// Host and Port are where Embedded listens for other processes
	// (default 127.0.0.1; port 0 picks a free one, see Queue.URL).
	Host string
	Port int
}

var validPrefix = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// checkPrefix returns prefix, or DefaultPrefix if it is empty, unless it is
// not a valid prefix of stream and bucket names (Config.Prefix,
// JobStoreConfig.Prefix).
func checkPrefix(prefix string) (string, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !validPrefix.MatchString(prefix) {
		return prefix, imgrec.Errorf(imgrec.EINVALID, "natsq: prefix %q: want letters, digits, '-' and '_'", prefix)
	}
	return prefix, nil
}

func (c Config) withDefaults() (Config, error) {
	var err error
	if c.Prefix, err = checkPrefix(c.Prefix); err != nil {
		return c, err
	}
	if c.Visibility == 0 {
		c.Visibility = imgrec.DefaultVisibility
	}
	if c.Visibility < 0 {
		return c, imgrec.Errorf(imgrec.EINVALID, "natsq: visibility %v: want a positive duration", c.Visibility)
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if c.MaxDeliver < 2 {
		return c, imgrec.Errorf(imgrec.EINVALID, "natsq: max deliver %d: want at least 2", c.MaxDeliver)
	}
	if c.Host == "" {
		c.Host = DefaultHost
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// names derived from the prefix.
func (c Config) requestSubject() string { return c.Prefix + ".requests" }
func (c Config) deadSubject() string    { return c.Prefix + ".dead" }
func (c Config) replyPrefix() string    { return c.Prefix + ".reply." }
func (c Config) requestStream() string  { return c.Prefix + "_requests" }
func (c Config) deadStream() string     { return c.Prefix + "_dead" }
func (c Config) consumerName() string   { return c.Prefix + "_workers" }

// ReplyWildcard is the subject that matches every reply of the queue with
// this Config's prefix (DefaultPrefix if empty): a plain NATS subscription
// to it sees each worker's imgrec.Response as JSON, as measurements do.
func (c Config) ReplyWildcard() string {
	c.Prefix = cmp.Or(c.Prefix, DefaultPrefix)
	return c.replyPrefix() + ">"
}
