package actors

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/otpsv/otpsv/actors/event"
	"github.com/otpsv/otpsv/actors/policy"
	"github.com/otpsv/otpsv/config"
)

// slot is a supervisor's record of one child, in list order. protoactor's
// Children() has no stable order, so the supervisor keeps its own.
type slot struct {
	node *config.Node
	info nodeRef
	// reason says why the child's next start happens; handed to it.
	reason string
	pid    *actor.PID // nil while the child is not running
	// failed is set when the child's Failure arrived: its mailbox is
	// suspended and only system messages (Stop) reach it.
	failed bool
	// gone: a reload removed the child; it is only stopped, never started.
	gone bool
	// guard: the child is a service worker that only keeps its service
	// stopped.
	guard bool
	// streak counts the child's failures in a row, for its backoff.
	streak policy.Streak
	// held: the child waits, stopped, for a delayed restart (backoff).
	held bool
	// ended: the child ended by itself, for good (its restart type let
	// it), since this supervisor last started it: it no longer holds back
	// an all_significant shutdown.
	ended bool
}

type opKind int

const (
	opStart opKind = iota
	opStop
)

// op is one step of a plan: start or stop one child, then wait for it.
type op struct {
	kind opKind
	k    *slot
	// done, when set, hears how the step ended (an operator's command
	// waiting for its answer).
	done func(error)
}

func (o *op) finish(err error) {
	if o != nil && o.done != nil {
		o.done(err)
		o.done = nil
	}
}

type mode int

const (
	modeStarting mode = iota // carrying out the initial start plan
	modeRunning
	modeStopping     // shutting down on request
	modeGivingUp     // intensity exceeded: stopping children, then failing
	modeAutoShutdown // a significant child ended: stopping children, then ending normally
)

// ending: the supervisor is stopping its children to end.
func (s *supervisor) ending() bool {
	return s.mode == modeStopping || s.mode == modeGivingUp || s.mode == modeAutoShutdown
}

// supervisor is the actor of one supervisor node.
type supervisor struct {
	node *config.Node
	env  *env
	info nodeRef
	// adminStopped: an operator stopped this supervisor; it runs only to
	// keep its subtree down.
	adminStopped bool
	policy       *policy.Supervisor
	kids         []*slot
	// retired are children a reload removed, kept until they have stopped.
	retired []*slot
	// unready are children started but not yet ready (one_for_one goes on
	// without waiting for them); the supervisor is ready when none is left.
	unready map[*slot]bool
	queue   []op
	cur     *op // the step in flight, waiting for childStarted or Terminated
	// delayed are the restarts waiting out a backoff, by failed child.
	delayed map[*slot]*delayedRestart
	seq     int // numbers the delayed restarts
	mode    mode
	reason  string      // why it gives up
	cause   event.Cause // the cause of the failure that made it give up
	gaveUp  error       // wraps policy.ErrIntensityExceeded
	// shutdown is how it ends after an automatic shutdown.
	shutdown *failure
}

var _ actor.SupervisorStrategy = (*supervisor)(nil)

func newSupervisor(node *config.Node, e *env, b birth) actor.Producer {
	return func() actor.Actor {
		s := &supervisor{
			node: node, env: e, info: e.ref(node.Path), unready: make(map[*slot]bool), delayed: make(map[*slot]*delayedRestart),
			policy:       policy.New(policy.Spec{Strategy: node.Strategy, Intensity: node.Intensity, Period: node.Period}, e.clock),
			adminStopped: b.adminStopped,
		}
		for _, c := range node.Children {
			s.kids = append(s.kids, &slot{node: c, info: e.ref(c.Path)})
		}
		// A oneshot pass counts restarts across passes, by wall-clock time;
		// otherwise a supervisor (re)starts with an empty history.
		if b.prior != nil && e.pass {
			s.policy.SetRestarts(b.prior.Restarts)
		} else {
			// A fresh supervisor: its children's restarts were counted by
			// the one before (a daemon's earlier run, or an instance that
			// gave up), and nothing of them is in the new budget.
			s.info.freshBudget()
		}
		s.info.setSupRestarts(s.policy.Restarts())
		return s
	}
}

func (s *supervisor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.info.set(StateStarting, 0)
		for i := range s.kids {
			s.queue = append(s.queue, op{kind: opStart, k: s.kids[i]})
		}
		s.advance(ctx)
	case *childStarted:
		// one_for_one goes on once a child has started; the others wait
		// until it is ready (childReady), so that a child can rely on the
		// siblings before it.
		if s.node.Strategy == policy.OneForOne && s.waitingFor(m.pid) {
			s.unready[s.cur.k] = true
			s.cur.finish(nil)
			s.cur = nil
			s.advance(ctx)
		}
	case *childReady:
		// The child is found without a scan of all children where it can
		// be: a thousand starting under one supervisor each send one.
		var ready *slot
		if s.waitingFor(m.pid) {
			ready = s.cur.k
		}
		for k := range s.unready {
			if samePID(k.pid, m.pid) {
				delete(s.unready, k)
				ready = k
			}
		}
		if ready == nil {
			if i := s.indexOf(m.pid); i >= 0 {
				ready = s.kids[i]
			}
		}
		if ready != nil {
			ready.streak.Ready(s.env.clock.Now())
		}
		if s.waitingFor(m.pid) {
			s.cur.finish(nil)
			s.cur = nil
		}
		s.advance(ctx)
	case *childUnready:
		if i := s.indexOf(m.pid); i >= 0 {
			s.kids[i].streak.Unready()
		}
	case *restartDue:
		s.restartDue(ctx, m)
	case *command:
		s.command(ctx, m)
	case *reconfigure:
		s.reconfigure(ctx, m)
	case *actor.Terminated:
		for _, k := range append(s.kids, s.retired...) {
			if samePID(k.pid, m.Who) {
				k.pid, k.failed = nil, false
				delete(s.unready, k)
				k.streak.Unready()
				if k.held {
					k.info.set(StateBackoff, 0)
				}
				s.dropRetired(k)
				if s.cur != nil && s.cur.k == k && s.cur.kind == opStop {
					s.cur.finish(nil)
					s.cur = nil
				}
				s.advance(ctx)
				return
			}
		}
	case *shutdown:
		if s.mode == modeAutoShutdown {
			// asked to stop while shutting itself down: it ends as a
			// stop, which its supervisor asked for
			s.mode = modeStopping
			return
		}
		if s.ending() {
			return
		}
		s.mode = modeStopping
		s.info.set(StateStopping, 0)
		s.cancelBackoffs(false)
		s.stopEverything()
		s.advance(ctx)
	}
}

// HandleFailure receives the failures of this supervisor's children. It
// runs on the supervisor's own goroutine (protoactor delivers Failure as a
// system message to the parent's mailbox), so it may touch its state.
func (s *supervisor) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, _ interface{}) {
	ctx := sup.(actor.Context)
	f, ok := reason.(*failure)
	if !ok {
		f = &failure{abnormal: true, what: fmt.Sprintf("panic: %v", reason)}
	}
	i := s.indexOf(child)
	if i < 0 {
		return // a child already replaced or stopped: nothing to decide
	}
	k := s.kids[i]
	k.failed = true
	delete(s.unready, k)
	if f.path == "" {
		f.path = k.node.Path
	}
	if s.ending() {
		return // it is being stopped anyway
	}
	if f.gaveUp {
		k.info.set(StateFailed, 0)
	}
	if s.cur != nil && s.cur.kind == opStart && s.cur.k == k {
		s.cur.finish(fmt.Errorf("%s failed while starting: %s", k.node.Path, f.what))
		s.cur = nil // it will never report started
	}
	if f.exited && !policy.ShouldRestart(k.node.Restart, f.abnormal) {
		triggered := s.triggers(k, f)
		k.ended = true
		if triggered {
			s.decide(k, f) // not restarted: its restart type lets it end
			s.autoShutdown(k, f)
			s.advance(ctx)
			return
		}
	}
	if d, n := s.backoffDelay(k, f); d > 0 {
		s.delayRestart(ctx, k, f, d, n)
	} else {
		s.decide(k, f)
	}
	s.advance(ctx)
}

// decide applies the policy to the failure f of child k, counting the
// restart it performs towards intensity, and queues the plan.
func (s *supervisor) decide(k *slot, f *failure) {
	i := s.index(k)
	act := s.policy.ChildExited(s.policyChildren(), i, f.abnormal)
	s.info.setSupRestarts(s.policy.Restarts())
	switch act.Kind {
	case policy.Ignore:
		s.env.emit(slog.LevelInfo, "not restarting", event.Event{Kind: event.NotRestarted, Path: k.node.Path, Type: k.node.Type.String(),
			Supervisor: s.node.Path, Strategy: s.node.Strategy.String(), BudgetLeft: event.Int(s.policy.Budget()), Reason: f.what,
			Cause: f.cause, Normal: !f.abnormal}, "supervisor", s.node.Path, "child", k.node.Path, "restart", k.node.Restart.String())
		s.queue = append(s.stops(act.Stop), s.queue...)
	case policy.Restart:
		var names, paths []string
		for _, j := range act.Start {
			if c := s.kids[j]; s.wanted(c) {
				names = append(names, c.node.Name)
				paths = append(paths, c.node.Path)
				c.reason = fmt.Sprintf("restarted with %s, which failed (%s)", k.node.Path, s.node.Strategy)
				if c == k {
					c.reason = fmt.Sprintf("restarted (%s): %s", s.node.Strategy, f.what)
				}
			}
		}
		s.env.emit(slog.LevelWarn, "restarting", event.Event{Kind: event.Restarting, Path: k.node.Path, Type: k.node.Type.String(),
			Supervisor: s.node.Path, Strategy: s.node.Strategy.String(), Restarted: paths, BudgetLeft: event.Int(s.policy.Budget()),
			Reason: f.what, Cause: f.cause}, "supervisor", s.node.Path, "failed", k.node.Path, "restart", names, "budget", s.policy.Budget())
		plan := s.stops(act.Stop)
		for _, j := range act.Start {
			plan = append(plan, op{kind: opStart, k: s.kids[j]})
		}
		s.queue = append(plan, s.queue...)
	case policy.GiveUp:
		s.mode = modeGivingUp
		s.gaveUp = fmt.Errorf("%w: more than %d restarts in %s; last failure: %s: %s",
			policy.ErrIntensityExceeded, s.node.Intensity, s.node.Period, k.node.Path, f.what)
		s.reason = s.gaveUp.Error()
		s.cause = f.cause
		s.env.emit(slog.LevelError, "giving up", event.Event{Kind: event.GaveUp, Path: s.node.Path, Type: "supervisor",
			Supervisor: s.node.Path, Strategy: s.node.Strategy.String(), BudgetLeft: event.Int(0), Reason: s.reason, Cause: f.cause,
			Trigger: k.node.Path, TriggerReason: f.what}, "supervisor", s.node.Path)
		s.env.noteGaveUp(s.node.Path)
		s.env.report(s.node.Path, "gave up: "+s.reason)
		s.info.set(StateStopping, 0)
		s.cancelBackoffs(false)
		s.stopEverything()
	}
}

// stopEverything replaces the pending steps with stopping every child
// (shutdown, or giving up). A start in flight is abandoned; a stop in
// flight is always waited for. Operators waiting on a dropped step hear
// why.
func (s *supervisor) stopEverything() {
	why := fmt.Errorf("supervisor %s is stopping", s.node.Path)
	if s.cur != nil && s.cur.kind == opStart {
		s.cur.finish(why)
		s.cur = nil
	}
	for n := range s.queue {
		s.queue[n].finish(why)
	}
	s.queue = s.stopAll()
}

func (s *supervisor) stopAll() []op {
	all := make([]int, 0, len(s.kids))
	for j := len(s.kids) - 1; j >= 0; j-- {
		all = append(all, j)
	}
	return s.stops(all)
}

func (s *supervisor) stops(idx []int) []op {
	out := make([]op, len(idx))
	for n, j := range idx {
		out[n] = op{kind: opStop, k: s.kids[j]}
	}
	return out
}

// dropRetired forgets a child removed by a reload once it has stopped.
func (s *supervisor) dropRetired(k *slot) {
	for n, r := range s.retired {
		if r == k {
			s.retired = append(s.retired[:n], s.retired[n+1:]...)
			return
		}
	}
}

// advance carries out the plan until a step has to wait for a child's
// message. Steps that are already true (stop a stopped child, start a
// running one) are skipped, so plans can be concatenated freely.
func (s *supervisor) advance(ctx actor.Context) {
	for s.cur == nil {
		if len(s.queue) == 0 {
			s.drained(ctx)
			return
		}
		o := s.queue[0]
		s.queue = s.queue[1:]
		k := o.k
		switch o.kind {
		case opStop:
			if k.pid == nil && k.node.Type == config.Process && s.needsGuard(k) {
				// Not started in this run yet, but its process of an
				// earlier run may live: a guard adopts and stops it (in its
				// Started), then goes itself.
				k.guard = true
				k.pid = ctx.Spawn(actor.PropsFromProducer(s.env.producer(k.node, s.env.spawnOf(k.node, true, ""))))
				ctx.Stop(k.pid)
				s.cur = &o
				continue
			}
			if k.pid == nil {
				// Down already (a temporary that failed, a failed
				// start): an operator's or a shutdown's stop makes it
				// stopped, not failed.
				if !s.wanted(k) || s.ending() {
					k.info.settle()
				}
				o.finish(nil)
				continue
			}
			if k.node.Type == config.Supervisor && !k.failed {
				ctx.Send(k.pid, &shutdown{})
			} else {
				ctx.Stop(k.pid)
			}
		case opStart:
			wanted := s.wanted(k)
			if k.pid != nil || (!wanted && !s.needsGuard(k)) {
				o.finish(nil)
				continue
			}
			// A service that is not wanted still gets a guard, which keeps
			// it stopped.
			k.guard = !wanted
			b := s.env.spawnOf(k.node, k.guard, k.reason)
			k.reason, k.ended = "", false
			k.pid = ctx.Spawn(actor.PropsFromProducer(s.env.producer(k.node, b)))
			k.failed = false
		}
		s.cur = &o
	}
}

// drained is reached when no step is left.
func (s *supervisor) drained(ctx actor.Context) {
	switch s.mode {
	case modeStarting:
		if len(s.unready) > 0 {
			return // childReady of the last of them calls advance again
		}
		s.mode = modeRunning
		if s.adminStopped || s.node.Expected != config.Running {
			// an operator stopped it, or the config: it runs only to keep
			// its subtree down
			s.info.set(StateStopped, 0)
		} else {
			s.info.set(StateRunning, 0)
		}
		ctx.Send(ctx.Parent(), &childStarted{pid: ctx.Self()})
		ctx.Send(ctx.Parent(), &childReady{pid: ctx.Self()})
	case modeStopping:
		s.info.set(StateStopped, 0)
		s.env.log.Debug("supervisor stopped", "supervisor", s.node.Path)
		ctx.Stop(ctx.Self())
	case modeAutoShutdown:
		s.info.setDone(s.node.Restart != policy.Permanent)
		s.info.set(StateStopped, 0)
		panic(s.shutdown)
	case modeGivingUp:
		s.info.set(StateFailed, 0)
		panic(&failure{path: s.node.Path, abnormal: true, gaveUp: true, what: s.reason, cause: s.cause, err: s.gaveUp})
	}
}

// wanted: the child is to run (the config says so, and no operator
// stopped it).
func (s *supervisor) wanted(k *slot) bool {
	return !k.gone && k.node.Expected == config.Running && !s.env.intents.isStopped(k.node.Path) && !s.adminStopped
}

// command carries out an operator's start, stop or restart of a child,
// or passes it down to the child supervisor whose subtree holds the path.
// Operator actions are not failures: they count nothing towards intensity.
func (s *supervisor) command(ctx actor.Context, m *command) {
	if s.ending() {
		m.reply(fmt.Errorf("%s: supervisor %s is stopping", m.path, s.node.Path))
		return
	}
	for i, k := range s.kids {
		switch {
		case k.node.Path == m.path:
			s.commandChild(ctx, i, m)
			return
		case strings.HasPrefix(m.path, k.node.Path+"/") && k.node.Type == config.Supervisor:
			if k.pid == nil || k.failed {
				m.reply(fmt.Errorf("%s: supervisor %s is not running; start it first", m.path, k.node.Path))
				return
			}
			ctx.Send(k.pid, m)
			return
		}
	}
	m.reply(fmt.Errorf("%w: %s", ErrUnknownPath, m.path))
}

func (s *supervisor) commandChild(ctx actor.Context, i int, m *command) {
	k := s.kids[i]
	var plan []op
	switch m.verb {
	case "stop":
		k.info.setAdminStopped(true)
		s.env.emit(slog.LevelInfo, "operator stop", event.Event{Kind: event.Operator, Path: k.node.Path, Type: k.node.Type.String(),
			Supervisor: s.node.Path, BudgetLeft: event.Int(s.policy.Budget()), Action: "stop", Cause: event.CauseOperator}, "node", k.node.Path)
		// the start after the stop gives a service its guard; it is a
		// no-op for the others
		plan = []op{{kind: opStop, k: k, done: m.reply}, {kind: opStart, k: k}}
	case "start", "restart":
		if k.node.Expected != config.Running {
			m.reply(fmt.Errorf("%s: expected: stopped in the config; change the config to run it", k.node.Path))
			return
		}
		k.info.setAdminStopped(false)
		s.env.emit(slog.LevelInfo, "operator "+m.verb, event.Event{Kind: event.Operator, Path: k.node.Path, Type: k.node.Type.String(),
			Supervisor: s.node.Path, BudgetLeft: event.Int(s.policy.Budget()), Action: m.verb, Cause: event.CauseOperator}, "node", k.node.Path)
		// A service's own restart command serves an operator's restart
		// (SPEC); restarts a strategy decides are always stop then start.
		if m.verb == "restart" && k.node.Type == config.Service && RestartCommand(k.node) != nil &&
			k.pid != nil && !k.guard && !k.failed {
			ctx.Send(k.pid, &serviceRestart{reply: m.reply})
			return
		}
		if m.verb == "restart" || k.guard {
			plan = append(plan, op{kind: opStop, k: k})
		}
		plan = append(plan, op{kind: opStart, k: k, done: m.reply})
	default:
		m.reply(fmt.Errorf("unknown command %q", m.verb))
		return
	}
	if k.held {
		s.cancelBackoffs(true)
	}
	s.queue = append(plan, s.queue...)
	s.advance(ctx)
}

// reconfigure applies a reload to this supervisor: its own definition,
// then its children's, by name. Child supervisors get their new
// definition passed down; m.reply hears once every part is done.
func (s *supervisor) reconfigure(ctx actor.Context, m *reconfigure) {
	if s.ending() {
		m.reply(fmt.Errorf("supervisor %s is stopping", s.node.Path))
		return
	}
	// A reload cancels every wait: the new definitions apply now.
	s.cancelBackoffs(true)
	n := m.node
	if n.Fingerprint() != s.node.Fingerprint() {
		s.policy.SetSpec(policy.Spec{Strategy: n.Strategy, Intensity: n.Intensity, Period: n.Period})
		s.env.emit(slog.LevelInfo, "reload: supervisor changed", event.Event{Kind: event.Reload, Path: n.Path, Type: "supervisor",
			Action: "change", Strategy: n.Strategy.String()}, "supervisor", n.Path, "intensity", n.Intensity, "period", n.Period.String())
	}
	s.node = n
	join := &joiner{reply: m.reply}
	join.add() // this supervisor's own plan
	old := make(map[string]*slot, len(s.kids))
	for _, k := range s.kids {
		old[k.node.Name] = k
	}
	var kids []*slot
	var changed, added []int
	for i, c := range n.Children {
		k, ok := old[c.Name]
		if ok && k.node.Type == c.Type {
			delete(old, c.Name)
			switch {
			case c.Type == config.Supervisor:
				if k.pid != nil && !k.failed {
					join.add()
					ctx.Send(k.pid, &reconfigure{node: c, reply: join.done})
				}
			case k.node.Fingerprint() != c.Fingerprint():
				changed = append(changed, i)
			}
			k.node = c
		} else {
			k = &slot{node: c, info: s.env.ref(c.Path)}
			added = append(added, i)
		}
		kids = append(kids, k)
	}
	var plan []op
	for j := len(s.kids) - 1; j >= 0; j-- {
		if k := s.kids[j]; old[k.node.Name] == k {
			k.gone = true
			s.retired = append(s.retired, k)
			s.env.emit(slog.LevelInfo, "reload: removing", event.Event{Kind: event.Reload, Path: k.node.Path, Type: k.node.Type.String(),
				Action: "remove"}, "node", k.node.Path)
			plan = append(plan, op{kind: opStop, k: k})
		}
	}
	s.kids = kids
	// A changed child is restarted with whatever its supervisor's strategy
	// restarts with it, as if it had failed, but nothing is counted.
	stop, start := make(map[int]bool), make(map[int]bool)
	for _, i := range changed {
		s.env.emit(slog.LevelInfo, "reload: definition changed", event.Event{Kind: event.Reload, Path: kids[i].node.Path,
			Type: kids[i].node.Type.String(), Action: "restart", Strategy: n.Strategy.String()}, "node", kids[i].node.Path)
		act := policy.Plan(n.Strategy, s.policyChildren(), i)
		for _, j := range act.Stop {
			stop[j] = true
		}
		for _, j := range act.Start {
			start[j] = true
		}
	}
	for _, i := range added {
		s.env.emit(slog.LevelInfo, "reload: adding", event.Event{Kind: event.Reload, Path: kids[i].node.Path, Type: kids[i].node.Type.String(),
			Action: "add"}, "node", kids[i].node.Path)
		start[i] = true
	}
	for j := len(kids) - 1; j >= 0; j-- {
		if stop[j] {
			plan = append(plan, op{kind: opStop, k: kids[j]})
		}
	}
	for j := range kids {
		if start[j] {
			plan = append(plan, op{kind: opStart, k: kids[j]})
		}
	}
	if len(plan) == 0 {
		join.done(nil)
	} else {
		plan[len(plan)-1].done = join.done
	}
	s.queue = append(plan, s.queue...)
	s.advance(ctx)
}

// needsGuard: a child that is not to run still gets an actor when
// something may have to be stopped: a service (checked for staying
// stopped), or a process worker whose process from an earlier run may
// still be alive.
func (s *supervisor) needsGuard(k *slot) bool {
	return !k.gone && s.env.needsGuard(k.node)
}

// needsGuard: node n, not to run, may still have something to stop: a
// service (checked for staying stopped), a process of an earlier run, or
// either in a supervisor's subtree (a supervisor expected stopped, or
// stopped by an operator, then runs only to guard its subtree).
func (e *env) needsGuard(n *config.Node) bool {
	switch n.Type {
	case config.Service:
		return true
	case config.Process:
		return e.prior.leftSomething(n.Path)
	}
	for _, c := range n.Children {
		if e.needsGuard(c) {
			return true
		}
	}
	return false
}

// waitingFor reports whether the step in flight is the start of pid.
func (s *supervisor) waitingFor(pid *actor.PID) bool {
	return s.cur != nil && s.cur.kind == opStart && samePID(s.cur.k.pid, pid)
}

func (s *supervisor) indexOf(pid *actor.PID) int {
	for i, k := range s.kids {
		if samePID(k.pid, pid) {
			return i
		}
	}
	return -1
}

func (s *supervisor) policyChildren() []policy.Child {
	out := make([]policy.Child, len(s.kids))
	for i, k := range s.kids {
		out[i] = policy.Child{Name: k.node.Name, Restart: k.node.Restart, Significant: k.node.Significant}
	}
	return out
}

// triggers: the end of k (f, by itself, for good) shuts this supervisor
// down (SPEC §7). A child still to start, or down and to be restarted,
// counts as active: only children that ended for good, or that an
// operator or the config keeps stopped, do not.
func (s *supervisor) triggers(k *slot, f *failure) bool {
	active := make([]bool, len(s.kids))
	for j, c := range s.kids {
		active[j] = !c.ended && s.wanted(c)
	}
	mode := policy.ShutdownNever
	switch s.node.AutoShutdown {
	case config.AutoShutdownAnySignificant:
		mode = policy.ShutdownAnySignificant
	case config.AutoShutdownAllSignificant:
		mode = policy.ShutdownAllSignificant
	}
	return policy.Triggers(mode, s.policyChildren(), s.index(k), f.abnormal, active)
}

// autoShutdown begins the supervisor's automatic shutdown after k's end
// (f): its other children are stopped in reverse order, then it ends
// normally, and its own supervisor treats that by its restart type.
func (s *supervisor) autoShutdown(k *slot, f *failure) {
	trigger, code := f.trigger, f.code
	if trigger == "" {
		trigger, code = k.node.Path, -1
	}
	what := fmt.Sprintf("shut down automatically (%s): %s ended (%s)", s.node.AutoShutdown, k.node.Path, f.what)
	s.mode = modeAutoShutdown
	s.shutdown = &failure{path: s.node.Path, what: what, cause: f.cause, exited: true, shutdown: true, trigger: trigger, code: code}
	s.env.emit(slog.LevelInfo, "automatic shutdown", event.Event{Kind: event.AutoShutdown, Path: s.node.Path, Type: "supervisor",
		Supervisor: s.node.Path, Reason: what, Trigger: k.node.Path, TriggerReason: f.what}, "supervisor", s.node.Path)
	s.env.report(s.node.Path, what)
	s.info.set(StateStopping, 0)
	s.cancelBackoffs(false)
	s.stopEverything()
}
