package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/otpsv/otpsv/actors/control"
	"github.com/otpsv/otpsv/actors/event"
	"github.com/otpsv/otpsv/actors/policy"
	"github.com/otpsv/otpsv/config"
	"github.com/otpsv/otpsv/persistence"
)

// ErrRootGaveUp is the error of a tree whose root supervisor exceeded its
// restart intensity.
var ErrRootGaveUp = errors.New("root supervisor gave up")

// ErrUnknownPath is returned for a command on a path that names no node.
var ErrUnknownPath = errors.New("no such node")

// Options configure a running tree.
type Options struct {
	Logger *slog.Logger
	Clock  policy.Clock
	// Hurry, when closed, cuts every stop grace period short (a second
	// SIGTERM/SIGINT).
	Hurry <-chan struct{}
	// Observer, when set, is called on every change of a node's state, from
	// the goroutine of the actor that made it: it must not block.
	Observer func(Event)
	// Events, when set, hears every supervision event (a start, an exit,
	// a restart...), on the goroutine of the actor that reports it: it
	// must not block.
	Events func(event.Event)
	// Store, when set, has the previous run's snapshots (an operator's
	// stops, histories, processes to adopt) and gets every change.
	Store Store
	// Pass runs one oneshot pass: processes start detached and are not
	// watched, nothing is checked periodically, and a node recorded as
	// running and found dead is a failure (counted, by wall-clock time,
	// with the supervisor's persisted history).
	Pass bool
	// Report hears each corrective action as one line (oneshot output).
	Report func(path, what string)
	// StateDir is the state_dir the tree owns. Process workers carry it,
	// hashed, in their tag (proc.TagVar), so that a later otpsv on the
	// same state_dir recognises them in the process table even if their
	// pid was never saved; "" tags nothing.
	StateDir string
}

// ErrRootDown is returned by Start for a oneshot pass while the root that
// gave up in an earlier pass stays down (until its period has passed).
var ErrRootDown = errors.New("root supervisor gave up and stays down")

// env is what every actor of one tree shares. It is read-only after
// Start; the actors report to the view (reg) by facts, and share only the
// operators' intents and, as they first start, the previous run's
// snapshots.
type env struct {
	log           *slog.Logger
	clock         policy.Clock
	hurry         <-chan struct{}
	reg           *registry
	intents       intents
	checkInterval time.Duration
	prior         *prior
	instance      string // names the state_dir in the workers' tags
	events        func(event.Event)
	notifyDir     string // where workers' notify sockets are bound ("": abstract)
	pass          bool
	reportFn      func(path, what string)
	saver         *saver
	// cmdCtx ends when the tree has stopped: status checks still in flight
	// (a hung one) are then killed with their process groups, and cmds
	// waits for them, so none outlives otpsv.
	cmdCtx    context.Context
	cmdCancel context.CancelFunc
	cmds      sync.WaitGroup
	// cmdMu orders a command's Add against the final Wait: once the
	// commands are ended, no new one starts (a WaitGroup must not grow
	// while it is waited on).
	cmdMu    sync.Mutex
	cmdsDone bool
	mu       sync.Mutex
	gaveUp   []string // supervisors that gave up during this run
}

// stopOrphans stops the processes of workers that are no longer in the
// configuration (removed while no otpsv ran, or before a daemon restart):
// nobody would supervise them otherwise. Each group is recognised by its
// leader's pid and start time, or by its members' tags, as adoption does.
func (e *env) stopOrphans(store Store, orphans []orphanGroup) {
	for _, o := range orphans {
		ours, _, err := o.group.Leftovers()
		if err == nil && len(ours) > 0 {
			if _, err := o.group.Stop(context.Background(), syscall.SIGTERM, 10*time.Second, e.hurry); err != nil {
				e.log.Error("stop incomplete", "node", o.path, "group", o.group.Pgid, "err", err)
			}
			e.log.Warn("stopped the processes of a node no longer in the config", "node", o.path, "group", o.group.Pgid)
			e.report(o.path, fmt.Sprintf("stopped (process group %d): no longer in the config", o.group.Pgid))
		}
		if err := store.Save(persistence.Snapshot{Path: o.path, State: string(StateStopped)}); err != nil {
			e.log.Error("saving state", "err", err)
		}
	}
}

func (e *env) report(path, what string) {
	if e.reportFn != nil {
		e.reportFn(path, what)
	}
}

// emit reports a supervision event: to Options.Events, and as one log
// line (msg, the event's fields, then kv).
func (e *env) emit(lvl slog.Level, msg string, ev event.Event, kv ...any) {
	if ev.Time.IsZero() {
		ev.Time = e.clock.Now()
	}
	if e.events != nil {
		e.events(ev)
	}
	e.reg.note(fact{kind: fEvent, path: ev.Path, at: ev.Time, ev: ev})
	if e.log.Enabled(context.Background(), lvl) {
		attrs := ev.Attrs(len(kv) / 2)
		for i := 0; i+1 < len(kv); i += 2 {
			k, _ := kv[i].(string)
			attrs = append(attrs, slog.Any(k, kv[i+1]))
		}
		e.log.LogAttrs(context.Background(), lvl, msg, attrs...)
	}
}

func (e *env) noteGaveUp(path string) {
	e.mu.Lock()
	e.gaveUp = append(e.gaveUp, path)
	e.mu.Unlock()
}

// birth is what a supervisor (or, for the root, the guardian) hands the
// actor of a child it spawns.
type birth struct {
	// guard: the child is not to run; its actor only keeps it stopped (a
	// service), or stops what an earlier run left (a process worker, a
	// supervisor's subtree).
	guard bool
	// reason says why it starts (a oneshot pass prints it).
	reason string
	// prior is what the previous run of otpsv saved of the node, handed
	// to the first actor of the node in this run only: a node restarted
	// later starts fresh. empty are the process groups to empty before a
	// process worker runs (see decideTakeOver).
	prior *persistence.Snapshot
	empty []int
	// adminStopped: an operator stopped the node (a supervisor then runs
	// only to keep its subtree down).
	adminStopped bool
}

// spawnOf takes out of the previous run's snapshots what the first actor
// of n needs.
func (e *env) spawnOf(n *config.Node, guard bool, reason string) birth {
	b := birth{guard: guard, reason: reason, adminStopped: e.intents.isStopped(n.Path)}
	if snap, ok := e.prior.take(n.Path); ok {
		b.prior = &snap
	}
	b.empty = e.prior.takeEmpty(n.Path)
	return b
}

// producer makes the actor of node n.
func (e *env) producer(n *config.Node, b birth) actor.Producer {
	switch n.Type {
	case config.Supervisor:
		return newSupervisor(n, e, b)
	case config.Service:
		return newServiceWorker(n, e, b)
	}
	return newProcessWorker(n, e, b)
}

// Tree is a running supervision tree.
type Tree struct {
	system   *actor.ActorSystem
	guardian *actor.PID
	env      *env
	// root is the configured root; after Start only the guardian actor
	// reads or writes it (a reload replaces it). Others use env.reg.current.
	root    *config.Node
	started chan struct{}
	done    chan struct{}
	errMu   sync.Mutex
	err     error
	ended   *Ended
}

// Ended says why a tree ended by itself: its root shut down automatically
// after a significant child's exit (SPEC §7).
type Ended struct {
	// Trigger is the significant worker whose exit began the shutdown,
	// Code its exit status as a shell gives it (128+N for signal N; -1
	// when unknown), Reason the root's account of it.
	Trigger string
	Code    int
	Reason  string
}

// Ended is why the tree ended by itself, nil when it did not.
func (t *Tree) Ended() *Ended {
	t.errMu.Lock()
	defer t.errMu.Unlock()
	return t.ended
}

// Start spawns the tree's actors. The root's children start in the
// background; Started is closed once the initial start plan has run.
func Start(cfg *config.Config, opts Options) (*Tree, error) {
	if cfg == nil || cfg.Tree == nil {
		return nil, errors.New("no tree to start")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = policy.SystemClock{}
	}
	e := &env{log: opts.Logger, clock: opts.Clock, hurry: opts.Hurry, reg: newRegistry(cfg.Tree, opts.Observer),
		checkInterval: cfg.Settings.CheckInterval, pass: opts.Pass, reportFn: opts.Report, instance: tagInstance(opts.StateDir), events: opts.Events}
	if opts.StateDir != "" {
		e.notifyDir = filepath.Join(opts.StateDir, "notify")
	}
	if opts.Pass {
		e.checkInterval = 0 // a pass checks once, at start
	}
	e.cmdCtx, e.cmdCancel = context.WithCancel(context.Background())
	if opts.Store != nil {
		snaps, err := opts.Store.All()
		if err != nil {
			return nil, fmt.Errorf("read state: %w", err)
		}
		if root, ok := snaps[cfg.Tree.Path]; ok && opts.Pass && !root.GaveUpAt.IsZero() {
			if until := root.GaveUpAt.Add(cfg.Tree.Period); opts.Clock.Now().Before(until) {
				return nil, fmt.Errorf("%w: it gave up at %s and stays down until %s (its period, %s, has passed)",
					ErrRootDown, root.GaveUpAt.Format(time.RFC3339), until.Format(time.RFC3339), cfg.Tree.Period)
			}
		}
		// Decided before any actor runs: the actors take their snapshots
		// out of the same map as they start.
		empty, orphans := e.takeOverAll(cfg.Tree, snaps)
		e.prior = &prior{snaps: snaps, empty: empty}
		e.reg.restore(snaps, opts.Pass)
		for path, s := range snaps {
			if s.AdminStopped {
				e.intents.set(path, true)
			}
		}
		if opts.Pass {
			e.stopOrphans(opts.Store, orphans)
		} else {
			go e.stopOrphans(opts.Store, orphans)
		}
		log := e.log
		e.saver = newSaver(opts.Store, e.reg, func(err error) { log.Error("saving state", "err", err) })
		e.reg.saver = e.saver
		for _, ni := range e.reg.nodes {
			e.saver.mark(ni) // the first save records the whole tree
		}
	}
	e.reg.run()
	t := &Tree{env: e, root: cfg.Tree, started: make(chan struct{}), done: make(chan struct{})}
	// protoactor logs its own lifecycle at Info on stderr; otpsv says
	// what happened itself.
	t.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	g := &guardian{tree: t}
	pid, err := t.system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return g }), "otpsv")
	if err != nil {
		return nil, fmt.Errorf("spawn tree: %w", err)
	}
	t.guardian = pid
	return t, nil
}

// Flush ends the commands still running, writes every pending change to
// the store and stops writing; a oneshot pass calls it before it exits
// (leaving the processes it started running).
func (t *Tree) Flush() {
	t.env.endCommands()
	t.env.reg.close()
	t.env.saver.close()
}

// endCommands kills the commands still in flight and waits for them.
func (e *env) endCommands() {
	e.cmdMu.Lock()
	e.cmdsDone = true
	e.cmdCancel()
	e.cmdMu.Unlock()
	e.cmds.Wait()
}

// addCommand counts a command about to run, unless the commands have
// been ended.
func (e *env) addCommand() bool {
	e.cmdMu.Lock()
	defer e.cmdMu.Unlock()
	if e.cmdsDone {
		return false
	}
	e.cmds.Add(1)
	return true
}

// GaveUp lists the supervisors that gave up during this run.
func (t *Tree) GaveUp() []string {
	t.env.mu.Lock()
	defer t.env.mu.Unlock()
	return append([]string(nil), t.env.gaveUp...)
}

// Started is closed when the initial start of the whole tree is done.
func (t *Tree) Started() <-chan struct{} { return t.started }

// Done is closed when the tree has stopped: on request, or because the
// root gave up (then Err says why).
func (t *Tree) Done() <-chan struct{} { return t.done }

// Err is nil for a tree stopped on request, else wraps ErrRootGaveUp and,
// when the root exceeded its intensity, policy.ErrIntensityExceeded.
func (t *Tree) Err() error {
	t.errMu.Lock()
	defer t.errMu.Unlock()
	return t.err
}

// Stop stops the tree in reverse order and waits until every worker is
// gone or ctx ends.
func (t *Tree) Stop(ctx context.Context) error {
	t.system.Root.Send(t.guardian, &shutdown{})
	select {
	case <-t.done:
		t.system.Shutdown()
		t.env.endCommands()
		t.env.reg.close()
		t.env.saver.close()
		return t.Err()
	case <-ctx.Done():
		return fmt.Errorf("stop tree: %w", ctx.Err())
	}
}

// Command carries out an operator's "start", "stop" or "restart" of the
// node at path and returns when it is done. A stopped node stays stopped
// (whatever happens to its siblings) until started again.
func (t *Tree) Command(ctx context.Context, verb, path string) error {
	reply := make(chan error, 1)
	t.system.Root.Send(t.guardian, &command{verb: verb, path: path, reply: func(err error) {
		select {
		case reply <- err:
		default:
		}
	}})
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%s %s: %w", verb, path, ctx.Err())
	case <-t.done:
		return fmt.Errorf("%s %s: the tree stopped", verb, path)
	}
}

// Snapshot returns the current state of every node, with everything the
// actors reported before the call.
func (t *Tree) Snapshot() *control.Node {
	t.env.reg.sync()
	return t.env.reg.snapshot(t.env.reg.current())
}

// Why returns the supervision history of the node at path, or nil when
// there is no such node.
func (t *Tree) Why(path string) *control.Why {
	t.env.reg.sync()
	return whyOf(t.env.reg, t.env.reg.current(), path, t.env.clock.Now())
}

// Reload applies a new configuration to the running tree: nodes it adds
// are started, nodes it removes are stopped, and a worker whose
// definition changed is restarted together with what its supervisor's
// strategy restarts with it; nothing of this counts towards intensity.
// Unchanged nodes keep their processes. It returns when every supervisor
// has carried out its part.
func (t *Tree) Reload(ctx context.Context, cfg *config.Config) error {
	if cur := t.env.reg.current(); cfg.Tree.Name != cur.Name {
		return fmt.Errorf("the root's name changed from %q to %q: that is another tree (and another state_dir); restart the daemon", cur.Name, cfg.Tree.Name)
	}
	t.env.reg.note(fact{kind: fReconfig, root: cfg.Tree, at: t.env.clock.Now()})
	t.env.reg.sync()
	reply := make(chan error, 1)
	t.system.Root.Send(t.guardian, &reconfigure{node: cfg.Tree, reply: func(err error) {
		select {
		case reply <- err:
		default:
		}
	}})
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return fmt.Errorf("reload: %w", ctx.Err())
	case <-t.done:
		return errors.New("reload: the tree stopped")
	}
}

// Definitions returns the definitions the tree runs: those it started
// with, or those of the last Reload. They are shared: the caller must not
// modify them.
func (t *Tree) Definitions() *config.Node { return t.env.reg.current() }

// Tree implements control.Backend.
func (t *Tree) Tree() *control.Node { return t.Snapshot() }

// guardian is the top-level actor: protoactor gives top-level actors a
// fixed strategy of its own, so the root supervisor is spawned under this
// actor, whose HandleFailure turns the root giving up into Tree.Err.
type guardian struct {
	tree     *Tree
	root     *actor.PID
	failed   bool
	stopping bool
	// pending is an operator's command on the root itself, answered when
	// the root has stopped or started.
	pending    func(error)
	restarting bool
}

var _ actor.SupervisorStrategy = (*guardian)(nil)

func (g *guardian) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		g.root = g.spawnRoot(ctx)
	case *childReady:
	case *childStarted:
		g.answer(nil)
		select {
		case <-g.tree.started:
		default:
			g.tree.env.log.Info("tree started", "root", g.tree.root.Path)
			close(g.tree.started)
		}
	case *command:
		g.command(ctx, m)
	case *reconfigure:
		old := g.tree.root
		g.tree.root = m.node
		if g.stopping || g.failed || g.root == nil {
			m.reply(nil) // nothing runs; the new tree is used at the next start
			return
		}
		if old.Type == config.Supervisor && m.node.Type == config.Supervisor {
			ctx.Send(g.root, m)
			return
		}
		// A worker as the root has no supervisor to reconfigure it: it is
		// restarted here when its definition changed.
		if old.Fingerprint() == m.node.Fingerprint() && old.Type == m.node.Type {
			m.reply(nil)
			return
		}
		if g.pending != nil {
			m.reply(errors.New("another command on the root is in progress"))
			return
		}
		g.pending, g.restarting = m.reply, true
		ctx.Stop(g.root)
	case *shutdown:
		if g.stopping {
			return
		}
		g.stopping = true
		g.answer(errors.New("the tree is stopping"))
		if g.root == nil {
			g.finish() // an operator had stopped the root: nothing runs
			return
		}
		if g.failed || g.tree.root.Type != config.Supervisor {
			ctx.Stop(g.root) // a worker as the root stops with its actor
		} else {
			ctx.Send(g.root, &shutdown{})
		}
	case *actor.Terminated:
		if samePID(g.root, m.Who) {
			g.root = nil
			if !g.stopping && !g.failed {
				// An operator stopped or restarted the root; the daemon
				// goes on either way.
				if g.restarting {
					g.restarting = false
					g.root = g.spawnRoot(ctx)
					return
				}
				g.answer(nil)
				return
			}
			g.finish()
		}
	}
}

// spawnRoot starts the root's actor.
func (g *guardian) spawnRoot(ctx actor.Context) *actor.PID {
	b := g.tree.env.spawnOf(g.tree.root, false, "")
	return ctx.Spawn(actor.PropsFromProducer(g.tree.env.producer(g.tree.root, b)))
}

func (g *guardian) finish() {
	select {
	case <-g.tree.started:
	default:
		close(g.tree.started)
	}
	close(g.tree.done)
}

func (g *guardian) answer(err error) {
	if g.pending != nil {
		g.pending(err)
		g.pending = nil
	}
}

// command handles an operator's command on the root itself and passes
// every other one to the root supervisor.
func (g *guardian) command(ctx actor.Context, m *command) {
	root := g.tree.root
	if g.stopping || g.failed {
		m.reply(errors.New("the tree is stopping"))
		return
	}
	if m.path != root.Path {
		if !strings.HasPrefix(m.path, root.Path+"/") {
			m.reply(fmt.Errorf("%w: %s", ErrUnknownPath, m.path))
			return
		}
		if g.root == nil {
			m.reply(fmt.Errorf("%s: the root %s is stopped; start it first", m.path, root.Path))
			return
		}
		ctx.Send(g.root, m)
		return
	}
	if g.pending != nil {
		m.reply(errors.New("another command on the root is in progress"))
		return
	}
	info := g.tree.env.ref(root.Path)
	switch m.verb {
	case "stop":
		info.setAdminStopped(true)
		if g.root == nil {
			m.reply(nil)
			return
		}
		g.tree.env.emit(slog.LevelInfo, "operator stop", event.Event{Kind: event.Operator, Path: root.Path, Type: "supervisor",
			Action: "stop", Cause: event.CauseOperator}, "node", root.Path)
		g.pending = m.reply
		ctx.Send(g.root, &shutdown{})
	case "start", "restart":
		// A root kept stopped by an operator's earlier stop (restored at
		// daemon start) runs only as a guard of its subtree: restart it.
		wasStopped := g.tree.env.intents.isStopped(root.Path)
		info.setAdminStopped(false)
		g.tree.env.emit(slog.LevelInfo, "operator "+m.verb, event.Event{Kind: event.Operator, Path: root.Path, Type: "supervisor",
			Action: m.verb, Cause: event.CauseOperator}, "node", root.Path)
		if g.root != nil && m.verb == "start" && !wasStopped {
			m.reply(nil)
			return
		}
		g.pending = m.reply
		if g.root != nil {
			// restart: the root is started again once it has stopped;
			// the caller hears of it when the new root has started.
			g.restarting = true
			ctx.Send(g.root, &shutdown{})
			return
		}
		g.root = g.spawnRoot(ctx)
	default:
		m.reply(fmt.Errorf("unknown command %q", m.verb))
	}
}

func (g *guardian) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, _ interface{}) {
	if f, ok := reason.(*failure); ok && f.shutdown {
		// The root ended normally: the tree's work is done.
		g.tree.errMu.Lock()
		g.tree.ended = &Ended{Trigger: f.trigger, Code: f.code, Reason: f.what}
		g.tree.errMu.Unlock()
		g.tree.env.log.Info("the root shut down automatically", "root", g.tree.root.Path, "trigger", f.trigger, "exit_code", f.code)
		g.stopping = true
		sup.(actor.Context).Stop(child)
		return
	}
	what := fmt.Sprint(reason)
	err := errors.New(what)
	if f, ok := reason.(*failure); ok {
		what = f.what
		err = errors.New(what)
		if f.err != nil {
			err = f.err
		}
	}
	g.failed = true
	g.tree.errMu.Lock()
	// errors.Is finds policy.ErrIntensityExceeded in it.
	g.tree.err = fmt.Errorf("%w: %s: %w", ErrRootGaveUp, g.tree.root.Path, err)
	g.tree.errMu.Unlock()
	g.tree.env.log.Error("root supervisor gave up", "root", g.tree.root.Path, "reason", what)
	g.stopping = true
	sup.(actor.Context).Stop(child)
}
