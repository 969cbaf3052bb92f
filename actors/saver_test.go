package actors

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/otpsv/otpsv/actors/control"
	"github.com/otpsv/otpsv/config"
	"github.com/otpsv/otpsv/persistence"
)

// smallStore refuses, as too big, a Save of more than limit snapshots or
// history entries.
type smallStore struct {
	limit int
	mu    sync.Mutex
	saved []string
	last  map[string]persistence.Snapshot
}

func (s *smallStore) All() (map[string]persistence.Snapshot, error) { return nil, nil }

func (s *smallStore) Save(snaps ...persistence.Snapshot) error {
	n := len(snaps)
	for _, sn := range snaps {
		n = max(n, len(sn.History))
	}
	if n > s.limit {
		return fmt.Errorf("save %d snapshots: %w", len(snaps), persistence.ErrTooBig)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sn := range snaps {
		s.saved = append(s.saved, sn.Path)
		if s.last == nil {
			s.last = make(map[string]persistence.Snapshot)
		}
		s.last[sn.Path] = sn
	}
	return nil
}

// TestSaverSplitsTooBig: a burst that does not fit in one transaction
// (histories written whole, the first time a store of an older otpsv is
// written to) is saved in smaller ones, not lost.
func TestSaverSplitsTooBig(t *testing.T) {
	t.Parallel()
	st := &smallStore{limit: 3}
	var errs []error
	s := newSaver(st, nil, func(err error) { errs = append(errs, err) })
	var want []string
	for i := range 10 {
		ni := &nodeInfo{node: &config.Node{Path: fmt.Sprintf("site/w%d", i)}}
		s.mark(ni)
		want = append(want, ni.node.Path)
	}
	s.close()
	slices.Sort(st.saved)
	slices.Sort(want)
	if !slices.Equal(st.saved, want) || len(errs) != 0 {
		t.Errorf("saved %q with errors %v; want %q, no error", st.saved, errs, want)
	}

	// One node whose history does not fit is saved with its newest entries.
	ni := &nodeInfo{node: &config.Node{Path: "site/big"}, pid: 4242}
	for i := range maxHistory {
		ni.history = append(ni.history, control.HistoryEntry{Event: "failed", Budget: i})
	}
	ni.historySeq = maxHistory
	s = newSaver(st, nil, func(err error) { errs = append(errs, err) })
	s.saveNow(ni)
	s.close()
	got := st.last["site/big"]
	if got.Pid != 4242 || len(got.History) == 0 || len(got.History) > st.limit || got.History[len(got.History)-1].Budget != maxHistory-1 ||
		got.HistorySeq != maxHistory || len(errs) != 0 {
		t.Errorf("a node with too big a history: saved pid %d, %d entries (last %+v), seq %d, errors %v; want pid 4242, its newest entries, seq %d",
			got.Pid, len(got.History), got.History[len(got.History)-1], got.HistorySeq, errs, maxHistory)
	}
}

// TestHistorySeq: a node numbers its history entries across trims and
// across runs (restored from the store, also from a store that kept no
// numbers), so that the store can write each entry once.
func TestHistorySeq(t *testing.T) {
	t.Parallel()
	ni := &nodeInfo{node: &config.Node{Path: "site/a"}}
	for i := range maxHistory + 7 {
		ni.record(control.HistoryEntry{Time: time.Unix(int64(i), 0), Event: "failed", Budget: i})
	}
	sn := ni.persisted()
	if sn.HistorySeq != maxHistory+7 || len(sn.History) != maxHistory || sn.History[maxHistory-1].Budget != maxHistory+6 {
		t.Fatalf("after %d entries: seq %d, %d entries; want seq %d, %d entries", maxHistory+7, sn.HistorySeq, len(sn.History), maxHistory+7, maxHistory)
	}
	for _, c := range []struct {
		name string
		snap persistence.Snapshot
		want uint64
	}{
		{"numbered", sn, maxHistory + 8},
		{"not numbered", persistence.Snapshot{Path: "site/a", History: sn.History[:12]}, 13},
		{"no history", persistence.Snapshot{Path: "site/a"}, 1},
	} {
		next := &nodeInfo{node: ni.node}
		r := &registry{nodes: map[string]*nodeInfo{"site/a": next}}
		r.restore(map[string]persistence.Snapshot{"site/a": c.snap}, false)
		next.record(control.HistoryEntry{Event: "exited"})
		if got := next.persisted(); got.HistorySeq != c.want || len(got.History) != min(len(c.snap.History)+1, maxHistory) {
			t.Errorf("%s: after a restore and one entry: seq %d, %d entries; want seq %d", c.name, got.HistorySeq, len(got.History), c.want)
		}
	}
}
