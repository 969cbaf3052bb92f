package actors

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/otpsv/otpsv/actors/event"
	"github.com/otpsv/otpsv/actors/health"
	"github.com/otpsv/otpsv/actors/policy"
	"github.com/otpsv/otpsv/actors/proc"
	"github.com/otpsv/otpsv/config"
)

// probeDone is a probe run's result, sent to the worker's actor. epoch
// names what was probed (a process worker's pid, a service's start): a
// result about an earlier one is stale.
type probeDone struct {
	epoch int
	role  policy.ProbeRole
	gen   int
	err   error
	ranAt time.Time
}

// probeSet runs a worker's readiness and liveness probes (SPEC §6). It
// belongs to the worker's actor; the runs happen on timer goroutines,
// which send the actor only the result: a probe every second of a
// thousand workers costs one wake-up each, not three.
type probeSet struct {
	probers [2]*policy.Prober // by policy.ProbeRole; nil until begun
	runners [2]*probeRunner
	timers  [2]*time.Timer
	gens    [2]int
}

func nodeProbe(n *config.Node, role policy.ProbeRole) *config.Probe {
	if role == policy.Liveness {
		return n.Liveness
	}
	return n.Readiness
}

// running: the probe of role has begun.
func (ps *probeSet) running(role policy.ProbeRole) bool { return ps.probers[role] != nil }

// begin starts the probe of role of node n on epoch: its first run is
// due after its initial delay. ready: the worker is known ready already
// (adopted), so a readiness probe only watches it from now on.
func (ps *probeSet) begin(ctx actor.Context, e *env, n *config.Node, role policy.ProbeRole, epoch int, ready bool) {
	p := nodeProbe(n, role)
	pr := policy.NewProber(role, p.ProbeSpec)
	ps.probers[role] = pr
	now := time.Now()
	d := pr.First(now).Sub(now)
	if ready {
		pr.Result(true)
		d = p.Period
	}
	ps.schedule(ctx, e, n, role, epoch, d)
}

// again schedules the run after the one that ended with m, aligned to
// the probe's grid (policy.ProbeTick).
func (ps *probeSet) again(ctx actor.Context, e *env, n *config.Node, m *probeDone) {
	if ps.probers[m.role] == nil {
		return // closed
	}
	p := nodeProbe(n, m.role)
	next := policy.Align(ps.probers[m.role].Next(m.ranAt), policy.ProbeTick(p.Period))
	ps.schedule(ctx, e, n, m.role, m.epoch, time.Until(next))
}

func (ps *probeSet) schedule(ctx actor.Context, e *env, n *config.Node, role policy.ProbeRole, epoch int, d time.Duration) {
	if t := ps.timers[role]; t != nil {
		t.Stop()
	}
	ps.gens[role]++
	r := ps.runners[role]
	if r == nil {
		env := health.ExecEnv{Dir: n.Dir}
		if len(n.Env) > 0 {
			env.Env = proc.MergeEnv(proc.InheritedEnv(), n.Env)
		}
		r = &probeRunner{sess: health.NewSession(nodeProbe(n, role), env)}
		ps.runners[role] = r
	}
	self, root, gen := ctx.Self(), ctx.ActorSystem().Root, ps.gens[role]
	ps.timers[role] = time.AfterFunc(max(d, 0), func() {
		if !e.addCommand() {
			return // the tree is ending
		}
		defer e.cmds.Done()
		ranAt := time.Now()
		err := r.run(e.cmdCtx)
		if errors.Is(err, errProbeClosed) {
			return
		}
		root.Send(self, &probeDone{epoch: epoch, role: role, gen: gen, err: err, ranAt: ranAt})
	})
}

// result takes a run's outcome (false for a stale one: a later schedule
// or close replaced it), logs a failure, and says what it changes.
func (ps *probeSet) result(e *env, n *config.Node, m *probeDone) (policy.Verdict, bool) {
	pr := ps.probers[m.role]
	if pr == nil || m.gen != ps.gens[m.role] {
		return policy.NoChange, false
	}
	ps.timers[m.role] = nil
	v := pr.Result(m.err == nil)
	if m.err != nil {
		fails := pr.Failures()
		if v == policy.Hung {
			fails = nodeProbe(n, m.role).FailureThreshold // the count starts again
		}
		e.emit(slog.LevelInfo, "probe failed", event.Event{Kind: event.ProbeFailed, Path: n.Path, Type: n.Type.String(),
			Probe: m.role.String(), Reason: m.err.Error(), Failures: fails}, "node", n.Path)
	}
	return v, true
}

// close stops the probes; a run in flight ends on its own.
func (ps *probeSet) close() {
	for i := range ps.timers {
		if t := ps.timers[i]; t != nil {
			t.Stop()
			ps.timers[i] = nil
		}
		ps.gens[i]++
		if r := ps.runners[i]; r != nil {
			r.close()
			ps.runners[i] = nil
		}
		ps.probers[i] = nil
	}
}

var errProbeClosed = errors.New("probe closed")

// probeRunner runs a probe's session on timer goroutines and closes it
// without waiting for a run in flight (the actor must not block on a
// probe's timeout): whichever of run and close comes last closes it.
type probeRunner struct {
	mu      sync.Mutex
	sess    *health.Session
	closed  bool
	closing atomic.Bool
}

func (r *probeRunner) run(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return errProbeClosed
	}
	err := r.sess.Check(ctx)
	r.mu.Unlock()
	if r.closing.Load() {
		r.close()
	}
	return err
}

func (r *probeRunner) close() {
	r.closing.Store(true)
	if r.mu.TryLock() {
		if !r.closed {
			r.sess.Close()
			r.closed = true
		}
		r.mu.Unlock()
	}
}
