package actors

import (
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/otpsv/otpsv/actors/event"
	"github.com/otpsv/otpsv/actors/policy"
)

// childUnready tells a supervisor that a ready child is no longer ready
// (its readiness probe failed): its backoff streak does not reset while
// it is not ready.
type childUnready struct{ pid *actor.PID }

// restartDue ends the backoff of the restart that follows k's failure.
type restartDue struct {
	k   *slot
	seq int
}

// delayedRestart is a restart waiting out a backoff (SPEC §6). The
// children the strategy restarts are stopped at once and held, state
// `backoff`; the restart is decided, and counted towards intensity, only
// when the wait is over.
type delayedRestart struct {
	f     *failure
	held  []*slot
	timer *time.Timer
	seq   int
}

// backoffDelay counts the failure f of k in its streak and returns the
// wait before restarting it (0: at once) and the streak's length. A
// oneshot pass never waits: the interval between passes is its backoff.
func (s *supervisor) backoffDelay(k *slot, f *failure) (time.Duration, int) {
	b := k.node.Backoff
	if b == nil || s.env.pass || !policy.ShouldRestart(k.node.Restart, f.abnormal) {
		return 0, 0
	}
	n := k.streak.Fail(s.env.clock.Now(), b.ResetAfter)
	return b.Delay(n, rand.Float64()), n
}

// delayRestart stops what the strategy restarts after k's failure now,
// and restarts it after d.
func (s *supervisor) delayRestart(ctx actor.Context, k *slot, f *failure, d time.Duration, n int) {
	plan := policy.Plan(s.node.Strategy, s.policyChildren(), s.index(k))
	dr := &delayedRestart{f: f}
	var names []string
	for _, j := range plan.Start {
		c := s.kids[j]
		if other := s.delayed[c]; other != nil && c != k {
			// This restart covers the one c was waiting for.
			other.timer.Stop()
			delete(s.delayed, c)
		}
		if s.wanted(c) && !c.held {
			c.held = true
			dr.held = append(dr.held, c)
			names = append(names, c.node.Path)
		}
	}
	// Children held by a restart this one replaced stay held, by this one.
	for _, c := range s.kids {
		if c.held && !slices.Contains(dr.held, c) && !s.heldByOther(c, k) {
			dr.held = append(dr.held, c)
		}
	}
	s.seq++
	dr.seq = s.seq
	self, root, seq := ctx.Self(), ctx.ActorSystem().Root, dr.seq
	dr.timer = time.AfterFunc(d, func() { root.Send(self, &restartDue{k: k, seq: seq}) })
	s.delayed[k] = dr
	s.env.emit(slog.LevelWarn, "restart delayed", event.Event{Kind: event.Delayed, Path: k.node.Path, Type: k.node.Type.String(),
		Supervisor: s.node.Path, Strategy: s.node.Strategy.String(), Restarted: names, Reason: f.what, Cause: f.cause,
		Delay: d, Failures: n, BudgetLeft: event.Int(s.policy.Budget())}, "supervisor", s.node.Path, "node", k.node.Path, "restart", names)
	s.queue = append(s.stops(plan.Stop), s.queue...)
	for _, c := range dr.held {
		if c.pid == nil {
			c.info.set(StateBackoff, 0) // the others when their Terminated comes
		}
	}
}

// heldByOther: c waits for a delayed restart other than the one of k.
func (s *supervisor) heldByOther(c, k *slot) bool {
	for f, dr := range s.delayed {
		if f != k && slices.Contains(dr.held, c) {
			return true
		}
	}
	return false
}

// restartDue performs a delayed restart: decided (and counted) now.
func (s *supervisor) restartDue(ctx actor.Context, m *restartDue) {
	dr := s.delayed[m.k]
	if dr == nil || dr.seq != m.seq {
		return // cancelled, or replaced by a later restart
	}
	delete(s.delayed, m.k)
	for _, c := range dr.held {
		c.held = false
	}
	if s.index(m.k) < 0 || s.ending() {
		return
	}
	s.decide(m.k, dr.f)
	s.advance(ctx)
}

// cancelBackoffs ends every wait. With start (an operator's command, a
// reload) the held children that are still wanted start at once, without
// counting towards intensity: the operator acts now. Without (shutdown,
// giving up) they are stopped.
func (s *supervisor) cancelBackoffs(start bool) {
	var plan []op
	for k, dr := range s.delayed {
		dr.timer.Stop()
		delete(s.delayed, k)
		for _, c := range dr.held {
			if !c.held {
				continue
			}
			c.held = false
			if c.pid != nil {
				continue // its Terminated is on the way; it shows stopped
			}
			if start && s.wanted(c) {
				plan = append(plan, op{kind: opStart, k: c})
			} else {
				c.info.set(StateStopped, 0)
			}
		}
	}
	if len(plan) > 0 {
		s.env.log.Info("backoff cancelled", "supervisor", s.node.Path)
	}
	s.queue = append(plan, s.queue...)
}

// index is k's position among the children, -1 when a reload removed it.
func (s *supervisor) index(k *slot) int {
	for i, c := range s.kids {
		if c == k {
			return i
		}
	}
	return -1
}
