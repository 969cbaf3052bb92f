package persistence

import (
	"errors"
	"testing"
	"time"
)

func TestLazyOpensOnlyWhileWriting(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := OpenLazy(dir, lockWait+time.Second) // outlasts Open's wait for a held lock
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Save(Snapshot{Path: "r/a", State: "running", Pid: 42}); err != nil {
		t.Fatal(err)
	}
	// While open, Badger holds its directory lock.
	if _, err := Open(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("open while lazy store is open: got %v, want ErrLocked", err)
	}
	// Idle: closed, so another opener gets it (wait with a deadline).
	deadline := time.Now().Add(10 * time.Second)
	var st *Store
	for {
		if st, err = Open(dir); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store not closed after idle: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	got, err := st.Load("r/a")
	if err != nil || got.Pid != 42 {
		t.Fatalf("got %+v, %v", got, err)
	}
	_ = st.Close()
	all, err := l.All()
	if err != nil || len(all) != 1 {
		t.Fatalf("All after reopen: %v, %v", all, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Save(Snapshot{Path: "r/b"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("save after close: got %v, want ErrClosed", err)
	}
}
