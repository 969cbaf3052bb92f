package actors

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/otpsv/otpsv/actors/policy"
	"github.com/otpsv/otpsv/actors/proc"
	"github.com/otpsv/otpsv/config"
)

// processWorker owns one OS process of a process worker node. A new actor
// (and so a new process) is spawned for every start: restarting is the
// supervisor's job, never protoactor's.
type processWorker struct {
	node *config.Node
	env  *env
	info *nodeInfo
	p    *proc.Process
	// stopping is set once the stop began: an exit after that is the
	// stop's doing, not a failure.
	stopping bool
	failed   bool
}

func newProcessWorker(node *config.Node, e *env) actor.Producer {
	return func() actor.Actor {
		return &processWorker{node: node, env: e, info: e.reg.get(node.Path)}
	}
}

func (w *processWorker) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		w.start(ctx)
	case *processExited:
		w.exited(m)
	case *actor.Stopping:
		w.stop()
	}
}

func (w *processWorker) start(ctx actor.Context) {
	w.info.setDone(false)
	w.info.set(StateStarting, 0)
	spec, err := w.spec()
	var p *proc.Process
	if err == nil {
		p, err = proc.Start(spec)
	}
	if err != nil {
		w.failed = true
		w.info.set(StateFailed, 0)
		w.env.log.Error("start failed", "node", w.node.Path, "err", err)
		panic(&failure{path: w.node.Path, abnormal: true, what: err.Error()})
	}
	w.p = p
	w.info.set(StateRunning, p.Pid)
	w.env.log.Info("started", "node", w.node.Path, "pid", p.Pid)
	self, root := ctx.Self(), ctx.ActorSystem().Root
	go func() {
		<-p.Done()
		root.Send(self, &processExited{pid: p.Pid, status: p.Status()})
	}()
	ctx.Send(ctx.Parent(), &childStarted{pid: ctx.Self()})
}

func (w *processWorker) spec() (proc.Spec, error) {
	n := w.node
	var env []string
	if len(n.Env) > 0 {
		env = proc.MergeEnv(os.Environ(), n.Env)
	}
	cred, err := proc.Credential(n.User, n.Group)
	if err != nil {
		return proc.Spec{}, err
	}
	return proc.Spec{
		Argv:       n.Command,
		Dir:        n.Dir,
		Env:        env,
		Stdout:     output(n.Stdout),
		Stderr:     output(n.Stderr),
		Credential: cred,
	}, nil
}

func output(o config.Output) proc.Output {
	switch o.Kind {
	case config.OutputFile:
		return proc.Output{Path: o.Path}
	case config.OutputInherit:
		return proc.Output{Inherit: true}
	}
	return proc.Output{}
}

func (w *processWorker) exited(m *processExited) {
	if w.stopping || w.p == nil || m.pid != w.p.Pid {
		return
	}
	lvl := slog.LevelWarn
	if m.status.Normal() {
		lvl = slog.LevelInfo
	}
	w.env.log.Log(context.Background(), lvl, "exited", "node", w.node.Path, "pid", m.pid, "status", m.status.String(), "restart", w.node.Restart.String())
	if m.status.Normal() && w.node.Restart != policy.Permanent {
		w.info.setDone(true) // its restart type says it may end
		w.info.set(StateStopped, 0)
	} else {
		w.failed = true
		w.info.set(StateFailed, 0)
	}
	panic(&failure{path: w.node.Path, abnormal: !m.status.Normal(), what: m.status.String()})
}

// stop runs on the worker's own goroutine while protoactor stops the
// actor, so the supervisor learns of the Terminated only once the process
// group is empty. A panic here would turn the stop into a restart, hence
// the recover.
func (w *processWorker) stop() {
	defer func() {
		if r := recover(); r != nil {
			w.env.log.Error("stop panicked", "node", w.node.Path, "panic", fmt.Sprint(r))
		}
	}()
	w.stopping = true
	if w.p == nil {
		w.info.set(StateStopped, 0)
		return
	}
	wasRunning := !w.p.Exited()
	if wasRunning {
		w.info.set(StateStopping, w.p.Pid)
	}
	err := w.p.Stop(context.Background(), w.node.StopSignal, w.node.StopTimeout, w.env.hurry)
	if err != nil {
		w.env.log.Error("stop incomplete", "node", w.node.Path, "pid", w.p.Pid, "err", err)
	} else if wasRunning {
		w.env.log.Info("stopped", "node", w.node.Path, "pid", w.p.Pid)
	}
	if !w.failed {
		w.info.set(StateStopped, 0)
	}
}
