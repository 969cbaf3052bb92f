package persistence

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestLockExclusive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := AcquireLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = AcquireLock(dir)
	var le *LockedError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) {
		t.Fatalf("second lock: got %v, want ErrLocked", err)
	}
	if le.Pid != os.Getpid() || le.Role != Owner {
		t.Errorf("holder got pid %d, %v, want %d, owner", le.Pid, le.Role, os.Getpid())
	}
	if d := time.Since(start); d >= ReaderWait {
		t.Errorf("an owner waited %v for another owner, want an answer at once", d)
	}
	// A reader is refused too, and told who owns it.
	_, err = AcquireReadLock(dir)
	if !errors.As(err, &le) || le.Pid != os.Getpid() || le.Role != Owner {
		t.Errorf("read lock: got %v, want ErrLocked naming the owner, pid %d", err, os.Getpid())
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

// TestLockOwnerWaitsForReader: an owner that finds a reader holding the
// lock takes it once the reader lets go, instead of failing.
func TestLockOwnerWaitsForReader(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r, err := AcquireReadLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A second reader is refused, told that a reader holds it.
	_, err = AcquireReadLock(dir)
	var le *LockedError
	if !errors.As(err, &le) || le.Role != Reader || le.Pid != os.Getpid() {
		t.Errorf("second reader: got %v, want ErrLocked naming a reader, pid %d", err, os.Getpid())
	}
	got := make(chan error, 1)
	go func() {
		l, err := AcquireLock(dir)
		if err == nil {
			err = l.Release()
		}
		got <- err
	}()
	// Let the owner find the reader there (not a success condition: the
	// owner must succeed whenever the reader lets go).
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-got:
		t.Fatalf("owner returned %v while a reader held the lock, want it to wait", err)
	default:
	}
	if err := r.Release(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("owner after the reader let go: %v", err)
		}
	case <-time.After(ReaderWait + 5*time.Second):
		t.Fatal("owner did not take the lock after the reader let go")
	}
}

// holdLock is the "hold-lock" helper: it takes dir's lock as an owner
// (retrying while the test holds it), says "held", and keeps it until
// killed.
func holdLock(dir string, out *os.File) {
	deadline := time.Now().Add(time.Minute)
	for {
		l, err := AcquireLock(dir)
		if err == nil {
			fmt.Fprintln(out, "held")
			_ = l // kept until the process dies
			select {}
		}
		if !errors.Is(err, ErrLocked) || time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

// TestLockHolderAlwaysNamed: whoever finds the lock held is told the pid
// of the process that holds it, never nothing and never the pid of an
// earlier holder, even in the instant after the holder took it. Helpers
// take the lock one after another (each killed with SIGKILL, leaving its
// pid in the file) while the test tries to take it as fast as it can.
func TestLockHolderAlwaysNamed(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rounds := 60
	if testing.Short() {
		rounds = 10
	}
	var wrong []string
	for round := range rounds {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"=hold-lock", "STATE_DIR="+dir)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		helper := cmd.Process.Pid
		held := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(stdout)
			if sc.Scan() {
				close(held)
			}
			for sc.Scan() {
			}
		}()
		// Two observers racing the helper for the lock: each refusal must
		// name the helper, the only other process that can hold it.
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				deadline := time.Now().Add(30 * time.Second)
				for refusals := 0; refusals < 20 && time.Now().Before(deadline); {
					l, err := AcquireLock(dir)
					if err == nil {
						_ = l.Release()
						continue
					}
					var le *LockedError
					if !errors.As(err, &le) {
						mu.Lock()
						wrong = append(wrong, fmt.Sprintf("round %d: %v", round, err))
						mu.Unlock()
						return
					}
					if le.Pid == os.Getpid() {
						continue // the other observer
					}
					refusals++
					if le.Pid != helper {
						mu.Lock()
						wrong = append(wrong, fmt.Sprintf("round %d: refusal names pid %d, holder is %d", round, le.Pid, helper))
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		select {
		case <-held:
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: helper never took the lock", round)
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
	for i, w := range wrong {
		if i == 10 {
			t.Errorf("... and %d more", len(wrong)-10)
			break
		}
		t.Error(w)
	}
}
