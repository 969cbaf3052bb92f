package actors

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/otpsv/otpsv/actors/event"
	"github.com/otpsv/otpsv/actors/policy"
	"github.com/otpsv/otpsv/config"
)

// serviceWorker drives a daemonizing service through its commands. Every
// command runs on a goroutine of its own and reports back as a message, so
// a hung status command never delays this actor's mailbox, let alone the
// checks of other services; only the stop, run from protoactor's Stopping,
// blocks this actor's goroutine (bounded by the node's timeout).
//
// A service that is not wanted (expected stopped, or stopped by an
// operator) still gets an actor, a guard: it checks that the service stays
// stopped, and a service found running is a failure.
type serviceWorker struct {
	node  *config.Node
	env   *env
	info  nodeRef
	birth birth // what its supervisor handed it
	cmds  *commands
	guard bool
	check checker
	// last is what the last check found.
	last observed
	// seen is the main process (from the pidfile) a check last found
	// running: what a stop signals if the pidfile no longer names it.
	seen     procRef
	starting chan struct{} // closed when a start command in flight ends
	stopping bool
	// wasRunning: the last pass recorded it running (a pass that finds it
	// otherwise counts a failure).
	wasRunning bool
	hadPrior   bool
	// reason is why this actor starts the service, once it does.
	reason string
	// restarting: the restart command runs; checks wait for it.
	restarting bool
	// abort is closed when the stop begins: waiting for a started service
	// to report running is pointless then.
	abort chan struct{}
	// probes are its readiness and liveness probes (SPEC §6); probing:
	// its readiness probe has yet to succeed once, within readyTimer.
	probes     probeSet
	probing    bool
	readyTimer *time.Timer
}

// serviceNotReady: a started service's readiness probe did not succeed
// within its timeout.
type serviceNotReady struct{}

type serviceTick struct{}

type serviceStarted struct {
	err error
	res checkResult
}

type serviceCleaned struct{ err error }

// serviceRestart asks for the service's own restart command (an
// operator's `otpsv restart`).
type serviceRestart struct{ reply func(error) }

type serviceRestarted struct {
	reply func(error)
	err   error
	res   checkResult
}

func newServiceWorker(node *config.Node, e *env, b birth) actor.Producer {
	return func() actor.Actor {
		cmds := newCommands(node, e)
		return &serviceWorker{node: node, env: e, info: e.ref(node.Path), birth: b, cmds: cmds, check: checker{cmds: cmds},
			guard: b.guard, abort: make(chan struct{})}
	}
}

func (w *serviceWorker) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		w.hadPrior = w.birth.prior != nil
		w.wasRunning = w.hadPrior && w.birth.prior.State == string(StateRunning)
		w.reason = "was not running"
		if w.birth.reason != "" {
			w.reason = w.birth.reason
		}
		w.info.set(StateStarting, 0)
		// started at once: a one_for_one supervisor goes on with the next
		// sibling while this one's check runs; the others wait for ready
		ctx.Send(ctx.Parent(), &childStarted{pid: ctx.Self()})
		w.status(ctx, true)
	case *serviceTick:
		w.status(ctx, false)
	case *initialResult:
		w.initial(ctx, m.checkResult)
	case *checkResult:
		w.checked(ctx, m)
	case *serviceCleaned:
		// a dirty service found at start-up was stopped; now start it
		if m.err != nil {
			w.fail(event.CauseDirty, fmt.Sprintf("dirty at start-up, and its stop failed: %v", m.err))
		}
		w.launch(ctx)
	case *serviceStarted:
		if m.err != nil {
			w.fail(event.CauseNotReady, m.err.Error())
		}
		if m.res.obs != obsRunning {
			w.last = m.res.obs
			w.fail(event.CauseNotReady, m.res.detail)
		}
		w.env.report(w.node.Path, "started: "+w.reason)
		w.running(ctx, m.res)
	case *serviceRestart:
		w.restart(ctx, m.reply)
	case *serviceRestarted:
		w.restarting = false
		m.reply(m.err)
		if m.err != nil {
			w.last = m.res.obs
			w.fail(event.CauseNotReady, m.err.Error())
		}
		w.saw(m.res)
		w.info.set(StateRunning, m.res.pid)
	case *probeDone:
		w.probed(ctx, m)
	case *serviceNotReady:
		if w.probing && !w.stopping {
			w.fail(event.CauseNotReady, fmt.Sprintf("not ready within %s", w.node.Timeout))
		}
	case *actor.Stopping:
		w.stop()
	}
}

type initialResult struct{ checkResult }

// RestartCommand is the command that `otpsv restart PATH` runs for node n,
// a service worker: its `restart` command, by default `<control>
// restart` with `control`; nil when its restart is a stop then a start
// (`restart: stop+start`, or neither key), and for other nodes.
func RestartCommand(n *config.Node) []string {
	switch {
	case n.Type != config.Service || n.StopStart:
		return nil
	case len(n.RestartCmd) > 0:
		return n.RestartCmd
	case len(n.Control) > 0:
		return append(append([]string(nil), n.Control...), "restart")
	}
	return nil
}

// restart runs the service's restart command, then waits for it to
// report running, on a goroutine of its own.
func (w *serviceWorker) restart(ctx actor.Context, reply func(error)) {
	if w.restarting || w.stopping {
		reply(fmt.Errorf("%s is busy", w.node.Path))
		return
	}
	w.restarting = true
	w.info.set(StateStarting, 0)
	done := make(chan struct{})
	w.starting = done
	self, root := ctx.Self(), ctx.ActorSystem().Root
	argv, abort := RestartCommand(w.node), w.abort
	go func() {
		defer close(done)
		res, err := w.cmds.restart(argv, abort)
		root.Send(self, &serviceRestarted{reply: reply, err: err, res: res})
	}()
}

// status runs the status check on a goroutine of its own.
func (w *serviceWorker) status(ctx actor.Context, initial bool) {
	if w.check.inFlight || w.stopping || w.restarting {
		return
	}
	wrap := asResult
	if initial {
		wrap = func(r checkResult) any { return &initialResult{r} }
	}
	w.check.launch(ctx, wrap)
}

// initial decides what to do with what the first check found.
func (w *serviceWorker) initial(ctx actor.Context, r checkResult) {
	w.check.done(&r)
	w.last = r.obs
	w.saw(r)
	w.info.setLastCheck(r.obs.String() + firstLine(r.detail))
	if w.env.pass && w.wasRunning && !w.guard && r.obs != obsRunning {
		// running at the end of the last pass, not now: a failure
		w.fail(obsCause(r.obs), fmt.Sprintf("found %s: %s", r.obs, r.detail))
	}
	switch {
	case w.guard && r.obs == obsStopped:
		w.info.set(StateStopped, 0)
		w.ready(ctx)
	case w.guard && w.env.pass && w.hadPrior && !w.wasRunning:
		// A later pass finds running what the last one left stopped
		// (started behind otpsv's back): a failure; the supervisor's stop
		// of this guard stops the service. One that was running and is
		// now wanted stopped (an operator, a config change) is simply
		// stopped, below.
		w.fail(event.CauseDirty, fmt.Sprintf("found %s while expected stopped", r.obs))
	case w.guard:
		// Expected stopped and found running (or dirty) at start-up: stop
		// it now.
		w.env.log.Warn("service running while expected stopped; stopping it", "node", w.node.Path, "found", r.obs.String())
		w.info.set(StateStopping, r.pid)
		if err := w.cmds.stop(w.seen); err != nil {
			w.fail(event.CauseDirty, "expected stopped, and its stop failed: "+err.Error())
		}
		w.last = obsStopped
		w.info.set(StateStopped, 0)
		w.env.report(w.node.Path, "stopped: expected stopped")
		w.ready(ctx)
	case r.obs == obsRunning:
		w.env.log.Info("service already running", "node", w.node.Path)
		w.running(ctx, r)
	case r.obs == obsDirty:
		w.env.log.Warn("service dirty; stopping it to clean up, then starting it", "node", w.node.Path, "detail", r.detail)
		w.info.set(StateDirty, 0)
		self, root, seen := ctx.Self(), ctx.ActorSystem().Root, w.seen
		go func() { root.Send(self, &serviceCleaned{err: w.cmds.stop(seen)}) }()
	default:
		w.launch(ctx)
	}
}

// launch runs the start command, then waits (on the same goroutine) for
// the status to report running.
func (w *serviceWorker) launch(ctx actor.Context) {
	w.info.set(StateStarting, 0)
	done := make(chan struct{})
	w.starting = done
	self, root := ctx.Self(), ctx.ActorSystem().Root
	go func() {
		defer close(done)
		if err := w.cmds.start(); err != nil {
			root.Send(self, &serviceStarted{err: err})
			return
		}
		root.Send(self, &serviceStarted{res: w.cmds.waitRunning(w.abort)})
	}()
}

func (w *serviceWorker) running(ctx actor.Context, r checkResult) {
	w.last = obsRunning
	w.saw(r)
	pid := r.pid
	w.info.set(StateRunning, pid)
	ev := event.Event{Kind: event.Started, Path: w.node.Path, Type: "service", Pid: pid}
	if pid > 0 {
		w.env.emit(slog.LevelInfo, "started", ev, "node", w.node.Path, "pid", pid)
	} else {
		w.env.emit(slog.LevelInfo, "started", ev, "node", w.node.Path)
	}
	w.ready(ctx)
}

// saw keeps the main process that a check found running.
func (w *serviceWorker) saw(r checkResult) {
	if r.obs == obsRunning && r.main.pid > 0 {
		w.seen = r.main
	}
}

// ready tells the supervisor, and from now on checks every
// check_interval; the first one at a random point of the interval, so that
// a thousand services are not all checked in the same instant.
func (w *serviceWorker) ready(ctx actor.Context) {
	w.schedule(ctx, time.Duration(rand.Int64N(int64(w.env.checkInterval)+1)))
	if !w.guard && w.node.Readiness != nil && !w.probes.running(policy.Readiness) {
		// ready once its readiness probe also succeeds
		w.probing = true
		w.info.setNotReady(true)
		w.probes.begin(ctx, w.env, w.node, policy.Readiness, 0, false)
		self, root := ctx.Self(), ctx.ActorSystem().Root
		w.readyTimer = time.AfterFunc(w.node.Timeout, func() { root.Send(self, &serviceNotReady{}) })
		return
	}
	ctx.Send(ctx.Parent(), &childReady{pid: ctx.Self()})
	w.watchLiveness(ctx)
}

// watchLiveness begins the liveness probe of a ready service (a oneshot
// pass probes nothing after start).
func (w *serviceWorker) watchLiveness(ctx actor.Context) {
	if w.env.pass {
		w.probes.close()
		return
	}
	if !w.guard && w.node.Liveness != nil && !w.probes.running(policy.Liveness) {
		w.probes.begin(ctx, w.env, w.node, policy.Liveness, 0, false)
	}
}

// probed applies a probe's result: the first success of the readiness
// probe makes the service ready; later ones turn readiness off and on
// without a restart; a liveness probe's failures make it hung.
func (w *serviceWorker) probed(ctx actor.Context, m *probeDone) {
	if w.stopping {
		return
	}
	v, ok := w.probes.result(w.env, w.node, m)
	if !ok {
		return
	}
	switch v {
	case policy.Hung:
		w.info.set(StateFailed, 0)
		w.fail(event.CauseLiveness, "liveness probe: "+m.err.Error())
	case policy.BecameReady:
		w.info.setNotReady(false)
		// said before the supervisor hears it, which may start the next
		// sibling at once
		w.env.emit(slog.LevelInfo, "ready", event.Event{Kind: event.Ready, Path: w.node.Path, Type: "service"}, "node", w.node.Path)
		ctx.Send(ctx.Parent(), &childReady{pid: ctx.Self()})
		if w.probing {
			w.probing = false
			w.readyTimer.Stop()
			w.watchLiveness(ctx)
		}
	case policy.BecameUnready:
		w.info.setNotReady(true)
		w.env.emit(slog.LevelWarn, "not ready", event.Event{Kind: event.NotReady, Path: w.node.Path, Type: "service",
			Reason: "readiness probe: " + m.err.Error()}, "node", w.node.Path)
		ctx.Send(ctx.Parent(), &childUnready{pid: ctx.Self()})
	}
	if w.env.pass && !w.probing {
		return
	}
	if w.probes.running(m.role) {
		w.probes.again(ctx, w.env, w.node, m)
	}
}

func (w *serviceWorker) schedule(ctx actor.Context, d time.Duration) {
	w.check.after(ctx, w.env.checkInterval, d, &serviceTick{})
}

// checked applies a periodic check's result.
func (w *serviceWorker) checked(ctx actor.Context, r *checkResult) {
	if !w.check.done(r) {
		return
	}
	w.last = r.obs
	w.saw(*r)
	w.info.setLastCheck(r.obs.String() + firstLine(r.detail))
	switch {
	case w.guard && r.obs != obsStopped:
		w.info.set(StateFailed, r.pid)
		w.fail(event.CauseDirty, fmt.Sprintf("found %s while expected stopped", r.obs))
	case !w.guard && r.obs == obsStopped:
		w.info.set(StateFailed, 0)
		w.fail(event.CauseStopped, "found stopped: "+r.detail)
	case !w.guard && r.obs == obsDirty:
		w.info.set(StateDirty, 0)
		w.fail(event.CauseDirty, "dirty: "+r.detail)
	case r.obs == obsRunning:
		w.info.set(StateRunning, r.pid)
	}
	w.schedule(ctx, w.env.checkInterval)
}

// fail hands the failure to the supervisor (a panic is how protoactor
// reports a child's failure to its parent's HandleFailure).
func (w *serviceWorker) fail(cause event.Cause, what string) {
	st := StateFailed
	if w.last == obsDirty {
		st = StateDirty
	}
	w.info.set(st, 0)
	w.env.emit(slog.LevelWarn, "service failed", event.Event{Kind: event.Failed, Path: w.node.Path, Type: "service",
		Reason: what, Cause: cause}, "node", w.node.Path)
	panic(&failure{path: w.node.Path, abnormal: true, what: what, cause: cause})
}

// obsCause classes what a check found when it is a failure.
func obsCause(o observed) event.Cause {
	if o == obsStopped {
		return event.CauseStopped
	}
	return event.CauseDirty
}

// stop runs the stop command when the service may be running. It waits
// for a start still in flight first, so that a start never lands after
// the stop.
func (w *serviceWorker) stop() {
	defer func() {
		if r := recover(); r != nil {
			w.env.log.Error("stop panicked", "node", w.node.Path, "panic", fmt.Sprint(r))
		}
	}()
	w.stopping = true
	close(w.abort)
	w.check.stop()
	w.probes.close()
	if w.readyTimer != nil {
		w.readyTimer.Stop()
	}
	if w.starting != nil {
		// The start command itself runs to its end (or its timeout), so
		// that a start never lands after the stop; a second SIGTERM does
		// not wait even for that.
		select {
		case <-w.starting:
		case <-w.env.hurry:
		}
	}
	if w.guard && w.last == obsStopped {
		return
	}
	w.info.set(StateStopping, 0)
	if err := w.cmds.stop(w.seen); err != nil {
		w.env.log.Error("stop failed", "node", w.node.Path, "err", err)
		w.info.set(StateDirty, 0)
		return
	}
	w.env.emit(slog.LevelInfo, "stopped", event.Event{Kind: event.Stopped, Path: w.node.Path, Type: "service"}, "node", w.node.Path)
	if w.guard {
		w.env.report(w.node.Path, "stopped: it was running while expected stopped")
	}
	w.info.set(StateStopped, 0)
}
