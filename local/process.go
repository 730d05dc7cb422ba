package local

import (
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/imgrec/imgrec"
)

// process is one run of a worker, from spawn to exit. Its fields other
// than cmd and done are guarded by Provider.mu.
type process struct {
	id             string
	cmd            *exec.Cmd
	stdin          *os.File // the write end of the worker's stdin; closing it asks for a drain
	stdout, stderr *lineWriter
	terminated     bool        // we asked it to drain
	killed         bool        // we sent SIGKILL
	killTimer      *time.Timer // SIGKILL once the drain takes too long
	done           chan struct{}
}

// spawn starts a worker process for inst, which becomes pending. Called
// with p.mu held.
func (p *Provider) spawn(inst *instance) error {
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("status pipe: %w", err)
	}
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		statusR.Close()
		statusW.Close()
		return fmt.Errorf("stdin pipe: %w", err)
	}
	cmd := exec.Command(p.cfg.Command[0], p.cfg.Command[1:]...)
	// Ours come last: exec keeps the last value of a duplicated variable.
	cmd.Env = append(append(os.Environ(), p.cfg.Env...), imgrec.InstanceIDEnv+"="+inst.ID, imgrec.StatusFDEnv+"=3")
	cmd.ExtraFiles = []*os.File{statusW} // fd 3
	cmd.Stdin = stdinR
	proc := &process{
		id:     inst.ID,
		cmd:    cmd,
		stdin:  stdinW,
		stdout: newLineWriter(&p.outMu, p.cfg.Stdout, inst.ID),
		stderr: newLineWriter(&p.outMu, p.cfg.Stderr, inst.ID),
		done:   make(chan struct{}),
	}
	cmd.Stdout, cmd.Stderr = proc.stdout, proc.stderr
	cmd.SysProcAttr = sysProcAttr()
	// Should the worker leave a process of its own holding its output
	// open, Wait still returns this long after the worker exits.
	cmd.WaitDelay = time.Second
	err = startCmd(cmd)
	statusW.Close() // the child has its copy; EOF comes when it exits
	stdinR.Close()
	if err != nil {
		statusR.Close()
		stdinW.Close()
		return err
	}
	inst.proc = proc
	inst.Busy = false
	p.setState(inst, imgrec.StatePending, fmt.Sprintf("pid %d", cmd.Process.Pid))
	p.log.Info("worker started", "instance", inst.ID, "pid", cmd.Process.Pid)
	go p.readStatus(inst, proc, statusR)
	go p.wait(inst, proc, statusR)
	return nil
}

// readStatus applies the worker's status words until the pipe closes.
func (p *Provider) readStatus(inst *instance, proc *process, r *os.File) {
	imgrec.ScanStatus(r, func(s imgrec.WorkerStatus) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if inst.proc != proc {
			return // exited meanwhile
		}
		switch s {
		case imgrec.WorkerReady:
			if inst.State == imgrec.StatePending {
				p.setState(inst, imgrec.StateRunning, inst.Detail)
				p.log.Info("worker ready", "instance", inst.ID)
			}
		case imgrec.WorkerBusy:
			inst.Busy = true
		case imgrec.WorkerIdle:
			inst.Busy = false
		}
	})
}

// wait reaps the worker and records how it ended.
func (p *Provider) wait(inst *instance, proc *process, statusR *os.File) {
	err := proc.cmd.Wait()
	statusR.Close() // also ends readStatus should a grandchild hold the write end
	proc.stdin.Close()
	proc.stdout.flush()
	proc.stderr.flush()

	p.mu.Lock()
	if proc.killTimer != nil {
		proc.killTimer.Stop()
	}
	inst.proc = nil
	inst.Busy = false
	detail := exitDetail(proc, err)
	if inst.remove {
		delete(p.instances, inst.ID)
		p.log.Info("worker terminated", "instance", inst.ID, "exit", detail)
	} else {
		p.setState(inst, imgrec.StateStopped, detail)
		if proc.terminated {
			p.log.Info("worker stopped", "instance", inst.ID, "exit", detail)
		} else {
			p.log.Warn("worker died", "instance", inst.ID, "exit", detail)
		}
	}
	p.mu.Unlock()
	close(proc.done)
}

func exitDetail(proc *process, err error) string {
	status := "exit status 0"
	if err != nil {
		status = err.Error() // "exit status 1", "signal: killed"
	}
	switch {
	case proc.killed:
		return "killed: did not drain in time"
	case !proc.terminated:
		return "exited: " + status
	case err == nil:
		return "drained"
	}
	return "exited while draining: " + status
}

// drain asks inst's worker to finish its request and exit, and arms the
// SIGKILL that follows DrainTimeout later. Called with p.mu held.
func (p *Provider) drain(inst *instance) {
	proc := inst.proc
	if inst.State != imgrec.StateStopping {
		p.setState(inst, imgrec.StateStopping, inst.Detail)
	}
	if proc.terminated {
		return
	}
	proc.terminated = true
	p.log.Info("worker draining", "instance", inst.ID)
	if err := proc.stdin.Close(); err != nil {
		p.log.Error("closing the worker's stdin failed", "instance", inst.ID, "err", err)
	}
	proc.killTimer = time.AfterFunc(p.cfg.DrainTimeout, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if proc.kill() {
			p.log.Warn("worker killed", "instance", proc.id, "reason", "drain timeout", "drain_timeout", p.cfg.DrainTimeout)
		}
	})
}

// kill sends SIGKILL unless the process has exited, and reports whether it
// did. Called with p.mu held.
func (proc *process) kill() bool {
	select {
	case <-proc.done:
		return false
	default:
	}
	if err := proc.cmd.Process.Kill(); err != nil {
		return false // exited just now
	}
	proc.killed = true
	return true
}
