package actors

import (
	"errors"
	"sync"
	"time"

	"github.com/otpsv/otpsv/actors/control"
	"github.com/otpsv/otpsv/persistence"
)

// Store is where a tree keeps its nodes' snapshots between runs
// (*persistence.Store).
type Store interface {
	All() (map[string]persistence.Snapshot, error)
	Save(snaps ...persistence.Snapshot) error
}

// prior holds the snapshots of the previous run. Each is taken once, by
// the first actor of its node: a node restarted later in this run starts
// fresh (a supervisor with an empty history, a worker with a new process).
type prior struct {
	mu    sync.Mutex
	snaps map[string]persistence.Snapshot
	// empty are the process groups to empty before a process worker runs
	// (see decideTakeOver), taken with its snapshot.
	empty map[string][]int
}

func (p *prior) take(path string) (persistence.Snapshot, bool) {
	if p == nil {
		return persistence.Snapshot{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.snaps[path]
	delete(p.snaps, path)
	return s, ok
}

// takeEmpty takes the process groups to empty before the worker at path
// runs.
func (p *prior) takeEmpty(path string) []int {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	g := p.empty[path]
	delete(p.empty, path)
	return g
}

// leftSomething reports whether the previous run left a process of the
// worker at path, or something in a group of it, to adopt or stop.
func (p *prior) leftSomething(path string) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.snaps[path].Pid > 0 || len(p.empty[path]) > 0
}

// carriedProc is a process recorded by the previous run and not yet
// looked at by this one.
type carriedProc struct {
	state    string
	pid      int
	pidStart uint64
}

// restore gives the registry what must survive a restart of otpsv: an
// operator's stops and the supervision history; for a pass (whose
// supervisors count restarts across passes) also each node's restarts.
// States are not restored: they are observed anew; until then the
// recorded process is carried over into every save.
//
// It runs before the fold does (registry.run), on the goroutine that made
// the registry.
func (r *registry) restore(snaps map[string]persistence.Snapshot, pass bool) {
	for path, s := range snaps {
		ni, ok := r.nodes[path]
		if !ok {
			continue
		}
		if s.Pid > 0 || s.PidStart != 0 {
			ni.carried = &carriedProc{state: s.State, pid: s.Pid, pidStart: s.PidStart}
		}
		ni.adminStopped = s.AdminStopped
		ni.history = HistoryFromStored(s.History)
		ni.historySeq = max(s.HistorySeq, uint64(len(s.History)))
		ni.lastExit, ni.lastExitAt = s.LastExit, s.LastExitAt
		if pass {
			ni.restarts = s.Restarted
		}
	}
}

// HistoryFromStored converts a stored supervision history to the shape
// `otpsv why` shows.
func HistoryFromStored(h []persistence.HistoryEntry) []control.HistoryEntry {
	out := make([]control.HistoryEntry, len(h))
	for i, e := range h {
		out[i] = control.HistoryEntry{
			Time: e.Time, Event: e.Event, Detail: e.Detail, Cause: e.Cause, Supervisor: e.Supervisor,
			Strategy: e.Strategy, Action: e.Action, Restarted: e.Restarted, Budget: e.Budget, Delay: e.Delay,
		}
	}
	return out
}

func toStored(h []control.HistoryEntry) []persistence.HistoryEntry {
	out := make([]persistence.HistoryEntry, len(h))
	for i, e := range h {
		out[i] = persistence.HistoryEntry{
			Time: e.Time, Event: e.Event, Detail: e.Detail, Cause: e.Cause, Supervisor: e.Supervisor,
			Strategy: e.Strategy, Action: e.Action, Restarted: e.Restarted, Budget: e.Budget, Delay: e.Delay,
		}
	}
	return out
}

// persisted is the snapshot of one node as stored; the registry's lock
// is held (a read lock is enough).
func (ni *nodeInfo) persisted() persistence.Snapshot {
	state, pid, pidStart := string(ni.state), ni.pid, ni.pidStart
	if c := ni.carried; c != nil {
		state, pid, pidStart = c.state, c.pid, c.pidStart
	}
	return persistence.Snapshot{
		Path: ni.node.Path, State: state, Pid: pid, PidStart: pidStart, Since: ni.since,
		Restarts: append([]time.Time(nil), ni.supRestarts...), Restarted: ni.inPeriod(time.Now()),
		LastExit: ni.lastExit, LastExitAt: ni.lastExitAt,
		LastCheck: ni.lastCheck, LastCheckAt: ni.lastCheckAt, AdminStopped: ni.adminStopped, GaveUpAt: ni.gaveUpAt,
		History: toStored(ni.history), HistorySeq: ni.historySeq,
	}
}

// saver writes changed nodes to the store: every change marks its node,
// and one goroutine writes all marked nodes in one transaction, so a burst
// of changes (a thousand workers starting) costs a few transactions, not a
// thousand, and a kill -9 at any moment leaves whole transactions.
type saver struct {
	store Store
	reg   *registry
	log   func(error)

	mu    sync.Mutex
	dirty map[*nodeInfo]bool
	kick  chan struct{}
	done  chan struct{}
	quit  chan struct{}
}

func newSaver(store Store, reg *registry, log func(error)) *saver {
	s := &saver{store: store, reg: reg, log: log, dirty: make(map[*nodeInfo]bool),
		kick: make(chan struct{}, 1), done: make(chan struct{}), quit: make(chan struct{})}
	go s.loop()
	return s
}

func (s *saver) mark(ni *nodeInfo) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.dirty[ni] = true
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// saveDelay is how long the saver lets changes gather before it writes
// them: a restart's save (and the store's open, after an idle close) then
// comes after the new process's exec instead of competing with it for the
// CPUs, and a burst (a thousand workers starting) is a few transactions.
// What a kill -9 within it loses is observed anew by the next run: pids
// by the workers' tags.
const saveDelay = 50 * time.Millisecond

func (s *saver) loop() {
	defer close(s.done)
	delay := time.NewTimer(saveDelay)
	delay.Stop()
	for {
		select {
		case <-s.kick:
			delay.Reset(saveDelay)
			select {
			case <-delay.C:
			case <-s.quit:
				s.flush()
				return
			}
			s.flush()
		case <-s.quit:
			s.flush()
			return
		}
	}
}

// saveNow writes one node at once, on the caller's goroutine: what must
// be safe before otpsv answers or goes on (an operator's stop; a pass's
// start, before its line is printed).
func (s *saver) saveNow(ni *nodeInfo) {
	if s == nil {
		return
	}
	s.mu.Lock()
	delete(s.dirty, ni)
	s.mu.Unlock()
	s.save(s.read([]*nodeInfo{ni}))
}

// read takes the snapshots of nodes under the view's read lock.
func (s *saver) read(nodes []*nodeInfo) []persistence.Snapshot {
	if s.reg != nil {
		s.reg.mu.RLock()
		defer s.reg.mu.RUnlock()
	}
	out := make([]persistence.Snapshot, len(nodes))
	for i, ni := range nodes {
		out[i] = ni.persisted()
	}
	return out
}

// flush writes every marked node now.
func (s *saver) flush() {
	s.mu.Lock()
	nodes := make([]*nodeInfo, 0, len(s.dirty))
	for ni := range s.dirty {
		nodes = append(nodes, ni)
	}
	clear(s.dirty)
	s.mu.Unlock()
	batch := s.read(nodes)
	// Each snapshot is whole in its transaction; a large burst is split so
	// that no transaction nears Badger's size limit (15% of a memtable).
	for len(batch) > 0 {
		n := min(len(batch), saveBatch)
		s.save(batch[:n])
		batch = batch[n:]
	}
}

// save writes batch in one transaction, or in halves if it does not fit.
// Histories written whole (the first write to a store of an older otpsv)
// can make a transaction too big, even for one node: then its oldest
// entries are left out, as its state and pid matter more.
func (s *saver) save(batch []persistence.Snapshot) {
	err := s.store.Save(batch...)
	if errors.Is(err, persistence.ErrTooBig) && len(batch) > 0 {
		switch h := len(batch[0].History); {
		case len(batch) > 1:
			s.save(batch[:len(batch)/2])
			s.save(batch[len(batch)/2:])
			return
		case h > 0:
			sn := batch[0]
			sn.History = sn.History[(h+1)/2:]
			s.save([]persistence.Snapshot{sn})
			return
		}
	}
	if err != nil {
		s.log(err)
	}
}

// saveBatch bounds the snapshots per transaction: 100 nodes take a few
// tens of KB, as their history entries are written once each.
const saveBatch = 100

// close writes what is left and stops the goroutine.
func (s *saver) close() {
	if s == nil {
		return
	}
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	<-s.done
}
