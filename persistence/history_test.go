package persistence

import (
	"bytes"
	"errors"
	"expvar"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// entries returns history entries numbered from..to (inclusive), each
// telling its number in Budget.
func entries(from, to int) []HistoryEntry {
	var h []HistoryEntry
	for i := from; i <= to; i++ {
		h = append(h, HistoryEntry{Time: t0.Add(time.Duration(i) * time.Second), Event: "failed", Detail: "exit status 1",
			Supervisor: "site", Action: "restart", Restarted: []string{"site/a"}, Budget: i})
	}
	return h
}

// numbered returns the snapshot of path whose history is entries 1..n
// (the last MaxHistory of them), numbered as the actors number them.
func numbered(path string, n int) Snapshot {
	return Snapshot{Path: path, State: "running", HistorySeq: uint64(n), History: entries(max(1, n-MaxHistory+1), n)}
}

// histVersions returns the commit version of each ring slot of path.
func histVersions(t *testing.T, s *Store, path string) map[string]uint64 {
	t.Helper()
	out := make(map[string]uint64)
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: histKeyPrefix(path)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			out[string(it.Item().Key())] = it.Item().Version()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func checkHistory(t *testing.T, s *Store, want Snapshot) {
	t.Helper()
	got, err := s.Load(want.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("load %q:\ngot  %+v\nwant %+v", want.Path, got, want)
	}
	all, err := s.All()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(all[want.Path], want) {
		t.Fatalf("all[%q]:\ngot  %+v\nwant %+v", want.Path, all[want.Path], want)
	}
}

// TestSaveWritesOnlyNewHistory: a node with a full history that gains one
// entry costs one history write, not MaxHistory (issue 8, item 14: a
// restart storm rewrote every history on every change).
func TestSaveWritesOnlyNewHistory(t *testing.T) {
	t.Parallel()
	s := memStore(t)
	if err := s.Save(numbered("site/a", 2*MaxHistory)); err != nil {
		t.Fatal(err)
	}
	before := histVersions(t, s, "site/a")
	if len(before) != MaxHistory {
		t.Fatalf("after the first save: %d history keys, want %d", len(before), MaxHistory)
	}
	want := numbered("site/a", 2*MaxHistory+1)
	want.State = "starting"
	if err := s.Save(want); err != nil {
		t.Fatal(err)
	}
	after := histVersions(t, s, "site/a")
	var rewritten []string
	for k, v := range after {
		if v != before[k] {
			rewritten = append(rewritten, k)
		}
	}
	if len(after) != MaxHistory || len(rewritten) != 1 {
		t.Errorf("one new entry: %d history keys, %d of them written again (%q); want %d and 1", len(after), len(rewritten), rewritten, MaxHistory)
	}
	checkHistory(t, s, want)
	// A change of the node alone writes no history at all.
	want.State = "running"
	if err := s.Save(want); err != nil {
		t.Fatal(err)
	}
	if again := histVersions(t, s, "site/a"); !reflect.DeepEqual(again, after) {
		t.Error("a save without new entries wrote history")
	}
	checkHistory(t, s, want)
}

// TestHistoryRing: whatever the number of entries added between saves,
// and across a reopen, Load returns the last MaxHistory entries in order.
func TestHistoryRing(t *testing.T) {
	t.Parallel()
	s, dir := diskStore(t)
	n := 0
	for _, step := range []int{0, 1, 1, 7, 49, 50, 1, 60, 3, 120, 1} {
		n += step
		want := numbered("site/a", n)
		if n == 0 {
			want.History, want.HistorySeq = nil, 0
		}
		// Another path that the ring's prefix must not mix in.
		if err := s.Save(want, numbered("site/a.b", n+5), numbered("site/a/b", n+9)); err != nil {
			t.Fatal(err)
		}
		checkHistory(t, s, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkHistory(t, s, numbered("site/a", n))
	checkHistory(t, s, numbered("site/a/b", n+9))
	n++
	if err := s.Save(numbered("site/a", n)); err != nil {
		t.Fatal(err)
	}
	checkHistory(t, s, numbered("site/a", n))
}

// TestHistoryReplaced: a history without numbers, or numbered below the
// stored one, replaces what the store held, as it always did.
func TestHistoryReplaced(t *testing.T) {
	t.Parallel()
	s := memStore(t)
	if err := s.Save(numbered("a", 80)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []Snapshot{
		{Path: "a", History: entries(500, 502)},            // no numbers
		{Path: "a", History: entries(600, 601)},            // no numbers, shorter
		numbered("a", 30),                                  // numbered from 1 again
		{Path: "a", HistorySeq: 7, History: entries(1, 3)}, // below
		{Path: "a"}, // none
		numbered("a", 2),
	} {
		if err := s.Save(want); err != nil {
			t.Fatal(err)
		}
		checkHistory(t, s, want)
	}
}

// TestHistoryInline: a snapshot saved with its history inline (before the
// ring) reads as it was, and the next save moves its history to the ring.
func TestHistoryInline(t *testing.T) {
	t.Parallel()
	s := memStore(t)
	old := Snapshot{Path: "site/a", State: "running", History: entries(1, 12)}
	err := s.update(func(txn *badger.Txn) error { return setJSON(txn, nodePrefix+old.Path, old) })
	if err != nil {
		t.Fatal(err)
	}
	checkHistory(t, s, old)
	// As the actors restore it: numbered by its length.
	want := numbered("site/a", 13)
	want.History = append(entries(1, 12), entries(13, 13)...)
	if err := s.Save(want); err != nil {
		t.Fatal(err)
	}
	checkHistory(t, s, want)
	err = s.view(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(nodePrefix + "site/a"))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if bytes.Contains(v, []byte(`"history":`)) {
				return fmt.Errorf("node value still holds its history: %s", v)
			}
			return nil
		})
	})
	if err != nil {
		t.Error(err)
	}
}
func BenchmarkSaveOneEntry(b *testing.B) {
	db, err := badger.Open(badgerOptions(filepath.Join(b.TempDir(), "state")).WithMetricsEnabled(true))
	if err != nil {
		b.Fatal(err)
	}
	s := &Store{now: time.Now, db: db}
	defer s.Close()
	sn := Snapshot{Path: "site/group/node", State: "running", History: entries(1, MaxHistory), HistorySeq: MaxHistory}
	if err := s.Save(sn); err != nil {
		b.Fatal(err)
	}
	written := expvar.Get("badger_write_bytes_user").(*expvar.Int)
	w0, saves := written.Value(), 0
	b.ReportAllocs()
	for b.Loop() {
		sn.HistorySeq++ // the same entries, numbered one further: one is new
		if err := s.Save(sn); err != nil {
			b.Fatal(err)
		}
		saves++
	}
	b.ReportMetric(float64(written.Value()-w0)/float64(saves), "written-B/op")
}

// TestSaveTooBig: a Save beyond one transaction says so, with ErrTooBig,
// and writes nothing.
func TestSaveTooBig(t *testing.T) {
	t.Parallel()
	s, _ := diskStore(t)
	err := s.Save(samples(300, "running")...)
	if !errors.Is(err, ErrTooBig) {
		t.Fatalf("save of 300 full histories: got %v, want ErrTooBig", err)
	}
	if all, err := s.All(); err != nil || len(all) != 0 {
		t.Errorf("after the refused save: %d snapshots, %v; want none", len(all), err)
	}
}
