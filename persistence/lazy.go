package persistence

import (
	"errors"
	"runtime/debug"
	"sync"
	"time"
)

// Lazy is a Store that is open only while it is being written: the first
// Save opens it, and it is closed again after idle without a Save. A
// daemon that sits idle for hours then runs none of Badger's background
// goroutines (its compactors wake every 50 ms while a DB is open), and each
// close compacts level 0, so the directory stays small. The caller must
// hold the state_dir lock: between saves nothing else guards the store.
type Lazy struct {
	dir  string
	idle time.Duration

	mu     sync.Mutex
	st     *Store
	timer  *time.Timer
	closed bool
}

// OpenLazy opens the store at dir (a damaged store is reported now, not
// at the first save) and returns it open: the caller reads it at once
// (the previous run's snapshots) and writes its first saves, and it
// closes after idle like any other opening.
func OpenLazy(dir string, idle time.Duration) (*Lazy, error) {
	l := &Lazy{dir: dir, idle: idle}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

// open returns the open store, opening it if needed, and restarts the
// idle timer. Called with mu held.
func (l *Lazy) open() (*Store, error) {
	if l.closed {
		return nil, ErrClosed
	}
	if l.st == nil {
		st, err := Open(l.dir)
		if err != nil {
			return nil, err
		}
		l.st = st
	}
	if l.timer == nil {
		l.timer = time.AfterFunc(l.idle, l.closeIdle)
	} else {
		l.timer.Reset(l.idle)
	}
	return l.st, nil
}

func (l *Lazy) closeIdle() {
	l.mu.Lock()
	st := l.st
	l.st = nil
	l.mu.Unlock()
	if st == nil {
		return
	}
	// Outside the lock: a close that hangs must not block the writers (the
	// next Save opens the store again, or reports why it cannot).
	if CloseWithin(st, closeTimeout) == nil {
		// Badger's memtable and buffers are garbage now; hand the memory
		// back rather than keep it for the next burst of writes.
		debug.FreeOSMemory()
	}
}

// closeTimeout bounds a close. Badger's Close waits for its memtable
// flush, which retries forever when the directory was removed under it;
// otpsv must still exit on SIGTERM.
const closeTimeout = 10 * time.Second

// ErrCloseTimeout is returned when the store did not close in time.
var ErrCloseTimeout = errors.New("state store did not close in time (was its directory removed?)")

// CloseWithin closes st, giving up after d (see ErrCloseTimeout).
func CloseWithin(st *Store, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- st.Close() }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return ErrCloseTimeout
	}
}

// Save writes snaps in one transaction (see Store.Save).
func (l *Lazy) Save(snaps ...Snapshot) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	st, err := l.open()
	if err != nil {
		return err
	}
	return st.Save(snaps...)
}

// All reads every snapshot (see Store.All).
func (l *Lazy) All() (map[string]Snapshot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st, err := l.open()
	if err != nil {
		return nil, err
	}
	return st.All()
}

// Close closes the store if it is open; later calls fail with ErrClosed.
func (l *Lazy) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
	}
	if l.st == nil {
		return nil
	}
	err := CloseWithin(l.st, closeTimeout)
	l.st = nil
	return err
}
