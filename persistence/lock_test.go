package persistence

import (
	"errors"
	"os"
	"testing"
)

func TestLockExclusive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := AcquireLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = AcquireLock(dir)
	var le *LockedError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) {
		t.Fatalf("second lock: got %v, want ErrLocked", err)
	}
	if le.Pid != os.Getpid() {
		t.Errorf("holder got %d, want %d", le.Pid, os.Getpid())
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := AcquireLock(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	_ = l2.Release()
}
