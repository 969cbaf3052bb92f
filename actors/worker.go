package actors

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/otpsv/otpsv/actors/event"
	"github.com/otpsv/otpsv/actors/policy"
	"github.com/otpsv/otpsv/actors/proc"
	"github.com/otpsv/otpsv/config"
	"github.com/otpsv/otpsv/persistence"
)

// processWorker owns one OS process of a process worker node. A new actor
// (and so a new process) is spawned for every start: restarting is the
// supervisor's job, never protoactor's.
type processWorker struct {
	node *config.Node
	env  *env
	info nodeRef
	// birth is what its supervisor handed it: why it starts, what the
	// previous run left of it.
	birth birth
	p     *proc.Process
	// stopping is set once the stop began: an exit after that is the
	// stop's doing, not a failure.
	stopping bool
	failed   bool
	// guard: the worker is not to run; it only stops what an earlier run
	// of otpsv left running.
	guard bool
	// temporaryDone: a temporary worker that ran in an earlier pass.
	temporaryDone bool
	// adoptCheck: the liveness check of an adopted process is under way;
	// the worker is ready when it passes.
	adoptCheck bool
	// abort is closed when the stop begins (ends a readiness wait).
	abort chan struct{}
	// cmds runs the optional status command: readiness after start, then
	// liveness every check_interval.
	cmds  *commands
	check checker
	h     workerHealth
}

type procTick struct{}

// procReady is the outcome of waiting for a started process's status to
// report running.
type procReady struct {
	pid int
	res checkResult
}

func newProcessWorker(node *config.Node, e *env, b birth) actor.Producer {
	return func() actor.Actor {
		cmds := newCommands(node, e)
		return &processWorker{node: node, env: e, info: e.ref(node.Path), birth: b, cmds: cmds, check: checker{cmds: cmds},
			guard: b.guard, abort: make(chan struct{})}
	}
}

func (w *processWorker) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		w.start(ctx)
	case *processExited:
		w.exited(m)
	case *procReady:
		w.readiness(ctx, m)
	case *procTick:
		w.liveness(ctx)
	case *checkResult:
		w.checked(ctx, m)
	case *healthTimer:
		w.timer(ctx, m)
	case *probeDone:
		w.probed(ctx, m)
	case *notified:
		w.notified(ctx, m)
	case *fdSignalled:
		w.fdSignalled(ctx, m)
	case *actor.Stopping:
		w.stop()
	}
}

func (w *processWorker) start(ctx actor.Context) {
	if w.adopt(ctx) {
		return
	}
	if w.guard {
		w.info.set(StateStopped, 0)
		w.started(ctx, true)
		return
	}
	w.info.set(StateStarting, 0)
	reason := "was not running"
	if w.birth.reason != "" {
		reason = w.birth.reason
	}
	spec, err := w.spec()
	spec.Detach = w.env.pass // a pass's processes outlive it
	var p *proc.Process
	if err == nil {
		err = w.prepareHealth(&spec)
	}
	if err == nil {
		p, err = proc.Start(spec)
	}
	if err != nil {
		w.closeHealth()
		// proc.Start closes them; it may not have run (a health error).
		for _, f := range []*os.File{spec.Stdout.File, spec.Stderr.File} {
			if f != nil {
				_ = f.Close()
			}
		}
		w.failed = true
		w.info.set(StateFailed, 0)
		w.env.emit(slog.LevelError, "start failed", event.Event{Kind: event.Failed, Path: w.node.Path, Type: "process",
			Reason: err.Error(), Cause: event.CauseExit}, "node", w.node.Path, "err", err)
		panic(&failure{path: w.node.Path, abnormal: true, what: err.Error(), cause: event.CauseExit})
	}
	w.p = p
	st, _ := p.StartTime()
	gate := gated(w.node)
	state := StateRunning
	if gate {
		state = StateStarting // until it is ready
	}
	w.info.setStarted(state, p.Pid, st)
	w.env.emit(slog.LevelInfo, "started", event.Event{Kind: event.Started, Path: w.node.Path, Type: "process", Pid: p.Pid}, "node", w.node.Path, "pid", p.Pid)
	if w.env.pass {
		// A pass prints a line per start, in start order, once the pid
		// is saved.
		w.info.saveNow()
		w.env.report(w.node.Path, fmt.Sprintf("started (pid %d): %s", p.Pid, reason))
	} else {
		// The daemon saves the pid in the background (the view marks
		// it), after the new process's exec rather than competing with
		// it: until then the process is known by its tag (see
		// decideTakeOver).
	}
	w.started(ctx, !gate)
	w.watch(ctx)
	if !gate {
		if w.node.Liveness != nil {
			w.h.ready = true
			w.onReady(ctx)
		}
		return
	}
	w.listen(ctx, p.Pid)
	w.awaitReady(ctx)
	if len(w.node.Status) == 0 {
		return
	}
	// starting until the status command first exits 0
	pid, self, root := p.Pid, ctx.Self(), ctx.ActorSystem().Root
	abort := w.abort
	go func() { root.Send(self, &procReady{pid: pid, res: w.cmds.waitRunning(abort)}) }()
}

// watch turns the process's exit into a message. A oneshot pass does not
// stay to watch: the next pass finds out.
func (w *processWorker) watch(ctx actor.Context) {
	if w.env.pass {
		return
	}
	p, self, root := w.p, ctx.Self(), ctx.ActorSystem().Root
	go func() {
		<-p.Done()
		root.Send(self, &processExited{pid: p.Pid, status: p.Status()})
	}()
}

// started tells the supervisor the child is up (and, when ready, ready).
func (w *processWorker) started(ctx actor.Context, ready bool) {
	ctx.Send(ctx.Parent(), &childStarted{pid: ctx.Self()})
	if ready {
		ctx.Send(ctx.Parent(), &childReady{pid: ctx.Self()})
	}
}

// adopt takes over the process an earlier run of otpsv recorded, when it
// is still the same process (pid and start time): the daemon was killed
// and started again, or a oneshot pass left it running. It reports
// whether the worker is done starting. A process recorded as running by
// the last pass and found gone is a failure of the child.
func (w *processWorker) adopt(ctx actor.Context) bool {
	var snap persistence.Snapshot
	had := w.birth.prior != nil
	if had {
		snap = *w.birth.prior
	}
	w.emptyGroups(snap)
	if had && w.env.pass && !w.guard && w.node.Restart == policy.Temporary && snap.Pid <= 0 && snap.PidStart != 0 {
		// ran in an earlier pass and has ended: done for good
		w.info.setPidStart(snap.PidStart)
		w.info.note(fact{kind: fLastExit, text: snap.LastExit, at: snap.LastExitAt})
		w.info.setDone(true)
		w.info.set(StateStopped, 0)
		w.temporaryDone = true
		w.started(ctx, true)
		return true
	}
	if !had || snap.Pid <= 0 {
		return false
	}
	p, err := proc.Adopt(snap.Pid, snap.PidStart, !w.env.pass)
	if err != nil && w.env.pass && !w.guard && w.node.Restart == policy.Temporary {
		// A temporary worker runs once: gone since the last pass, it is
		// done, and no later pass starts it again. (A pass cannot learn a
		// detached process's exit status.)
		w.env.log.Info("temporary worker ended since the last pass", "node", w.node.Path, "pid", snap.Pid)
		w.info.setPidStart(snap.PidStart)
		w.info.setLastExit("ended (exit status unknown)")
		w.info.setDone(true)
		w.info.set(StateStopped, 0)
		w.temporaryDone = true
		w.started(ctx, true)
		return true
	}
	if err != nil {
		if w.env.pass && !w.guard && (snap.State == string(StateRunning) || snap.State == string(StateStarting)) {
			what := fmt.Sprintf("found dead (pid %d is gone)", snap.Pid)
			w.failed = true
			w.info.setLastExit(what)
			w.info.set(StateFailed, 0)
			w.env.emit(slog.LevelWarn, "exited", event.Event{Kind: event.Exited, Path: w.node.Path, Type: "process", Pid: snap.Pid,
				Reason: what, Cause: event.CauseExit}, "node", w.node.Path, "pid", snap.Pid, "status", what, "restart", w.node.Restart.String())
			panic(&failure{path: w.node.Path, abnormal: true, what: what, cause: event.CauseExit})
		}
		w.env.log.Info("process of the last run is gone", "node", w.node.Path, "pid", snap.Pid)
		return false
	}
	w.p = p
	w.info.setPidStart(snap.PidStart)
	if w.guard {
		w.info.set(StateStopping, p.Pid)
		err := p.Stop(context.Background(), w.node.StopSignal, w.node.StopTimeout, w.env.hurry)
		if err != nil {
			w.env.log.Error("stop incomplete", "node", w.node.Path, "pid", p.Pid, "err", err)
		}
		w.env.log.Info("stopped a process left by an earlier run", "node", w.node.Path, "pid", p.Pid)
		if w.node.Expected != config.Running || w.birth.adminStopped {
			// Otherwise a strategy stopped it, and the line of its start
			// (or of its supervisor giving up) says why.
			w.env.report(w.node.Path, fmt.Sprintf("stopped (pid %d): expected stopped", p.Pid))
		}
		w.p = nil
		w.info.set(StateStopped, 0)
		w.started(ctx, true)
		return true
	}
	w.info.set(StateRunning, p.Pid)
	if !w.env.pass {
		w.env.log.Info("adopted", "node", w.node.Path, "pid", p.Pid)
	}
	w.watch(ctx)
	w.adoptHealth(ctx)
	if len(w.node.Status) == 0 {
		w.started(ctx, true)
		w.onReady(ctx)
		return true
	}
	// ready once its liveness check passes (a pass checks only this once)
	w.started(ctx, false)
	w.adoptCheck = true
	w.liveness(ctx)
	return true
}

func (w *processWorker) readiness(ctx actor.Context, m *procReady) {
	if w.stopping || w.p == nil || m.pid != w.p.Pid || w.p.Exited() {
		return
	}
	if m.res.obs != obsRunning {
		w.failCheck(event.CauseNotReady, "not ready: "+m.res.detail)
	}
	w.h.statusOK = true
	w.maybeReady(ctx)
}

func (w *processWorker) schedule(ctx actor.Context) {
	w.check.after(ctx, w.env.checkInterval, w.env.checkInterval, &procTick{})
}

// liveness runs the status check on a goroutine of its own.
func (w *processWorker) liveness(ctx actor.Context) {
	if w.check.inFlight || w.stopping || w.p == nil || w.p.Exited() {
		return
	}
	w.check.launch(ctx, asResult)
}

func (w *processWorker) checked(ctx actor.Context, r *checkResult) {
	if w.stopping || w.p == nil || w.p.Exited() || !w.check.done(r) {
		return
	}
	if r.obs != obsRunning {
		w.failCheck(event.CauseLiveness, "liveness check failed: "+r.detail)
	}
	if w.adoptCheck {
		w.adoptCheck = false
		ctx.Send(ctx.Parent(), &childReady{pid: ctx.Self()})
		w.onReady(ctx) // schedules the next check too
		return
	}
	w.schedule(ctx)
}

// failCheck reports a hung process: its supervisor stops it (the whole
// process group, SIGKILL after stop_timeout) and applies its strategy.
func (w *processWorker) failCheck(cause event.Cause, what string) {
	w.env.emit(slog.LevelWarn, "process hung; killing its process group", event.Event{Kind: event.Failed, Path: w.node.Path,
		Type: "process", Pid: w.p.Pid, Reason: what, Cause: cause}, "node", w.node.Path, "pid", w.p.Pid)
	w.failed = true
	w.info.set(StateFailed, w.p.Pid)
	panic(&failure{path: w.node.Path, abnormal: true, what: what, cause: cause})
}

func (w *processWorker) spec() (proc.Spec, error) {
	n := w.node
	var env []string
	if len(n.Env) > 0 {
		env = proc.MergeEnv(proc.InheritedEnv(), n.Env)
	}
	cred, err := proc.Credential(n.User, n.Group)
	if err != nil {
		return proc.Spec{}, err
	}
	stdout, stderr := output(n.Stdout), output(n.Stderr)
	if logOut, logErr := n.Stdout.Kind == config.OutputLog, n.Stderr.Kind == config.OutputLog; n.Log != nil && (logOut || logErr) {
		// Last, so that no error of spec leaves the logger's pipes open:
		// proc.Start closes the write ends, whether it starts or not.
		wOut, wErr, err := w.startLogger(logOut, logErr)
		if err != nil {
			return proc.Spec{}, fmt.Errorf("log: %w", err)
		}
		if wOut != nil {
			stdout = proc.Output{File: wOut}
		}
		if wErr != nil {
			stderr = proc.Output{File: wErr}
		}
	}
	return proc.Spec{
		Tag:        w.env.tagOf(n.Path),
		Argv:       n.Command,
		Dir:        n.Dir,
		Env:        env,
		Stdout:     stdout,
		Stderr:     stderr,
		Credential: cred,
	}, nil
}

// output is where a stream goes, except config.OutputLog, which spec
// sends to the worker's logger (a worker without one discards it).
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
	w.info.setLastExit(m.status.String())
	lvl := slog.LevelWarn
	if m.status.Normal() {
		lvl = slog.LevelInfo
	}
	ev := event.Event{Kind: event.Exited, Path: w.node.Path, Type: "process", Pid: m.pid, Reason: m.status.String(), Cause: exitCause(m.status)}
	if m.status.Signal != 0 {
		ev.Signal = proc.SignalName(m.status.Signal)
	} else if m.status != proc.ExitUnknown {
		ev.ExitCode = event.Int(m.status.Code)
	}
	w.env.emit(lvl, "exited", ev, "node", w.node.Path, "pid", m.pid, "status", m.status.String(), "restart", w.node.Restart.String())
	if m.status.Normal() && w.node.Restart != policy.Permanent {
		w.info.setDone(true) // its restart type says it may end
		w.info.set(StateStopped, 0)
	} else {
		w.failed = true
		w.info.set(StateFailed, 0)
	}
	panic(&failure{path: w.node.Path, abnormal: !m.status.Normal(), what: m.status.String(), cause: ev.Cause,
		exited: true, trigger: w.node.Path, code: exitCode(m.status)})
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
	close(w.abort)
	w.check.stop()
	w.closeHealth()
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
		w.env.emit(slog.LevelInfo, "stopped", event.Event{Kind: event.Stopped, Path: w.node.Path, Type: "process", Pid: w.p.Pid}, "node", w.node.Path, "pid", w.p.Pid)
	}
	if !w.failed {
		w.info.set(StateStopped, 0)
	}
}
