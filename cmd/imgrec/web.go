package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/web"
)

func init() {
	register("web", "run the web tier alone, against a shared queue and buckets", runWeb)
}

func runWeb(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "web", "web --queue nats://HOST:PORT|sqs://NAME --blobs file:///DIR|s3://PREFIX [--jobs nats://HOST:PORT|dynamodb://TABLE] [--addr HOST:PORT] [flags]")
	addr := fs.String("addr", "127.0.0.1:8080", "HTTP listen address")
	bf := backendFlags(fs, "", queueUsage+" (required)", blobsUsage+" (required)")
	adminToken := fs.String("admin-token", "", "token that enables POST /v1/reset (Authorization: Bearer TOKEN)")
	controllerURL := fs.String("controller-url", "", "the controller's --metrics-addr as http://HOST:PORT: /v1/status, the history and the page then show its instances and their providers")
	wf := webFlags(fs)
	lf := logFlags(fs, e)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := bf.check(); err != nil {
		return err
	}
	var instances func(context.Context) ([]imgrec.Instance, error)
	if *controllerURL != "" {
		var err error
		if instances, err = remoteInstances(*controllerURL); err != nil {
			return err
		}
	}
	log, err := lf.logger()
	if err != nil {
		return err
	}
	bk, err := bf.open(ctx, log, "")
	if err != nil {
		return err
	}
	defer bk.Close()
	reg := newRegistry()
	srv, err := web.New(ctx, wf.config(web.Config{
		Queue: bk.queue, Input: bk.input, Output: bk.output, Jobs: bk.jobs, Cache: bf.jobs.cache, AdminToken: *adminToken, Instances: instances,
		Registry: reg, Gatherer: reg, Logger: log,
	}))
	if err != nil {
		return err
	}
	defer srv.Close()
	return wf.httpTimeouts().serve(ctx, log, *addr, srv, 5*time.Second, func(a net.Addr) {
		fmt.Fprintf(e.stderr, "imgrec web tier on http://%s/\n", a)
	})
}
