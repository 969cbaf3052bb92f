package proc

import (
	"errors"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// reaper collects the exit status of every child of this process.
type reaper struct {
	mu      sync.Mutex
	waiting map[int]*Process
	sigs    chan os.Signal
}

var (
	theReaper     *reaper
	theReaperOnce sync.Once
)

func getReaper() *reaper {
	theReaperOnce.Do(func() {
		r := &reaper{waiting: make(map[int]*Process), sigs: make(chan os.Signal, 16)}
		signal.Notify(r.sigs, syscall.SIGCHLD)
		go r.loop()
		theReaper = r
	})
	return theReaper
}

func (r *reaper) loop() {
	for range r.sigs {
		r.reapAll()
	}
}

// reapAll waits on every child that has exited. It holds mu while it does,
// and Start holds mu across fork and registration, so a child that dies
// at once is never reaped before its Process is known.
func (r *reaper) reapAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		p, ok := r.waiting[pid]
		if !ok {
			continue // an orphan re-parented to us; reaping it is all we owe it
		}
		delete(r.waiting, pid)
		p.exited(statusOf(ws))
	}
}

func statusOf(ws syscall.WaitStatus) ExitStatus {
	if ws.Signaled() {
		return ExitStatus{Code: -1, Signal: ws.Signal()}
	}
	return ExitStatus{Code: ws.ExitStatus()}
}
