package natsq_test

import (
	"fmt"
	"net"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/internal/conformance"
	"github.com/imgrec/imgrec/natsq"
)

// suiteOptions allow for the server counting a new request into the
// consumer's NumPending a moment after acknowledging its publication: a
// moment that a loaded machine may stretch, so the suite waits generously.
var suiteOptions = conformance.QueueOptions{StatsLag: conformance.Generous}

// TestEmbedded runs the suite on a server started by Embedded; further
// handles Dial its URL, as worker processes do.
func TestEmbedded(t *testing.T) {
	conformance.Queue(t, suiteOptions, func(t *testing.T, opt conformance.QueueOptions) func(t *testing.T) imgrec.Queue {
		cfg := natsq.Config{DataDir: t.TempDir(), Visibility: opt.Visibility}
		var embedded *natsq.Queue
		return func(t *testing.T) imgrec.Queue {
			if embedded == nil {
				embedded = mustEmbedded(t, cfg)
				return embedded
			}
			return mustDial(t, embedded.URL(), cfg)
		}
	})
}

// TestExternal runs the suite on a separate server reached over TCP, one
// prefix per subtest.
func TestExternal(t *testing.T) {
	url, _ := startServer(t, freePort(t), t.TempDir())
	var n atomic.Int32
	conformance.Queue(t, suiteOptions, func(t *testing.T, opt conformance.QueueOptions) func(t *testing.T) imgrec.Queue {
		cfg := natsq.Config{Prefix: fmt.Sprintf("test%d", n.Add(1)), Visibility: opt.Visibility}
		return func(t *testing.T) imgrec.Queue { return mustDial(t, url, cfg) }
	})
}

func mustEmbedded(t testing.TB, cfg natsq.Config) *natsq.Queue {
	t.Helper()
	q, err := natsq.Embedded(cfg)
	if err != nil {
		t.Fatalf("Embedded: %v", err)
	}
	return q
}

func mustDial(t testing.TB, url string, cfg natsq.Config) *natsq.Queue {
	t.Helper()
	q, err := natsq.Dial(url, cfg)
	if err != nil {
		t.Fatalf("Dial %s: %v", url, err)
	}
	return q
}

// startServer starts a plain JetStream server on 127.0.0.1:port, as an
// operator would run nats-server, and stops it when the test ends; stop
// stops it earlier.
func startServer(t *testing.T, port int, storeDir string) (url string, stop func()) {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		ServerName: "external",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   storeDir,
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(generous) {
		t.Fatalf("nats server on port %d not ready", port)
	}
	stop = func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
	t.Cleanup(stop)
	return srv.ClientURL(), stop
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
