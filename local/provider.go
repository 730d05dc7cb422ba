// Package local implements imgrec.Provider with worker processes on this
// machine, the default of `imgrec serve`.
//
// Each instance is a child process running Config.Command, speaking the
// protocol of imgrec's status.go: imgrec.InstanceIDEnv=<id> and
// imgrec.StatusFDEnv=3 in its environment, its status words on file
// descriptor 3 (ready: pending → running; busy and idle: Instance.Busy), and
// a pipe for standard input whose closing asks it to drain. A worker that
// never says ready stays pending.
//
// Stop closes the worker's standard input: the worker finishes the requests
// in hand and exits 0. A worker still running DrainTimeout later is killed.
// Stopped instances keep their id and are started again by Start. A worker
// that exits unasked becomes stopped too, with Detail saying how it ended
// ("exited: signal: killed").
//
// Workers never outlive this process: Close drains them; should this
// process die, the kernel closes their standard input and they drain and
// exit; and on Linux a parent killed outright takes them along at once
// (Pdeathsig, see startCmd). A pipe rather than SIGTERM asks for the drain
// because Windows has no SIGTERM.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/imgrec/imgrec"
)

var _ imgrec.Provider = (*Provider)(nil)

// Name is the provider's name, in Instance.Provider and --provider.
const Name = "local"

// DefaultDrainTimeout is long enough for a worker to finish one request on
// a slow CPU.
const DefaultDrainTimeout = 90 * time.Second

// Config describes the workers a Provider runs.
type Config struct {
	// Command is the worker's argv, e.g. [/usr/bin/imgrec worker --queue nats://...].
	Command []string
	// Env is added to this process's environment for every worker.
	Env []string
	// DrainTimeout is how long a worker may take to exit once asked to
	// drain before it is killed (default DefaultDrainTimeout).
	DrainTimeout time.Duration
	Logger       *slog.Logger
	// Stdout and Stderr receive the workers' output, each line prefixed with
	// "[<id>] " (default os.Stderr).
	Stdout, Stderr io.Writer
}

// Provider runs and controls worker processes. It is safe for concurrent use.
type Provider struct {
	cfg   Config
	log   *slog.Logger
	outMu sync.Mutex // keeps lines from different workers whole

	mu        sync.Mutex
	instances map[string]*instance
	launched  int // instances ever launched, for ids
	closed    bool
}

// instance is the record behind an imgrec.Instance.
type instance struct {
	imgrec.Instance
	seq    int      // launch order, for List
	proc   *process // nil while stopped
	remove bool     // terminating: drop the record once the process exits
}

// New returns a Provider with no instances.
func New(cfg Config) *Provider {
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stderr
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	return &Provider{cfg: cfg, log: cfg.Logger, instances: map[string]*instance{}}
}

// Launch starts n new workers.
func (p *Provider) Launch(ctx context.Context, n int) ([]imgrec.Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("launch: %w", err)
	}
	if n < 1 {
		return nil, imgrec.Errorf(imgrec.EINVALID, "launch %d instances: want at least 1", n)
	}
	if len(p.cfg.Command) == 0 {
		return nil, imgrec.Errorf(imgrec.EINVALID, "launch: no worker command configured")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, imgrec.Errorf(imgrec.EUNAVAILABLE, "launch: provider closed")
	}
	var out []imgrec.Instance
	for range n {
		p.launched++
		inst := &instance{seq: p.launched, Instance: imgrec.Instance{ID: fmt.Sprintf("w-%d", p.launched), Provider: Name}}
		if err := p.spawn(inst); err != nil {
			return out, fmt.Errorf("launch %s: %w", inst.ID, err)
		}
		p.instances[inst.ID] = inst
		out = append(out, inst.Instance)
	}
	return out, nil
}

// Start restarts stopped workers under their ids. Like Stop and Terminate,
// it acts on all its ids or, if one is unknown (ENOTFOUND) or in the wrong
// state (EINVALID), on none.
func (p *Provider) Start(ctx context.Context, ids []string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return imgrec.Errorf(imgrec.EUNAVAILABLE, "start: provider closed")
	}
	insts, err := p.lookup("start", ids, imgrec.StateStopped)
	if err != nil {
		return err
	}
	var errs []error
	for _, inst := range insts {
		if err := p.spawn(inst); err != nil {
			p.setState(inst, imgrec.StateStopped, "start failed: "+err.Error())
			errs = append(errs, fmt.Errorf("start %s: %w", inst.ID, err))
		}
	}
	return errors.Join(errs...)
}

// Stop drains pending and running workers and keeps them for Start.
func (p *Provider) Stop(ctx context.Context, ids []string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	insts, err := p.lookup("stop", ids, imgrec.StatePending, imgrec.StateRunning)
	if err != nil {
		return err
	}
	for _, inst := range insts {
		p.drain(inst)
	}
	return nil
}

// Terminate drains workers in any state and forgets them once they have
// exited; they are stopping until then.
func (p *Provider) Terminate(ctx context.Context, ids []string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("terminate: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	insts, err := p.lookup("terminate", ids)
	if err != nil {
		return err
	}
	for _, inst := range insts {
		if inst.proc == nil {
			delete(p.instances, inst.ID)
			p.log.Info("worker terminated", "instance", inst.ID)
			continue
		}
		inst.remove = true
		p.drain(inst)
	}
	return nil
}

// List returns every instance not terminated, in launch order.
func (p *Provider) List(ctx context.Context) ([]imgrec.Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	p.mu.Lock()
	insts := make([]*instance, 0, len(p.instances))
	for _, inst := range p.instances {
		insts = append(insts, inst)
	}
	slices.SortFunc(insts, func(a, b *instance) int { return a.seq - b.seq })
	out := make([]imgrec.Instance, len(insts))
	for i, inst := range insts {
		out[i] = inst.Instance
	}
	p.mu.Unlock()
	return out, nil
}

// Close drains every worker and waits until all have exited: each gets
// DrainTimeout, and whatever still runs when ctx ends is killed. Launch and
// Start fail afterwards.
func (p *Provider) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	var running []*process
	for _, inst := range p.instances {
		if inst.proc != nil {
			p.drain(inst)
			running = append(running, inst.proc)
		}
	}
	p.mu.Unlock()

	var killed int
	for _, proc := range running {
		select {
		case <-proc.done:
			continue
		case <-ctx.Done():
		}
		p.mu.Lock()
		if proc.kill() {
			killed++
			p.log.Warn("worker killed", "instance", proc.id, "reason", "close deadline")
		}
		p.mu.Unlock()
		<-proc.done
	}
	if killed > 0 {
		return fmt.Errorf("close: %w: killed %d workers that were still draining", ctx.Err(), killed)
	}
	return nil
}

// lookup finds the instances named by ids, each of which must be in one of
// the given states (any state if none are given). It fails without
// touching anything if one does not qualify, so a call acts on all its ids
// or none.
func (p *Provider) lookup(op string, ids []string, states ...imgrec.InstanceState) ([]*instance, error) {
	var insts []*instance
	var errs []error
	for _, id := range ids {
		inst, ok := p.instances[id]
		switch {
		case !ok:
			errs = append(errs, imgrec.Errorf(imgrec.ENOTFOUND, "%s %s: no such instance", op, id))
		case len(states) > 0 && !slices.Contains(states, inst.State):
			errs = append(errs, imgrec.Errorf(imgrec.EINVALID, "%s %s: instance is %s", op, id, inst.State))
		case !slices.Contains(insts, inst):
			insts = append(insts, inst)
		}
	}
	return insts, errors.Join(errs...)
}

func (p *Provider) setState(inst *instance, state imgrec.InstanceState, detail string) {
	inst.State = state
	inst.Since = time.Now()
	inst.Detail = detail
}
