package health

import (
	"bytes"
	"fmt"
	"os"
	"sync"
)

// FDReady waits for the newline a worker writes on its notification fd
// (s6's notification-fd: `ready: fd:N`).
type FDReady struct {
	r, w *os.File

	mu      sync.Mutex
	started bool
	closed  bool
	done    chan struct{} // closed when the waiting goroutine has returned

	closeOnce sync.Once
}

// NewFDReady makes the pipe. Give the returned *os.File (its write end) to
// the child through proc.Spec.ExtraFiles, then call CloseChildEnd, so that
// only the worker's processes hold it.
func NewFDReady() (*FDReady, *os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("notification fd: %w", err)
	}
	return &FDReady{r: r, w: w, done: make(chan struct{})}, w, nil
}

// CloseChildEnd closes otpsv's copy of the write end.
func (f *FDReady) CloseChildEnd() { _ = f.w.Close() }

// Start waits, on a goroutine of its own, for a newline on the pipe, and
// then calls ready once (on that goroutine; ready must not call Close).
// When every writer has closed the pipe without a newline, ready is never
// called. Start after Start or Close does nothing.
//
// The read end stays open until Close, though nothing more is read: a
// worker that writes again fills the pipe's buffer instead of dying of
// SIGPIPE.
func (f *FDReady) Start(ready func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started || f.closed {
		return
	}
	f.started = true
	go func() {
		defer close(f.done)
		var buf [64]byte
		for {
			n, err := f.r.Read(buf[:])
			if bytes.IndexByte(buf[:n], '\n') >= 0 {
				ready()
				return
			}
			if err != nil {
				return // EOF: the worker closed the fd without a newline; or Close
			}
		}
	}()
}

// Close stops waiting (the goroutine is gone when it returns) and closes
// both ends. It may be called more than once.
func (f *FDReady) Close() {
	f.closeOnce.Do(func() {
		f.mu.Lock()
		f.closed = true
		started := f.started
		f.mu.Unlock()
		_ = f.r.Close()
		if started {
			<-f.done
		}
		_ = f.w.Close()
	})
}
