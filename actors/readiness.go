package actors

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/otpsv/otpsv/actors/event"
	"github.com/otpsv/otpsv/actors/health"
	"github.com/otpsv/otpsv/actors/policy"
	"github.com/otpsv/otpsv/actors/proc"
	"github.com/otpsv/otpsv/config"
)

// The messages a process worker gets from its health goroutines and
// timers (SPEC §6). Each names the process it is about: one for an
// earlier process of the same actor is stale.
type (
	notified struct {
		pid int
		m   health.Message
	}
	fdSignalled struct{ pid int }
	healthTimer struct {
		pid  int
		kind timerKind
		gen  int
	}
)

type timerKind int

const (
	tReadyTimeout timerKind = iota
	tWatchdog
	nTimers
)

// workerHealth is what a process worker knows of its process's health:
// whether it is ready, and the mechanisms that tell (readiness signal,
// probes, watchdog). It belongs to the worker's actor; only the actor's
// goroutine touches it.
type workerHealth struct {
	// notReady: a readiness probe (or RELOADING=1) turned the ready
	// worker's readiness off.
	notReady bool
	notifier *health.Notifier
	fd       *health.FDReady
	probes   probeSet
	timers   [nTimers]*time.Timer
	gens     [nTimers]int
	// The gates of readiness: the signal (notify, fd), the readiness
	// probe's first success, the legacy status command's first success.
	signalled, probed, statusOK bool
	ready                       bool // told the supervisor
	reloading                   bool // RELOADING=1 until READY=1
	watchdog                    time.Duration
}

// gated: the worker is not ready once spawned; something has to say so.
func gated(n *config.Node) bool {
	return n.Ready != config.ReadySpawn || n.Readiness != nil || len(n.Status) > 0
}

// notifyPath is where the NOTIFY_SOCKET of the worker at path is bound:
// the same path in every run on one state_dir, so that a daemon started
// again hears a process it adopts. A worker that runs as another user
// (or a path too long for a socket) gets an abstract socket, which needs
// no directory that user may enter; the process-group check attributes
// its messages all the same.
func (e *env) notifyPath(path string, otherUser bool) string {
	sum := sha256.Sum256([]byte(path))
	name := hex.EncodeToString(sum[:8])
	if !otherUser && e.notifyDir != "" {
		p := filepath.Join(e.notifyDir, name+".sock")
		if len(p) < 108 && os.MkdirAll(e.notifyDir, 0o700) == nil {
			return p
		}
	}
	inst := e.instance
	if inst == "" {
		inst = fmt.Sprint(os.Getpid())
	}
	return "@otpsv/" + inst + "/" + name
}

// prepareHealth sets up what the process needs before it is spawned: its
// notify socket or notification fd, and their environment.
func (w *processWorker) prepareHealth(spec *proc.Spec) error {
	n := w.node
	w.h.watchdog = n.Watchdog
	var extra []string
	switch n.Ready {
	case config.ReadyNotify:
		nt, err := w.listenNotify(spec.Credential)
		if err != nil {
			return fmt.Errorf("notify socket: %w", err)
		}
		w.h.notifier = nt
		extra = append(extra, "NOTIFY_SOCKET="+nt.Path())
		if n.Watchdog > 0 {
			extra = append(extra, fmt.Sprintf("WATCHDOG_USEC=%d", n.Watchdog.Microseconds()))
			// WATCHDOG_PID must be the process's own pid, unknown before
			// the fork: a shell learns it and execs the command, which
			// keeps the pid.
			spec.Argv = append([]string{"/bin/sh", "-c", `WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"`, "sh"}, spec.Argv...)
		}
	case config.ReadyFD:
		fr, wend, err := health.NewFDReady()
		if err != nil {
			return fmt.Errorf("notification fd: %w", err)
		}
		w.h.fd = fr
		spec.ExtraFiles = map[int]*os.File{n.ReadyFD: wend}
	}
	if len(extra) > 0 {
		base := spec.Env
		if base == nil {
			base = proc.InheritedEnv()
		}
		spec.Env = proc.MergeEnv(base, extra)
	}
	return nil
}

// listenNotify binds the worker's notify socket, owned by the user the
// worker runs as (cred; nil: otpsv's own).
func (w *processWorker) listenNotify(cred *syscall.Credential) (*health.Notifier, error) {
	uid, gid := -1, -1
	if cred != nil {
		uid, gid = int(cred.Uid), int(cred.Gid)
	}
	return health.ListenNotify(w.env.notifyPath(w.node.Path, cred != nil), uid, gid)
}

// listen starts hearing the process pid: its notify messages (only from
// its process group) and its notification fd.
func (w *processWorker) listen(ctx actor.Context, pid int) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	if nt := w.h.notifier; nt != nil {
		nt.Start(pid, func(m health.Message) { root.Send(self, &notified{pid: pid, m: m}) })
	}
	if fr := w.h.fd; fr != nil {
		fr.CloseChildEnd()
		fr.Start(func() { root.Send(self, &fdSignalled{pid: pid}) })
	}
}

// awaitReady arms what decides readiness after a start: the ready
// timeout and the readiness probe (the legacy status command has its own
// wait).
func (w *processWorker) awaitReady(ctx actor.Context) {
	n := w.node
	if n.Ready != config.ReadySpawn || n.Readiness != nil {
		w.arm(ctx, tReadyTimeout, n.ReadyTimeout)
	}
	if n.Readiness != nil {
		w.h.probes.begin(ctx, w.env, n, policy.Readiness, w.p.Pid, false)
	}
}

// maybeReady makes the worker ready once every gate has opened.
func (w *processWorker) maybeReady(ctx actor.Context) {
	n, h := w.node, &w.h
	if h.ready || w.p == nil || (n.Ready != config.ReadySpawn && !h.signalled) ||
		(n.Readiness != nil && !h.probed) || (len(n.Status) > 0 && !h.statusOK) {
		return
	}
	h.ready = true
	w.disarm(tReadyTimeout)
	w.info.set(StateRunning, w.p.Pid)
	w.env.emit(slog.LevelInfo, "ready", event.Event{Kind: event.Ready, Path: n.Path, Type: "process", Pid: w.p.Pid}, "node", n.Path, "pid", w.p.Pid)
	ctx.Send(ctx.Parent(), &childReady{pid: ctx.Self()})
	w.onReady(ctx)
}

// onReady starts what watches a ready process: liveness probe, watchdog,
// the legacy status command. A oneshot pass watches nothing after it:
// its notify socket goes (the next run binds the same path again).
func (w *processWorker) onReady(ctx actor.Context) {
	n, h := w.node, &w.h
	if w.env.pass {
		w.closeHealth()
		return
	}
	if len(n.Status) > 0 {
		w.schedule(ctx)
	}
	if n.Liveness != nil && !h.probes.running(policy.Liveness) {
		h.probes.begin(ctx, w.env, n, policy.Liveness, w.p.Pid, false)
	}
	if n.Readiness != nil && !h.probes.running(policy.Readiness) {
		// adopted: ready already; the probe watches it from now on
		h.probes.begin(ctx, w.env, n, policy.Readiness, w.p.Pid, true)
	}
	if h.watchdog > 0 {
		w.arm(ctx, tWatchdog, h.watchdog)
	}
}

// adoptHealth hears an adopted process again: its notify socket is bound
// at the path it was given when it started.
func (w *processWorker) adoptHealth(ctx actor.Context) {
	n := w.node
	w.h.watchdog = n.Watchdog
	if n.Ready == config.ReadyNotify && !w.env.pass {
		cred, _ := proc.Credential(n.User, n.Group)
		nt, err := w.listenNotify(cred)
		if err != nil {
			w.env.log.Warn("notify socket", "node", n.Path, "err", err)
		} else {
			w.h.notifier = nt
			w.listen(ctx, w.p.Pid)
		}
	}
	w.h.signalled, w.h.probed, w.h.statusOK, w.h.ready = true, true, true, true
}

func (w *processWorker) arm(ctx actor.Context, kind timerKind, d time.Duration) {
	w.disarm(kind)
	w.h.gens[kind]++
	msg := &healthTimer{pid: w.p.Pid, kind: kind, gen: w.h.gens[kind]}
	self, root := ctx.Self(), ctx.ActorSystem().Root
	w.h.timers[kind] = time.AfterFunc(max(d, 0), func() { root.Send(self, msg) })
}

func (w *processWorker) disarm(kind timerKind) {
	if t := w.h.timers[kind]; t != nil {
		t.Stop()
		w.h.timers[kind] = nil
	}
}

// current: m is about the process the worker runs now, which runs on.
func (w *processWorker) current(pid int) bool {
	return !w.stopping && w.p != nil && w.p.Pid == pid && !w.p.Exited()
}

func (w *processWorker) timer(ctx actor.Context, m *healthTimer) {
	if !w.current(m.pid) || m.gen != w.h.gens[m.kind] {
		return
	}
	w.h.timers[m.kind] = nil
	switch m.kind {
	case tReadyTimeout:
		if !w.h.ready {
			w.failCheck(event.CauseNotReady, fmt.Sprintf("not ready within %s", w.node.ReadyTimeout))
		}
	case tWatchdog:
		w.failCheck(event.CauseWatchdog, fmt.Sprintf("watchdog: no WATCHDOG=1 within %s", w.h.watchdog))
	}
}

func (w *processWorker) probed(ctx actor.Context, m *probeDone) {
	if !w.current(m.epoch) {
		return
	}
	h := &w.h
	v, ok := h.probes.result(w.env, w.node, m)
	if !ok {
		return
	}
	switch v {
	case policy.Hung:
		w.failCheck(event.CauseLiveness, "liveness probe: "+m.err.Error())
	case policy.BecameReady:
		if !h.ready {
			h.probed = true
			w.maybeReady(ctx)
		} else {
			w.setReady(ctx, true, "")
		}
	case policy.BecameUnready:
		w.setReady(ctx, false, "readiness probe: "+m.err.Error())
	}
	if w.env.pass && h.ready {
		return // a pass watches nothing once ready
	}
	h.probes.again(ctx, w.env, w.node, m)
}

// setReady turns a ready worker's readiness off and on again (a
// readiness probe, RELOADING=1): it stays running, not restarted.
func (w *processWorker) setReady(ctx actor.Context, ready bool, reason string) {
	if w.h.notReady == !ready {
		return
	}
	w.h.notReady = !ready
	w.info.setNotReady(!ready)
	if ready {
		w.env.emit(slog.LevelInfo, "ready", event.Event{Kind: event.Ready, Path: w.node.Path, Type: "process", Pid: w.p.Pid}, "node", w.node.Path, "pid", w.p.Pid)
		ctx.Send(ctx.Parent(), &childReady{pid: ctx.Self()})
		return
	}
	w.env.emit(slog.LevelWarn, "not ready", event.Event{Kind: event.NotReady, Path: w.node.Path, Type: "process", Pid: w.p.Pid, Reason: reason}, "node", w.node.Path, "pid", w.p.Pid)
	ctx.Send(ctx.Parent(), &childUnready{pid: ctx.Self()})
}

func (w *processWorker) notified(ctx actor.Context, m *notified) {
	if !w.current(m.pid) {
		return
	}
	h, msg := &w.h, m.m
	if msg.Status != nil {
		w.info.setMessage(*msg.Status)
	}
	if msg.MainPid > 0 {
		w.env.log.Info("main pid", "node", w.node.Path, "pid", m.pid, "mainpid", msg.MainPid)
	}
	if msg.Stopping {
		w.env.log.Info("worker says it is stopping", "node", w.node.Path, "pid", m.pid)
	}
	if msg.WatchdogTrigger {
		w.failCheck(event.CauseWatchdog, "watchdog: the worker asked for it (WATCHDOG=trigger)")
	}
	if msg.WatchdogUsec > 0 {
		h.watchdog = time.Duration(msg.WatchdogUsec) * time.Microsecond
	}
	if msg.Reloading && h.ready {
		h.reloading = true
		w.setReady(ctx, false, "reloading (RELOADING=1)")
	}
	if msg.Ready {
		h.signalled = true
		if h.reloading {
			h.reloading = false
			w.setReady(ctx, true, "")
		}
		w.maybeReady(ctx)
	}
	if h.ready && h.watchdog > 0 && (msg.Watchdog || msg.WatchdogUsec > 0) && !w.env.pass {
		w.arm(ctx, tWatchdog, h.watchdog)
	}
}

func (w *processWorker) fdSignalled(ctx actor.Context, m *fdSignalled) {
	if !w.current(m.pid) {
		return
	}
	w.h.signalled = true
	w.maybeReady(ctx)
}

// closeHealth stops every timer and listener of the worker.
func (w *processWorker) closeHealth() {
	for k := range w.h.timers {
		w.disarm(timerKind(k))
	}
	if nt := w.h.notifier; nt != nil {
		_ = nt.Close()
		w.h.notifier = nil
	}
	if fr := w.h.fd; fr != nil {
		fr.Close()
		w.h.fd = nil
	}
	w.h.probes.close()
}
