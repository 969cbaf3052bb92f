package persistence

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLocked is returned by Lock when another otpsv owns the state_dir.
var ErrLocked = errors.New("state is held by another otpsv")

// Role is what an otpsv holds the state_dir's lock for.
type Role int

const (
	// Owner acts on the state: a daemon, a oneshot pass, a direct
	// start/stop/restart. It holds the lock for as long as it runs.
	Owner Role = iota + 1
	// Reader reads the saved state for a query (tree, status, check,
	// why) when no daemon answers; it holds the lock for well under a
	// second.
	Reader
)

func (r Role) String() string {
	switch r {
	case Owner:
		return "owner"
	case Reader:
		return "reader"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// LockedError says who holds the state_dir.
type LockedError struct {
	Dir  string
	Pid  int  // 0 only when neither the lock file nor /proc/locks names it
	Role Role // what the holder holds it for
}

func (e *LockedError) Error() string {
	what := ""
	if e.Role == Reader {
		what = " reading the saved state"
	}
	if e.Pid > 0 {
		return fmt.Sprintf("%s: %v%s (pid %d)", e.Dir, ErrLocked, what, e.Pid)
	}
	return fmt.Sprintf("%s: %v%s", e.Dir, ErrLocked, what)
}

// Unwrap makes errors.Is(err, ErrLocked) work.
func (e *LockedError) Unwrap() error { return ErrLocked }

// Lock is an exclusive hold on a state_dir. The kernel drops the flock
// when the holder dies, so a kill -9 never leaves a stale lock behind.
type Lock struct {
	f *os.File
}

// LockFile is the name of the lock file inside state_dir. It holds the
// holder's pid and role ("1234 owner").
const LockFile = "otpsv.lock"

// ReaderWait bounds how long an owner waits for readers to let go of the
// lock before it gives up with a LockedError naming one of them. A reader
// holds it for the time it takes to open the store and read it.
const ReaderWait = 10 * time.Second

// How long an owner and a reader try for the gate (see acquire). It is
// held for microseconds, or by an owner waiting out readers for up to
// ReaderWait: an owner waits that out too (and then finds the other owner
// holding the lock); a reader does not wait for an owner.
const (
	ownerGateWait  = ReaderWait + 2*time.Second
	readerGateWait = 200 * time.Millisecond
)

// AcquireLock takes the state_dir's lock as its owner and writes the
// caller's pid into it for the next one who asks. Held by another owner,
// it fails at once with a LockedError naming the holder's pid; held by a
// reader, it waits (up to ReaderWait), keeping new readers out meanwhile:
// a query must never make an owner fail.
func AcquireLock(dir string) (*Lock, error) {
	return acquire(dir, Owner)
}

// AcquireReadLock takes the state_dir's lock to read the saved state. It
// never waits: held by anyone (or an owner waiting to take it), it fails
// with a LockedError saying who.
func AcquireReadLock(dir string) (*Lock, error) {
	return acquire(dir, Reader)
}

// acquire takes the lock for role.
//
// A flock says nothing about its holder: the holder writes its pid and
// role into the file once it holds it. So that nobody reads the file
// between the flock and that write (an empty file, or the pid of a holder
// long gone), taking the lock and writing the file, and testing the lock
// and reading the file, are each done under a second flock, the gate, on
// the state_dir directory itself. An owner waiting out a reader keeps the
// gate, so that a stream of queries cannot keep it out for ever.
func acquire(dir string, role Role) (*Lock, error) {
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock state: %w", err)
	}
	l, err := acquireFile(f, dir, role)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return l, nil
}

func acquireFile(f *os.File, dir string, role Role) (*Lock, error) {
	gate, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("lock state: %w", err)
	}
	defer gate.Close() // releases the gate
	wait := ownerGateWait
	if role == Reader {
		wait = readerGateWait
	}
	if err := flockWithin(gate, wait); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			// Only an owner keeps the gate, while it waits for a reader.
			return nil, &LockedError{Dir: dir, Pid: lockHolderPid(gate), Role: Owner}
		}
		return nil, fmt.Errorf("lock state: %w", err)
	}
	deadline := time.Now().Add(ReaderWait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			if err := f.Truncate(0); err == nil {
				_, _ = f.WriteAt([]byte(fmt.Sprintf("%d %s\n", os.Getpid(), role)), 0)
			}
			return &Lock{f: f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock state: %w", err)
		}
		held := holder(f, dir)
		if held.Role == Owner || role == Reader || time.Now().After(deadline) {
			return nil, held
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// flockWithin takes f's exclusive flock, trying for up to d.
func flockWithin(f *os.File, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil || !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(time.Millisecond)
	}
}

// holder reads who holds the lock from the lock file f; the caller holds
// the gate, so the holder has written it. A holder that wrote nothing (an
// older otpsv, or a failed write) is looked up in /proc/locks, and is
// taken for an owner.
func holder(f *os.File, dir string) *LockedError {
	le := &LockedError{Dir: dir, Role: Owner}
	b := make([]byte, 64)
	n, _ := f.ReadAt(b, 0)
	fields := strings.Fields(string(b[:n]))
	if len(fields) > 0 {
		le.Pid, _ = strconv.Atoi(fields[0])
	}
	if len(fields) > 1 && fields[1] == Reader.String() {
		le.Role = Reader
	}
	if le.Pid <= 0 {
		le.Pid = lockHolderPid(f)
	}
	return le
}

// lockHolderPid returns the pid that /proc/locks gives for the exclusive
// flock on f's file, 0 when there is none or /proc/locks cannot tell (a
// holder in another pid namespace shows as 0 there).
func lockHolderPid(f *os.File) int {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0
	}
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	pl, err := os.Open("/proc/locks")
	if err != nil {
		return 0
	}
	defer pl.Close()
	sc := bufio.NewScanner(pl)
	for sc.Scan() {
		// "1: FLOCK  ADVISORY  WRITE 1234 fe:00:9979725 0 EOF"; waiters
		// have "->" after the number.
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" || fields[3] != "WRITE" || fields[5] != want {
			continue
		}
		if pid, err := strconv.Atoi(fields[4]); err == nil && pid > 0 {
			return pid
		}
	}
	return 0
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
