package persistence

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// memStore returns a Store on an in-memory Badger (no directory, no
// generation file), closed when the test ends.
func memStore(t testing.TB) *Store {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions("").WithInMemory(true).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{now: time.Now, db: db}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// diskStore opens a Store in a fresh temporary directory.
func diskStore(t testing.TB) (*Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, dir
}

// sample returns a snapshot for path: a running worker with a few
// restarts and a full history (MaxHistory entries, ~9 KB of JSON).
func sample(path string, i int) Snapshot {
	return sampleWithHistory(path, i, MaxHistory)
}

func sampleWithHistory(path string, i, history int) Snapshot {
	sn := Snapshot{
		Path:        path,
		State:       "running",
		Pid:         1000 + i,
		PidStart:    uint64(123456 + i),
		Since:       t0.Add(time.Duration(i) * time.Second),
		Restarts:    []time.Time{t0, t0.Add(time.Second)},
		LastExit:    "exit status 1",
		LastExitAt:  t0,
		LastCheck:   "ok",
		LastCheckAt: t0.Add(time.Minute),
		HistorySeq:  uint64(history), // numbered, as otpsv saves them
	}
	for j := range history {
		sn.History = append(sn.History, HistoryEntry{
			Time:      t0.Add(time.Duration(j) * time.Second),
			Event:     "exit",
			Detail:    "exit status 1",
			Strategy:  "one_for_all",
			Restarted: []string{path, path + "-sibling"},
			Budget:    3 - j%4,
		})
	}
	return sn
}

// samples returns n snapshots with full histories, State set to tag.
func samples(n int, tag string) []Snapshot {
	return samplesWithHistory(n, tag, MaxHistory)
}

func samplesWithHistory(n int, tag string, history int) []Snapshot {
	snaps := make([]Snapshot, n)
	for i := range snaps {
		snaps[i] = sampleWithHistory(fmt.Sprintf("site/group%d/node%d", i%7, i), i, history)
		snaps[i].State = tag
	}
	return snaps
}

func TestSaveLoad(t *testing.T) {
	t.Parallel()
	s := memStore(t)
	want := []Snapshot{
		sample("site", 0),
		sample("site/db", 1),
		{Path: "site/web", State: "stopped", AdminStopped: true, GaveUpAt: t0},
	}
	if err := s.Save(want...); err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		got, err := s.Load(w.Path)
		if err != nil {
			t.Fatalf("load %q: %v", w.Path, err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("load %q:\ngot  %+v\nwant %+v", w.Path, got, w)
		}
	}
	all, err := s.All()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(want) {
		t.Fatalf("all: got %d snapshots, want %d", len(all), len(want))
	}
	for _, w := range want {
		if !reflect.DeepEqual(all[w.Path], w) {
			t.Errorf("all[%q]: got %+v, want %+v", w.Path, all[w.Path], w)
		}
	}
}

func TestSaveReplaces(t *testing.T) {
	t.Parallel()
	s := memStore(t)
	if err := s.Save(Snapshot{Path: "a", State: "running", Pid: 7}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(Snapshot{Path: "a", State: "stopped"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load("a")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Snapshot{Path: "a", State: "stopped"}); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestSaveRejectsEmptyPath(t *testing.T) {
	t.Parallel()
	s := memStore(t)
	if err := s.Save(Snapshot{Path: "a"}, Snapshot{State: "running"}); err == nil {
		t.Fatal("save without a path: got nil error")
	}
	if _, err := s.Load("a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a snapshot of the refused Save was written: got %v, want ErrNotFound", err)
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	s := memStore(t)
	if _, err := s.Load("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("load: got %v, want ErrNotFound", err)
	}
	var v int
	if err := s.meta("nope", &v); !errors.Is(err, ErrNotFound) {
		t.Errorf("meta: got %v, want ErrNotFound", err)
	}
	if _, err := s.SavedAt(); !errors.Is(err, ErrNotFound) {
		t.Errorf("saved at: got %v, want ErrNotFound", err)
	}
	all, err := s.All()
	if err != nil || len(all) != 0 {
		t.Errorf("all: got %v, %v, want empty, nil", all, err)
	}
}
func TestSavedAt(t *testing.T) {
	t.Parallel()
	s := memStore(t)
	now := t0
	s.now = func() time.Time { return now }
	if err := s.Save(Snapshot{Path: "a"}); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(time.Hour)
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	got, err := s.SavedAt()
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(now) {
		t.Errorf("saved at: got %v, want %v", got, now)
	}
}

func TestClosed(t *testing.T) {
	t.Parallel()
	s := memStore(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second close: got %v, want nil", err)
	}
	if err := s.Save(Snapshot{Path: "a"}); !errors.Is(err, ErrClosed) {
		t.Errorf("save: got %v, want ErrClosed", err)
	}
	if _, err := s.Load("a"); !errors.Is(err, ErrClosed) {
		t.Errorf("load: got %v, want ErrClosed", err)
	}
	if _, err := s.All(); !errors.Is(err, ErrClosed) {
		t.Errorf("all: got %v, want ErrClosed", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	s := memStore(t)
	done := make(chan error)
	for w := range 4 {
		go func() {
			for i := range 20 {
				if err := s.Save(Snapshot{Path: fmt.Sprintf("w%d", w), Pid: i}); err != nil {
					done <- err
					return
				}
				if _, err := s.All(); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	gen, err := s.readGeneration()
	if err != nil {
		t.Fatal(err)
	}
	if gen != 80 {
		t.Errorf("generation: got %d, want 80 (one per commit)", gen)
	}
}

func TestReopen(t *testing.T) {
	t.Parallel()
	s, dir := diskStore(t)
	want := samples(10, "running")
	if err := s.Save(want...); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(want[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if gen, ok, err := readGeneration(dir); err != nil || !ok || gen != 2 {
		t.Errorf("generation file: got %d, %v, %v, want 2, true, nil", gen, ok, err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all, err := s.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if !reflect.DeepEqual(all[w.Path], w) {
			t.Errorf("%q after reopen: got %+v, want %+v", w.Path, all[w.Path], w)
		}
	}
}
