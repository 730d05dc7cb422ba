package natsq

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/imgrec/imgrec"
)

// Embedded starts a NATS server with JetStream in this process, storing its
// files in cfg.DataDir, and opens the queue on it through an in-process
// connection. Other processes Dial URL(). Close shuts the server down.
func Embedded(cfg Config) (*Queue, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.DataDir == "" {
		return nil, imgrec.Errorf(imgrec.EINVALID, "natsq: embedded server: no data directory")
	}
	port := cfg.Port
	if port == 0 {
		port = server.RANDOM_PORT
	} else if err := portFree(cfg.Host, port); err != nil {
		return nil, err
	}
	srv, err := server.NewServer(&server.Options{
		Host:      cfg.Host,
		Port:      port,
		JetStream: true,
		StoreDir:  cfg.DataDir, // JetStream keeps its files in <DataDir>/jetstream
		NoSigs:    true,        // the process owns its signals
	})
	if err != nil {
		return nil, imgrec.WrapError(imgrec.EINVALID, err, "natsq: embedded server")
	}
	srv.SetLoggerV2(serverLog{cfg.Logger.With("component", "nats-server")}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(setupTimeout) {
		srv.Shutdown()
		return nil, imgrec.Errorf(imgrec.EUNAVAILABLE, "natsq: embedded server on %s:%d not ready after %v", cfg.Host, cfg.Port, setupTimeout)
	}
	nc, err := nats.Connect("", append(connectOptions(cfg), nats.InProcessServer(srv))...)
	if err != nil {
		srv.Shutdown()
		return nil, fmt.Errorf("natsq: connect to the embedded server: %w", err)
	}
	q, err := open(nc, srv.ClientURL(), cfg)
	if err != nil {
		srv.Shutdown()
		return nil, err
	}
	q.srv = srv
	cfg.Logger.Info("nats server started", "url", q.url, "store", cfg.DataDir)
	return q, nil
}

// portFree fails at once where the server would only never become ready.
func portFree(host string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return imgrec.WrapError(imgrec.EUNAVAILABLE, err, "natsq: embedded server")
	}
	return l.Close()
}

// serverLog hands the server's log lines to slog. Its notices (a banner and
// its configuration at every start) are debug-level here: natsq logs the one
// line that matters, "nats server started".
type serverLog struct{ log *slog.Logger }

func (l serverLog) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l serverLog) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l serverLog) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l serverLog) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l serverLog) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l serverLog) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
