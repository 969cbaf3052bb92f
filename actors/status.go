package actors

import (
	"slices"
	"sync"
	"time"

	"github.com/otpsv/otpsv/actors/control"
	"github.com/otpsv/otpsv/config"
)

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

// nodeInfo is the live, shared view of one node: actors write it, readers
// (tree, status) copy it. A mutex per node keeps writers from contending.
type nodeInfo struct {
	node *config.Node
	// period is the parent's restart period: restarts are counted in it.
	period time.Duration

	mu       sync.Mutex
	state    State
	pid      int
	since    time.Time
	restarts []time.Time
	done     bool // ended normally and its restart type lets it end
	// adminStopped: an operator stopped it; it stays stopped until started.
	adminStopped bool
	// reason says why the next start happens (a oneshot pass prints it).
	reason string
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
	saved    bool
	saver    *saver
	observer func(Event)
}

type registry struct {
	mu       sync.RWMutex // guards nodes and root, which a reload changes
	nodes    map[string]*nodeInfo
	root     *config.Node
	observer func(Event)
	saver    *saver
}

func (r *registry) setSaver(s *saver) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.saver = s
	for _, ni := range r.nodes {
		ni.saver = s
		s.mark(ni) // the first save records the whole tree
	}
}

// Event is a change of a node's state, as passed to Options.Observer.
type Event struct {
	Time  time.Time
	Path  string
	State State
	Pid   int
}

func newRegistry(root *config.Node, observer func(Event)) *registry {
	r := &registry{nodes: make(map[string]*nodeInfo), observer: observer}
	r.update(root)
	return r
}

// update makes root the tree shown: nodes new to it get an entry, the
// others keep theirs (state, history, an operator's stop) with the new
// definition.
func (r *registry) update(root *config.Node) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	var add func(n *config.Node, period time.Duration)
	add = func(n *config.Node, period time.Duration) {
		if ni, ok := r.nodes[n.Path]; ok {
			ni.mu.Lock()
			ni.node, ni.period = n, period
			ni.mu.Unlock()
		} else {
			r.nodes[n.Path] = &nodeInfo{node: n, period: period, state: StateStopped, since: now, observer: r.observer, saver: r.saver}
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

func (ni *nodeInfo) set(s State, pid int) {
	if ni.apply(s, pid, func(*nodeInfo) {}) {
		ni.saver.mark(ni)
	}
}

// setStarted records a process just started. It marks nothing for the
// background saver: the worker saves the node itself, at once, and a
// second write of the same node would be wasted on the busiest path.
func (ni *nodeInfo) setStarted(s State, pid int, pidStart uint64) {
	ni.apply(s, pid, func(ni *nodeInfo) { ni.pidStart, ni.notReady, ni.message = pidStart, false, "" })
}

// setMessage records the worker's STATUS= text; it is not saved (the
// worker says it again).
func (ni *nodeInfo) setMessage(m string) {
	ni.mu.Lock()
	ni.message = m
	ni.mu.Unlock()
}

// apply changes state and pid (and whatever also does, under the same
// lock), tells the observer, and reports whether state or pid changed.
func (ni *nodeInfo) apply(s State, pid int, also func(*nodeInfo)) bool {
	ni.mu.Lock()
	changed := ni.state != s || ni.pid != pid
	if changed {
		ni.since = time.Now()
	}
	ni.state, ni.pid = s, pid
	ni.carried = nil // observed now
	also(ni)
	since := ni.since
	ni.mu.Unlock()
	if changed && ni.observer != nil {
		ni.observer(Event{Time: since, Path: ni.node.Path, State: s, Pid: pid})
	}
	return changed
}

// maxHistory bounds each node's history: `why` is about recent events.
const maxHistory = 50

func (ni *nodeInfo) record(e control.HistoryEntry) {
	ni.mu.Lock()
	ni.history = append(ni.history, e)
	ni.historySeq++
	if n := len(ni.history) - maxHistory; n > 0 {
		ni.history = append(ni.history[:0], ni.history[n:]...)
	}
	ni.mu.Unlock()
	ni.saver.mark(ni)
}

func (ni *nodeInfo) setSupRestarts(ts []time.Time) {
	ni.mu.Lock()
	ni.supRestarts = ts
	ni.mu.Unlock()
	ni.saver.mark(ni)
}

// why assembles the answer of `otpsv why` for n.
func (r *registry) why(n *config.Node, parent *config.Node, now time.Time) *control.Why {
	w := &control.Why{Node: r.snapshot(n)}
	r.mu.RLock()
	defer r.mu.RUnlock()
	ni := r.nodes[n.Path]
	w.Node.Children = nil
	ni.mu.Lock()
	w.History = append([]control.HistoryEntry{}, ni.history...)
	ni.mu.Unlock()
	sup := parent
	if sup == nil && n.Type == config.Supervisor {
		sup = n // the root: its own budget
	}
	if sup != nil {
		si := r.nodes[sup.Path]
		si.mu.Lock()
		for _, t := range si.supRestarts {
			if now.Sub(t) < sup.Period {
				w.Used++
			}
		}
		si.mu.Unlock()
		w.Supervisor, w.Intensity, w.Period = sup.Path, sup.Intensity, sup.Period.String()
		w.Left = max(sup.Intensity-w.Used, 0)
	}
	return w
}

// setAdminStopped records an operator's stop or start, saved at once: it
// must outlive a kill -9 of otpsv that follows the operator's answer.
func (ni *nodeInfo) setAdminStopped(v bool) {
	ni.mu.Lock()
	ni.adminStopped = v
	ni.mu.Unlock()
	ni.saver.saveNow(ni)
}

func (ni *nodeInfo) isAdminStopped() bool {
	ni.mu.Lock()
	defer ni.mu.Unlock()
	return ni.adminStopped
}

// update changes snapshot fields under the lock and marks the node.
func (ni *nodeInfo) update(fn func(ni *nodeInfo)) {
	ni.mu.Lock()
	fn(ni)
	ni.mu.Unlock()
	ni.saver.mark(ni)
}

// settle turns a failed or dirty node that is down into a stopped one.
func (ni *nodeInfo) settle() {
	ni.mu.Lock()
	st := ni.state
	ni.mu.Unlock()
	if st == StateFailed || st == StateDirty || st == StateBackoff {
		ni.set(StateStopped, 0)
	}
}

func (ni *nodeInfo) setDone(done bool) {
	ni.mu.Lock()
	ni.done = done
	ni.mu.Unlock()
}

func (ni *nodeInfo) addRestart(t time.Time) {
	ni.mu.Lock()
	ni.restarts = append(ni.recentRestarts(t), t)
	ni.mu.Unlock()
	ni.saver.mark(ni)
}

// clearRestarts forgets the node's restarts: its supervisor starts afresh,
// with a new period and budget.
func (ni *nodeInfo) clearRestarts() {
	ni.mu.Lock()
	ni.restarts = nil
	ni.mu.Unlock()
	ni.saver.mark(ni)
}

// recentRestarts prunes the node's restarts to those within its
// supervisor's period before now, the one count that tree, status, check
// and the saved state show. Called with mu held.
func (ni *nodeInfo) recentRestarts(now time.Time) []time.Time {
	keep := ni.restarts[:0]
	for _, t := range ni.restarts {
		if now.Sub(t) < ni.period {
			keep = append(keep, t)
		}
	}
	ni.restarts = keep
	return slices.Clone(keep)
}

// snapshot copies the subtree rooted at n. An operator's stop of a
// supervisor makes its whole subtree expected stopped.
func (r *registry) snapshot(n *config.Node) *control.Node {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.snap(n, false)
}

func (r *registry) snap(n *config.Node, ancestorStopped bool) *control.Node {
	ni := r.nodes[n.Path]
	ni.mu.Lock()
	keep := ni.recentRestarts(time.Now())
	st := &control.Node{
		Name: n.Name, Path: n.Path, Type: n.Type.String(), State: string(ni.state),
		Expected: n.Expected.String(), Since: ni.since, Restarts: len(keep), Done: ni.done,
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
	ni.mu.Unlock()
	if n.Type == config.Supervisor {
		st.Strategy = n.Strategy.String()
		st.Intensity = n.Intensity
		ni.mu.Lock()
		now := time.Now()
		for _, t := range ni.supRestarts {
			if now.Sub(t) < n.Period {
				st.RestartsInPeriod++
			}
		}
		ni.mu.Unlock()
		st.Children = make([]*control.Node, 0, len(n.Children))
		for _, c := range n.Children {
			st.Children = append(st.Children, r.snap(c, stopped))
		}
	}
	return st
}
