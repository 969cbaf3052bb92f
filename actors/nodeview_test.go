package actors

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/otpsv/otpsv/actors/event"
	"github.com/otpsv/otpsv/actors/policy"
	"github.com/otpsv/otpsv/config"
)

// viewTree is r (one_for_all, period 10s) with workers a, b and a
// supervisor s holding worker c.
func viewTree() *config.Node {
	c := &config.Node{Name: "c", Path: "r/s/c", Type: config.Process}
	s := &config.Node{Name: "s", Path: "r/s", Type: config.Supervisor, Period: 5 * time.Second, Children: []*config.Node{c}}
	return &config.Node{Name: "r", Path: "r", Type: config.Supervisor, Strategy: policy.OneForAll, Intensity: 3, Period: 10 * time.Second,
		Children: []*config.Node{
			{Name: "a", Path: "r/a", Type: config.Process},
			{Name: "b", Path: "r/b", Type: config.Process},
			s,
		}}
}

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// TestFoldStates: state facts set state, pid and since, and say so to
// the observer only when state or pid changed; a start clears what the
// last process said of its readiness; settle stops only what is down.
func TestFoldStates(t *testing.T) {
	t.Parallel()
	type want struct {
		state    State
		pid      int
		since    time.Time
		notReady bool
		message  string
		observed bool
	}
	for _, c := range []struct {
		name  string
		facts []fact
		want  want
	}{
		{"starting", []fact{{kind: fState, state: StateStarting, at: at(1)}},
			want{state: StateStarting, since: at(1), observed: true}},
		{"same state again keeps since", []fact{{kind: fState, state: StateStarting, at: at(1)}, {kind: fState, state: StateStarting, at: at(2)}},
			want{state: StateStarting, since: at(1)}},
		{"started clears readiness and message", []fact{
			{kind: fNotReady, flag: true, at: at(1)}, {kind: fMessage, text: "loading", at: at(1)},
			{kind: fStarted, state: StateRunning, pid: 42, pidStart: 7, at: at(2)}},
			want{state: StateRunning, pid: 42, since: at(2), observed: true}},
		{"not ready after start", []fact{{kind: fStarted, state: StateRunning, pid: 42, at: at(2)}, {kind: fNotReady, flag: true, at: at(3)}, {kind: fMessage, text: "busy", at: at(3)}},
			want{state: StateRunning, pid: 42, since: at(2), notReady: true, message: "busy"}},
		{"settle a failed node", []fact{{kind: fState, state: StateFailed, at: at(1)}, {kind: fSettle, at: at(4)}},
			want{state: StateStopped, since: at(4), observed: true}},
		{"settle a backing-off node", []fact{{kind: fState, state: StateBackoff, at: at(1)}, {kind: fSettle, at: at(4)}},
			want{state: StateStopped, since: at(4), observed: true}},
		{"settle leaves a running node", []fact{{kind: fState, state: StateRunning, pid: 9, at: at(1)}, {kind: fSettle, at: at(4)}},
			want{state: StateRunning, pid: 9, since: at(1)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRegistry(viewTree(), nil)
			var last *Event
			for _, f := range c.facts {
				f.path = "r/a"
				if ev, _ := r.apply(f); ev != nil {
					last = ev
				} else {
					last = nil
				}
			}
			ni := r.nodes["r/a"]
			got := want{state: ni.state, pid: ni.pid, since: ni.since, notReady: ni.notReady, message: ni.message, observed: last != nil}
			if got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
			if last != nil && (last.State != c.want.state || last.Pid != c.want.pid || !last.Time.Equal(c.want.since)) {
				t.Errorf("observed %+v", *last)
			}
		})
	}
}

// TestFoldEvents: supervision events write the history of every node
// they concern, the restarts counted in the supervisor's period, and
// when a supervisor gave up.
func TestFoldEvents(t *testing.T) {
	t.Parallel()
	type entry struct{ path, event, action, detail, cause string }
	for _, c := range []struct {
		name string
		ev   event.Event
		want []entry
	}{
		{"restart one_for_all", event.Event{Kind: event.Restarting, Time: at(1), Path: "r/a", Supervisor: "r", Strategy: "one_for_all",
			Restarted: []string{"r/a", "r/b"}, BudgetLeft: event.Int(2), Reason: "exit 3"},
			[]entry{{"r/a", "failed", "restart", "exit 3", "r/a"}, {"r/b", "restarted", "restart", "exit 3", "r/a"}, {"r", "child_failed", "restart", "exit 3", "r/a"}}},
		{"not restarted, ended normally", event.Event{Kind: event.NotRestarted, Time: at(1), Path: "r/a", Supervisor: "r", Reason: "exit 0", Normal: true},
			[]entry{{"r/a", "exited", "ignore", "exit 0", "r/a"}, {"r", "child_exited", "ignore", "exit 0", "r/a"}}},
		{"not restarted, failed", event.Event{Kind: event.NotRestarted, Time: at(1), Path: "r/a", Supervisor: "r", Reason: "exit 1"},
			[]entry{{"r/a", "failed", "ignore", "exit 1", "r/a"}, {"r", "child_failed", "ignore", "exit 1", "r/a"}}},
		{"gave up", event.Event{Kind: event.GaveUp, Time: at(1), Path: "r", Supervisor: "r", Reason: "intensity exceeded: ...",
			Trigger: "r/b", TriggerReason: "killed by signal KILL"},
			[]entry{{"r/b", "failed", "give_up", "killed by signal KILL", "r/b"}, {"r", "gave_up", "give_up", "killed by signal KILL", "r/b"}}},
		{"backoff", event.Event{Kind: event.Delayed, Time: at(1), Path: "r/a", Supervisor: "r", Restarted: []string{"r/a", "r/b"}, Delay: time.Second, Reason: "exit 2"},
			[]entry{{"r/a", "failed", "backoff", "exit 2", "r/a"}}},
		{"operator", event.Event{Kind: event.Operator, Time: at(1), Path: "r/s/c", Supervisor: "r/s", Action: "stop"},
			[]entry{{"r/s/c", "operator_stop", "", "", ""}}},
		{"a start is no history", event.Event{Kind: event.Started, Time: at(1), Path: "r/a", Pid: 5}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRegistry(viewTree(), nil)
			_, touched := r.apply(fact{kind: fEvent, ev: c.ev})
			var got []entry
			for _, p := range []string{"r/a", "r/b", "r/s/c", "r"} {
				for _, h := range r.nodes[p].history {
					got = append(got, entry{p, h.Event, h.Action, h.Detail, h.Cause})
					if !h.Time.Equal(at(1)) {
						t.Errorf("%s: entry at %s, want the event's time", p, h.Time)
					}
				}
			}
			slices.SortFunc(got, func(x, y entry) int { return cmpStr(x.path+x.event, y.path+y.event) })
			want := slices.Clone(c.want)
			slices.SortFunc(want, func(x, y entry) int { return cmpStr(x.path+x.event, y.path+y.event) })
			if !slices.Equal(got, want) {
				t.Errorf("history %+v, want %+v", got, want)
			}
			if len(touched) < len(c.want) {
				t.Errorf("%d nodes marked for saving, want at least %d", len(touched), len(c.want))
			}
			if c.ev.Kind == event.GaveUp && !r.nodes["r"].gaveUpAt.Equal(at(1)) {
				t.Errorf("gave up at %s, want %s", r.nodes["r"].gaveUpAt, at(1))
			}
		})
	}
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestFoldRestarts: a child's restarts are counted in its supervisor's
// period, by the events' times; a new instance of the supervisor starts
// its children's count afresh.
func TestFoldRestarts(t *testing.T) {
	t.Parallel()
	r := newRegistry(viewTree(), nil)
	restart := func(s float64, paths ...string) {
		r.apply(fact{kind: fEvent, ev: event.Event{Kind: event.Restarting, Time: at(s), Path: paths[0], Supervisor: "r", Restarted: paths}})
	}
	restart(0, "r/a", "r/b")
	restart(4, "r/a")
	restart(9, "r/a")
	for _, c := range []struct {
		now  float64
		a, b int
	}{{9, 3, 1}, {10, 2, 0}, {13.9, 2, 0}, {14, 1, 0}, {19, 0, 0}} {
		if a, b := len(r.nodes["r/a"].inPeriod(at(c.now))), len(r.nodes["r/b"].inPeriod(at(c.now))); a != c.a || b != c.b {
			t.Errorf("at +%gs: a %d, b %d restarts in the period; want %d, %d", c.now, a, b, c.a, c.b)
		}
	}
	// A restart prunes what is out of the period.
	restart(30, "r/a")
	if n := len(r.nodes["r/a"].restarts); n != 1 {
		t.Errorf("%d restarts kept after one at +30s, want 1", n)
	}
	r.apply(fact{kind: fFreshBudget, path: "r", at: at(31)})
	if n := len(r.nodes["r/a"].inPeriod(at(31))); n != 0 {
		t.Errorf("%d restarts after a fresh budget, want 0", n)
	}
}

// TestFoldReconfig: a reload's definitions add nodes and keep what the
// others showed; a fact about a node the view does not have is dropped.
func TestFoldReconfig(t *testing.T) {
	t.Parallel()
	r := newRegistry(viewTree(), nil)
	r.apply(fact{kind: fState, path: "r/a", state: StateRunning, pid: 11, at: at(1)})
	if ev, touched := r.apply(fact{kind: fState, path: "r/new", state: StateRunning, pid: 12, at: at(1)}); ev != nil || touched != nil {
		t.Errorf("a fact about an unknown node was applied")
	}
	root := viewTree()
	root.Children = append(root.Children, &config.Node{Name: "new", Path: "r/new", Type: config.Process})
	r.apply(fact{kind: fReconfig, root: root, at: at(2)})
	if ni := r.nodes["r/a"]; ni.pid != 11 || ni.node != root.Children[0] {
		t.Errorf("r/a after the reload: pid %d, same definition %v; want 11, the new one", ni.pid, ni.node == root.Children[0])
	}
	if ni := r.nodes["r/new"]; ni == nil || ni.state != StateStopped || !ni.since.Equal(at(2)) {
		t.Errorf("r/new after the reload: %+v, want stopped since +2s", ni)
	}
	if r.current() != root {
		t.Errorf("the current root is not the reloaded one")
	}
}

// TestFoldOrder: the fold applies facts from many goroutines in the order
// each sent them; sync sees every fact sent before it; after close, notes
// are dropped without blocking.
func TestFoldOrder(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string][]int{}
	r := newRegistry(viewTree(), func(e Event) {
		mu.Lock()
		seen[e.Path] = append(seen[e.Path], e.Pid)
		mu.Unlock()
	})
	r.run()
	var wg sync.WaitGroup
	const n = 2000
	for _, p := range []string{"r/a", "r/b", "r/s/c"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= n; i++ {
				r.note(fact{kind: fState, path: p, state: StateRunning, pid: i, at: at(float64(i))})
			}
		}()
	}
	wg.Wait()
	r.sync()
	for _, p := range []string{"r/a", "r/b", "r/s/c"} {
		if got := r.get(p); got.pid != n {
			t.Errorf("%s: pid %d after sync, want %d", p, got.pid, n)
		}
		mu.Lock()
		pids := seen[p]
		mu.Unlock()
		if len(pids) != n || !slices.IsSorted(pids) {
			t.Errorf("%s: observed %d changes (in order: %v), want %d in order", p, len(pids), slices.IsSorted(pids), n)
		}
	}
	r.close()
	done := make(chan struct{})
	go func() {
		for i := range 5000 {
			r.note(fact{kind: fState, path: "r/a", state: StateFailed, pid: i, at: at(1)})
		}
		r.sync()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("notes after close blocked")
	}
	if got := r.get("r/a"); got.pid != n {
		t.Errorf("a note after close was applied: pid %d", got.pid)
	}
}

// TestFoldDone: a node that ended for good is done until it starts again.
func TestFoldDone(t *testing.T) {
	t.Parallel()
	r := newRegistry(viewTree(), nil)
	for _, c := range []struct {
		f    fact
		done bool
	}{
		{fact{kind: fDone, flag: true}, true},
		{fact{kind: fState, state: StateStopped}, true},
		{fact{kind: fState, state: StateStarting}, false},
		{fact{kind: fDone, flag: true}, true},
		{fact{kind: fStarted, state: StateRunning, pid: 3}, false},
	} {
		c.f.path, c.f.at = "r/a", at(1)
		r.apply(c.f)
		if got := r.nodes["r/a"].done; got != c.done {
			t.Errorf("after %+v: done %v, want %v", c.f, got, c.done)
		}
	}
}

// TestFoldBusyQueries: queries that find nothing to apply, between and
// during notes, lose and reorder nothing (an empty apply once left the
// queue and the batch being read on one array).
func TestFoldBusyQueries(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var pids []int
	r := newRegistry(viewTree(), func(e Event) {
		mu.Lock()
		pids = append(pids, e.Pid)
		mu.Unlock()
	})
	r.run()
	defer r.close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				r.sync()
			}
		}
	}()
	const n = 5000
	for i := 1; i <= n; i++ {
		r.note(fact{kind: fState, path: "r/a", state: StateRunning, pid: i, at: at(1)})
		if i%50 == 0 {
			r.sync()
		}
	}
	close(stop)
	wg.Wait()
	r.sync()
	mu.Lock()
	defer mu.Unlock()
	if len(pids) != n || !slices.IsSorted(pids) {
		t.Errorf("observed %d changes, in order %v; want %d in order", len(pids), slices.IsSorted(pids), n)
	}
}
