package actors

import (
	"sync"
	"time"

	"github.com/otpsv/otpsv/actors/control"
	"github.com/otpsv/otpsv/actors/event"
	"github.com/otpsv/otpsv/config"
)

// The node view: what `tree`, `status`, `check`, `why`, the metrics and
// the state saver read. Actors never write it. They report facts (a
// supervision event, or an observation of their node: a state, a pid, an
// exit, a check) into one channel, and one goroutine folds them into the
// view in the order they were sent (apply). Readers take the view's read
// lock; a reader that must see what an actor reported before it answered
// (the control socket after a command) waits for the fold to catch up
// (sync).

// State is a node's observed state, as the SPEC names them.
type State string

// The states of a node.
const (
	StateStarting State = "starting"
	StateRunning  State = "running"
	StateStopping State = "stopping"
	StateStopped  State = "stopped"
	StateFailed   State = "failed"
	StateDirty    State = "dirty"
	StateBackoff  State = "backoff"
	StateUnknown  State = "unknown"
)

// nodeInfo is the view of one node. Only registry.apply writes it, with
// the registry's lock held.
type nodeInfo struct {
	node *config.Node
	// period is the parent's restart period: restarts are counted in it.
	period time.Duration

	state    State
	pid      int
	since    time.Time
	restarts []time.Time // by its supervisor, pruned to the period when one is added
	done     bool        // ended normally and its restart type lets it end
	// adminStopped: an operator stopped it; it stays stopped until started.
	adminStopped bool
	// history is the node's recent supervision events, oldest first;
	// historySeq counts the events ever recorded, so that the store writes
	// each one once (persistence.Snapshot.HistorySeq).
	history    []control.HistoryEntry
	historySeq uint64
	// supRestarts is a supervisor's restart history (its policy's), for
	// the budget `why` shows.
	supRestarts []time.Time
	// What the snapshot keeps besides: the process start time (to tell a
	// reused pid), the last exit and check, when a supervisor gave up.
	pidStart    uint64
	lastExit    string
	lastExitAt  time.Time
	lastCheck   string
	lastCheckAt time.Time
	gaveUpAt    time.Time
	// carried is what the previous run saved of the node's process (state,
	// pid, start time), written back unchanged until the node's own actor
	// has looked at that process: a save made earlier (the first save of
	// the whole tree, at start-up) must not erase a pid the next run needs
	// to adopt or stop, whenever a kill -9 interrupts this one.
	carried *carriedProc
	// notReady: a readiness probe says the running worker is not ready.
	notReady bool
	// message is the worker's STATUS= text (sd_notify).
	message string
	// saved: the node is shown from saved state, not observed: its
	// readiness is not known.
	saved bool
}

// Event is a change of a node's state, as passed to Options.Observer.
type Event struct {
	Time  time.Time
	Path  string
	State State
	Pid   int
}

// factKind is what an observation says.
type factKind uint8

const (
	fEvent        factKind = iota // a supervision event (ev)
	fState                        // state and pid
	fStarted                      // state and pid of a process just started (pidStart); its readiness and message start afresh
	fSettle                       // a failed, dirty or backing-off node that is down is stopped now
	fPidStart                     // the start time of the process the node has (adopted)
	fLastExit                     // text, at
	fLastCheck                    // text, at
	fMessage                      // text (STATUS=)
	fNotReady                     // flag
	fDone                         // flag
	fAdminStopped                 // flag
	fSupRestarts                  // times: a supervisor's restarts in its period
	fFreshBudget                  // a new instance of the supervisor: its children's restarts were counted by the one before
	fReconfig                     // root: the tree's new definitions (a reload)
)

// fact is one immutable observation for the view.
type fact struct {
	kind     factKind
	path     string
	at       time.Time
	state    State
	pid      int
	pidStart uint64
	text     string
	flag     bool
	times    []time.Time
	ev       event.Event
	root     *config.Node
}

type registry struct {
	mu    sync.RWMutex // the fold writes under it, readers read under it
	nodes map[string]*nodeInfo
	root  *config.Node

	// Only the fold's goroutine uses these.
	observer func(Event)
	saver    *saver

	// The facts noted and not yet applied, in order. Noting one costs a
	// lock and an append; the fold wakes once for a burst of them (a
	// thousand workers starting report four facts each).
	qmu     sync.Mutex
	queue   []fact
	closed  bool
	kick    chan struct{}      // a first fact was queued
	urgent  chan chan struct{} // sync: apply now, then close it
	quit    chan struct{}
	ended   chan struct{}
	running bool
}

func newRegistry(root *config.Node, observer func(Event)) *registry {
	r := &registry{nodes: make(map[string]*nodeInfo), observer: observer}
	r.reconfigure(root, time.Now())
	return r
}

// run starts the fold. Until then the registry is set up in place (a
// restored state, the saver), by the goroutine that made it.
func (r *registry) run() {
	r.kick, r.urgent = make(chan struct{}, 1), make(chan chan struct{})
	r.quit, r.ended = make(chan struct{}), make(chan struct{})
	r.running = true
	go r.fold()
}

// note reports a fact; after close it is dropped (a tree that has
// stopped shows what it saw last).
func (r *registry) note(f fact) {
	r.qmu.Lock()
	if r.closed {
		r.qmu.Unlock()
		return
	}
	r.queue = append(r.queue, f)
	first := len(r.queue) == 1
	r.qmu.Unlock()
	if first {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

// sync returns once every fact noted before it has been applied.
func (r *registry) sync() {
	if !r.running {
		return
	}
	done := make(chan struct{})
	select {
	case r.urgent <- done:
		<-done
	case <-r.ended:
	}
}

// close applies what is left and stops the fold; later notes are dropped.
func (r *registry) close() {
	if !r.running {
		return
	}
	r.qmu.Lock()
	if !r.closed {
		r.closed = true
		close(r.quit)
	}
	r.qmu.Unlock()
	<-r.ended
}

// foldDelay is how long the fold lets a burst of facts gather before it
// applies them: the observer and the saver hear of a change that much
// later; a query never waits for it (sync applies at once).
const foldDelay = 2 * time.Millisecond

func (r *registry) fold() {
	defer close(r.ended)
	var changed []Event
	var marked []*nodeInfo
	var spare []fact
	delay := time.NewTimer(foldDelay)
	delay.Stop()
	apply := func() {
		// Two arrays take turns: the queue fills one while the fold
		// reads the other. They are swapped only when there is a batch,
		// so that the queue never gets the array being read.
		r.qmu.Lock()
		batch := r.queue
		if len(batch) > 0 {
			r.queue = spare[:0]
		}
		r.qmu.Unlock()
		if len(batch) > 0 {
			r.mu.Lock()
			for _, f := range batch {
				ev, touched := r.apply(f)
				if ev != nil {
					changed = append(changed, *ev)
				}
				marked = append(marked, touched...)
			}
			r.mu.Unlock()
			clear(batch) // the facts hold events and nodes: let them go
			spare = batch
		}
		if r.observer != nil {
			for _, e := range changed {
				r.observer(e)
			}
		}
		for _, ni := range marked {
			r.saver.mark(ni)
		}
		clear(changed)
		clear(marked)
		changed, marked = changed[:0], marked[:0]
	}
	for {
		select {
		case <-r.kick:
			delay.Reset(foldDelay)
			select {
			case <-delay.C:
				apply()
			case done := <-r.urgent:
				delay.Stop()
				apply()
				close(done)
			case <-r.quit:
				delay.Stop()
				apply()
				return
			}
		case done := <-r.urgent:
			apply()
			close(done)
		case <-r.quit:
			apply()
			return
		}
	}
}

// apply folds one fact into the view (the lock held): it returns the
// change of state it made, if any, and the nodes whose saved snapshot
// changed. A fact about a node the view does not have (removed by a
// reload) is dropped.
func (r *registry) apply(f fact) (*Event, []*nodeInfo) {
	if f.kind == fReconfig {
		r.reconfigure(f.root, f.at)
		return nil, nil
	}
	if f.kind == fEvent {
		return nil, r.applyEvent(f.ev)
	}
	ni := r.nodes[f.path]
	if ni == nil {
		return nil, nil
	}
	switch f.kind {
	case fState, fStarted:
		changed := ni.state != f.state || ni.pid != f.pid
		if changed {
			ni.since = f.at
		}
		ni.state, ni.pid = f.state, f.pid
		ni.carried = nil // observed now
		if f.state == StateStarting || f.state == StateRunning {
			ni.done = false // (re)started: it has not ended
		}
		if f.kind == fStarted {
			ni.pidStart, ni.notReady, ni.message = f.pidStart, false, ""
		}
		if !changed {
			return nil, nil
		}
		return &Event{Time: ni.since, Path: ni.node.Path, State: ni.state, Pid: ni.pid}, []*nodeInfo{ni}
	case fSettle:
		if ni.state == StateFailed || ni.state == StateDirty || ni.state == StateBackoff {
			return r.apply(fact{kind: fState, path: f.path, at: f.at, state: StateStopped})
		}
		return nil, nil
	case fPidStart:
		ni.pidStart = f.pidStart
	case fLastExit:
		ni.lastExit, ni.lastExitAt = f.text, f.at
	case fLastCheck:
		ni.lastCheck, ni.lastCheckAt = f.text, f.at
	case fMessage:
		ni.message = f.text
		return nil, nil // not saved: the worker says it again
	case fNotReady:
		ni.notReady = f.flag
		return nil, nil // not saved: observed anew by the next run
	case fDone:
		ni.done = f.flag
		return nil, nil
	case fAdminStopped:
		ni.adminStopped = f.flag
	case fSupRestarts:
		ni.supRestarts = f.times
	case fFreshBudget:
		var out []*nodeInfo
		for _, c := range ni.node.Children {
			if ci := r.nodes[c.Path]; ci != nil && len(ci.restarts) > 0 {
				ci.restarts = nil
				out = append(out, ci)
			}
		}
		return nil, out
	}
	return nil, []*nodeInfo{ni}
}

// applyEvent writes what a supervision event means for the nodes it is
// about: the history `why` shows, the restarts counted in the
// supervisor's period, when a supervisor gave up.
func (r *registry) applyEvent(e event.Event) []*nodeInfo {
	budget := 0
	if e.BudgetLeft != nil {
		budget = *e.BudgetLeft
	}
	entry := control.HistoryEntry{Time: e.Time, Event: "failed", Detail: e.Reason, Cause: e.Path, Supervisor: e.Supervisor,
		Strategy: e.Strategy, Budget: budget}
	var touched []*nodeInfo
	add := func(path string, h control.HistoryEntry) {
		if ni := r.nodes[path]; ni != nil {
			ni.record(h)
			touched = append(touched, ni)
		}
	}
	switch e.Kind {
	case event.Restarting:
		entry.Action, entry.Restarted = "restart", e.Restarted
		add(e.Path, entry)
		for _, p := range e.Restarted {
			if ni := r.nodes[p]; ni != nil {
				ni.restarts = append(ni.inPeriod(e.Time), e.Time)
				if p != e.Path {
					se := entry
					se.Event = "restarted"
					add(p, se)
				} else {
					touched = append(touched, ni)
				}
			}
		}
		se := entry
		se.Event = "child_failed"
		add(e.Supervisor, se)
	case event.NotRestarted:
		entry.Action = "ignore"
		se := entry
		se.Event = "child_failed"
		if e.Normal {
			entry.Event, se.Event = "exited", "child_exited" // its restart type lets it end: not a failure
		}
		add(e.Path, entry)
		add(e.Supervisor, se)
	case event.GaveUp:
		entry.Action, entry.Detail, entry.Cause = "give_up", e.TriggerReason, e.Trigger
		if e.Trigger != "" {
			add(e.Trigger, entry)
		}
		se := entry
		se.Event = "gave_up"
		add(e.Path, se)
		if ni := r.nodes[e.Path]; ni != nil {
			ni.gaveUpAt = e.Time
		}
	case event.AutoShutdown:
		entry.Event, entry.Action, entry.Detail, entry.Cause = "auto_shutdown", "shutdown", e.TriggerReason, e.Trigger
		add(e.Path, entry)
	case event.Delayed:
		entry.Action, entry.Restarted, entry.Delay = "backoff", e.Restarted, e.Delay
		add(e.Path, entry)
	case event.Operator:
		add(e.Path, control.HistoryEntry{Time: e.Time, Event: "operator_" + e.Action, Supervisor: e.Supervisor, Budget: budget})
	}
	return touched
}

// reconfigure makes root the tree shown: nodes new to it get an entry,
// the others keep theirs (state, history, an operator's stop) with the
// new definition.
func (r *registry) reconfigure(root *config.Node, now time.Time) {
	var add func(n *config.Node, period time.Duration)
	add = func(n *config.Node, period time.Duration) {
		if ni, ok := r.nodes[n.Path]; ok {
			ni.node, ni.period = n, period
		} else {
			r.nodes[n.Path] = &nodeInfo{node: n, period: period, state: StateStopped, since: now}
		}
		for _, c := range n.Children {
			add(c, n.Period)
		}
	}
	add(root, root.Period)
	r.root = root
}

func (r *registry) get(path string) *nodeInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.nodes[path]
}

// current returns the root of the tree as last configured.
func (r *registry) current() *config.Node {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.root
}

// maxHistory bounds each node's history: `why` is about recent events.
const maxHistory = 50

func (ni *nodeInfo) record(e control.HistoryEntry) {
	ni.history = append(ni.history, e)
	ni.historySeq++
	if n := len(ni.history) - maxHistory; n > 0 {
		ni.history = append(ni.history[:0], ni.history[n:]...)
	}
}

// inPeriod is the node's restarts within its supervisor's period before
// now, the one count that tree, status, check and the saved state show.
// It allocates: readers share the slice.
func (ni *nodeInfo) inPeriod(now time.Time) []time.Time {
	var keep []time.Time
	for _, t := range ni.restarts {
		if now.Sub(t) < ni.period {
			keep = append(keep, t)
		}
	}
	return keep
}

// why assembles the answer of `otpsv why` for n.
func (r *registry) why(n *config.Node, parent *config.Node, now time.Time) *control.Why {
	w := &control.Why{Node: r.snapshot(n)}
	r.mu.RLock()
	defer r.mu.RUnlock()
	ni := r.nodes[n.Path]
	w.Node.Children = nil
	w.History = append([]control.HistoryEntry{}, ni.history...)
	sup := parent
	if sup == nil && n.Type == config.Supervisor {
		sup = n // the root: its own budget
	}
	if sup != nil {
		for _, t := range r.nodes[sup.Path].supRestarts {
			if now.Sub(t) < sup.Period {
				w.Used++
			}
		}
		w.Supervisor, w.Intensity, w.Period = sup.Path, sup.Intensity, sup.Period.String()
		w.Left = max(sup.Intensity-w.Used, 0)
	}
	return w
}

// snapshot copies the subtree rooted at n. An operator's stop of a
// supervisor makes its whole subtree expected stopped.
func (r *registry) snapshot(n *config.Node) *control.Node {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.snap(n, false, time.Now())
}

func (r *registry) snap(n *config.Node, ancestorStopped bool, now time.Time) *control.Node {
	ni := r.nodes[n.Path]
	st := &control.Node{
		Name: n.Name, Path: n.Path, Type: n.Type.String(), State: string(ni.state),
		Expected: n.Expected.String(), Since: ni.since, Restarts: len(ni.inPeriod(now)), Done: ni.done,
		AdminStopped: ni.adminStopped,
	}
	stopped := ancestorStopped || ni.adminStopped
	if stopped {
		st.Expected = config.Stopped.String()
	}
	if ni.pid > 0 {
		pid := ni.pid
		st.Pid = &pid
	}
	if n.Type != config.Supervisor && !ni.saved && (ni.state == StateRunning || ni.state == StateStarting) {
		ready := ni.state == StateRunning && !ni.notReady
		st.Ready = &ready
		st.Message = ni.message
	}
	if n.Type == config.Supervisor {
		st.Strategy = n.Strategy.String()
		st.Intensity = n.Intensity
		for _, t := range ni.supRestarts {
			if now.Sub(t) < n.Period {
				st.RestartsInPeriod++
			}
		}
		st.Children = make([]*control.Node, 0, len(n.Children))
		for _, c := range n.Children {
			st.Children = append(st.Children, r.snap(c, stopped, now))
		}
	}
	return st
}

// nodeRef is how an actor reports facts about one node: its own, or (a
// supervisor) a child's. The methods only send; the fold applies.
type nodeRef struct {
	path string
	e    *env
}

func (e *env) ref(path string) nodeRef { return nodeRef{path: path, e: e} }

func (n nodeRef) note(f fact) {
	f.path = n.path
	if f.at.IsZero() {
		f.at = n.e.clock.Now()
	}
	n.e.reg.note(f)
}

func (n nodeRef) set(s State, pid int) { n.note(fact{kind: fState, state: s, pid: pid}) }

// setStarted records a process just started.
func (n nodeRef) setStarted(s State, pid int, pidStart uint64) {
	n.note(fact{kind: fStarted, state: s, pid: pid, pidStart: pidStart})
}

func (n nodeRef) settle()                 { n.note(fact{kind: fSettle}) }
func (n nodeRef) setPidStart(ps uint64)   { n.note(fact{kind: fPidStart, pidStart: ps}) }
func (n nodeRef) setLastExit(what string) { n.note(fact{kind: fLastExit, text: what}) }
func (n nodeRef) setLastCheck(c string)   { n.note(fact{kind: fLastCheck, text: c}) }
func (n nodeRef) setMessage(m string)     { n.note(fact{kind: fMessage, text: m}) }
func (n nodeRef) setNotReady(v bool)      { n.note(fact{kind: fNotReady, flag: v}) }
func (n nodeRef) setDone(v bool)          { n.note(fact{kind: fDone, flag: v}) }
func (n nodeRef) freshBudget()            { n.note(fact{kind: fFreshBudget}) }

// setSupRestarts records a supervisor's restarts; ts must not be changed
// afterwards (policy.Supervisor.Restarts returns a copy).
func (n nodeRef) setSupRestarts(ts []time.Time) { n.note(fact{kind: fSupRestarts, times: ts}) }

// setAdminStopped records an operator's stop or start in the operator's
// intents and in the view, and saves the node before it returns: it must
// outlive a kill -9 of otpsv that follows the operator's answer.
func (n nodeRef) setAdminStopped(v bool) {
	n.e.intents.set(n.path, v)
	n.note(fact{kind: fAdminStopped, flag: v})
	n.saveNow()
}

// saveNow writes the node's snapshot, with every fact reported before,
// to the store before it returns.
func (n nodeRef) saveNow() {
	if n.e.saver == nil {
		return
	}
	n.e.reg.sync()
	if ni := n.e.reg.get(n.path); ni != nil {
		n.e.saver.saveNow(ni)
	}
}

// intents are the operators' stops, which outlive the actors that carry
// them out (a supervisor restarted by its own supervisor keeps its
// children stopped) and runs of otpsv (they are saved). They are what an
// operator asked for, not what was observed: the supervisors read them
// to decide what runs, the view learns of them as facts.
type intents struct {
	mu      sync.Mutex
	stopped map[string]bool
}

func (in *intents) set(path string, v bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.stopped == nil {
		in.stopped = make(map[string]bool)
	}
	if v {
		in.stopped[path] = true
	} else {
		delete(in.stopped, path)
	}
}

func (in *intents) isStopped(path string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stopped[path]
}
