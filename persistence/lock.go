package persistence

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrLocked is returned by Lock when another otpsv owns the state_dir.
var ErrLocked = errors.New("state is held by another otpsv")

// LockedError says who holds the state_dir.
type LockedError struct {
	Dir string
	Pid int // 0 when the holder could not be read
}

func (e *LockedError) Error() string {
	if e.Pid > 0 {
		return fmt.Sprintf("%s: %v (pid %d)", e.Dir, ErrLocked, e.Pid)
	}
	return fmt.Sprintf("%s: %v", e.Dir, ErrLocked)
}

// Unwrap makes errors.Is(err, ErrLocked) work.
func (e *LockedError) Unwrap() error { return ErrLocked }

// Lock is an exclusive hold on a state_dir. The kernel drops the flock
// when the holder dies, so a kill -9 never leaves a stale lock behind.
type Lock struct {
	f *os.File
}

// LockFile is the name of the lock file inside state_dir.
const LockFile = "otpsv.lock"

// AcquireLock takes the state_dir's lock without waiting and writes the
// caller's pid into it for the next one who asks.
func AcquireLock(dir string) (*Lock, error) {
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock state: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Dir: dir, Pid: Holder(dir)}
		}
		return nil, fmt.Errorf("lock state: %w", err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Holder returns the pid written by the current holder, or 0.
func Holder(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, LockFile))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Release gives the lock up.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
