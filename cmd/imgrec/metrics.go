package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/imgrec/imgrec/probe"
)

// newRegistry is a Prometheus registry with the Go runtime and process
// metrics every long-running tier exports.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// metricsAddrUsage is the help of --metrics-addr of the tiers without a web
// tier of their own (worker, controller).
const metricsAddrUsage = "HOST:PORT where /metrics, /livez and /readyz are served (empty: nowhere; e.g. 0.0.0.0:9464); a port in use is an error at start"

// opsListener is where a tier without a web tier of its own (worker,
// controller) serves /metrics, /livez and /readyz: --metrics-addr.
type opsListener struct {
	ln   net.Listener // nil: --metrics-addr is empty
	addr string
}

// listenOps listens on addr (empty: nowhere) at once, so that a port in use
// fails the tier's start, before it opens anything, rather than a goroutine
// nobody watches. Close it, served or not.
func listenOps(addr string) (*opsListener, error) {
	if addr == "" {
		return &opsListener{}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr %s: %w", addr, err)
	}
	return &opsListener{ln: ln, addr: addr}, nil
}

// serve serves reg's metrics, the probes and any more routes (pattern →
// handler) until stop is called.
func (o *opsListener) serve(log *slog.Logger, reg prometheus.Gatherer, ready *probe.Readiness, routes map[string]http.Handler) (stop func()) {
	if o.ln == nil {
		return func() {}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /livez", probe.Live)
	mux.Handle("GET /readyz", probe.Handler(ready, log))
	for pattern, h := range routes {
		mux.Handle("GET "+pattern, h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := httpTimeouts{readHeader: defaultReadHeaderTimeout, idle: defaultIdleTimeout}
		if err := t.serveListener(ctx, log, o.ln, mux, time.Second); err != nil {
			log.Error("metrics listener failed", "addr", o.addr, "err", err)
		}
	}()
	return func() { cancel(); <-done }
}

// Close releases a listener that was never served.
func (o *opsListener) Close() {
	if o.ln != nil {
		o.ln.Close()
	}
}
