package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// httpTimeouts close connections that hold the server without using it: a
// client slow to send its headers (readHeader) or idle between requests
// (idle). 0: no limit. The web tier's handler bounds the bodies.
type httpTimeouts struct {
	readHeader time.Duration
	idle       time.Duration
}

// serve listens on addr and serves h until ctx ends, then shuts down
// gracefully, giving in-flight requests up to grace to finish.
func (t httpTimeouts) serve(ctx context.Context, log *slog.Logger, addr string, h http.Handler, grace time.Duration, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(ln.Addr())
	}
	return t.serveListener(ctx, log, ln, h, grace)
}

// serveListener serves h on ln until ctx ends, as serve does.
func (t httpTimeouts) serveListener(ctx context.Context, log *slog.Logger, ln net.Listener, h http.Handler, grace time.Duration) error {
	// No ReadTimeout or WriteTimeout: they would bound a whole request,
	// cutting slow uploads and the wait for an answer alike.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: t.readHeader, IdleTimeout: t.idle,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	log.Info("listening", "addr", "http://"+ln.Addr().String()+"/")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
