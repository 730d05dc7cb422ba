package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"github.com/imgrec/imgrec/natsq"
)

func init() {
	register("nats", "run a NATS JetStream server: the queue and job store of web, worker and controller run apart", runNATS)
}

// runNATS runs the NATS server serve embeds, alone, for tiers run as
// separate processes or containers (a FROM scratch image has no nats-server).
// It has no authentication: listen only where the tiers alone can reach it.
func runNATS(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "nats", "nats [--addr HOST:PORT] [--data-dir DIR]")
	addr := fs.String("addr", "127.0.0.1:4222", "where the server listens (0.0.0.0:4222: every interface, as in a container; it has no authentication)")
	dataDir := fs.String("data-dir", filepath.Join(defaultDataDir(), "nats"), "where JetStream keeps its streams and key-value buckets (in DIR/jetstream)")
	prefix := fs.String("queue-prefix", natsq.DefaultPrefix, "the queue whose streams are made at start (tiers make theirs too, whatever their --queue-prefix)")
	lf := logFlags(fs, e)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := lf.logger()
	if err != nil {
		return err
	}
	host, portText, err := net.SplitHostPort(*addr)
	port, perr := strconv.Atoi(portText)
	if err != nil || perr != nil || port < 0 || port > 65535 {
		return usagef("--addr %q: want HOST:PORT", *addr)
	}
	if host == "" {
		host = "0.0.0.0" // as net.Listen reads ":4222"
	}
	q, err := natsq.Embedded(natsq.Config{Prefix: *prefix, DataDir: *dataDir, Host: host, Port: port, Logger: log})
	if err != nil {
		return err
	}
	defer q.Close()
	fmt.Fprintf(e.stderr, "imgrec nats on %s\n", q.URL())
	<-ctx.Done()
	log.Info("stopping nats server")
	return nil
}
