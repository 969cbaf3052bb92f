package proc

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNotSame is returned by Adopt when the pid is gone or now belongs to
// another process (its start time differs).
var ErrNotSame = errors.New("not the same process")

// ExitUnknown is the status of an adopted process that exited: it is not
// otpsv's child, so its exit status cannot be had.
var ExitUnknown = ExitStatus{Code: -2}

// Adopt takes charge of a process that an earlier otpsv started (it
// survived a kill -9 of the daemon, or was started detached by a oneshot
// pass). start is its start time in clock ticks since boot, as recorded
// then: a pid reused by another process is never adopted.
//
// With watch, Done is closed when the process exits, through a pidfd
// polled by Go's runtime poller (no thread per process); without it (a
// oneshot pass, which does not stay to watch), Done is closed only once a
// Stop has seen the process gone.
func Adopt(pid int, start uint64, watch bool) (*Process, error) {
	info, err := LookupProcess(pid)
	if err != nil || info.StartTime != start || info.State == 'Z' {
		return nil, fmt.Errorf("adopt pid %d: %w", pid, ErrNotSame)
	}
	p := &Process{Pid: pid, Started: time.Now(), done: make(chan struct{}), adopted: true}
	if !watch {
		return p, nil
	}
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("adopt pid %d: pidfd: %w", pid, err)
	}
	// The pid could have been reused between the check and the open:
	// check again through the pidfd's own process.
	if info, err := LookupProcess(pid); err != nil || info.StartTime != start {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("adopt pid %d: %w", pid, ErrNotSame)
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("pidfd:%d", pid))
	go p.watchPidfd(f)
	return p, nil
}

// watchPidfd closes done when the pidfd becomes readable (the process
// exited).
func (p *Process) watchPidfd(f *os.File) {
	defer func() { _ = f.Close() }()
	rc, err := f.SyscallConn()
	if err == nil {
		err = rc.Read(func(fd uintptr) bool {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(fds, 0)
			return err != nil || n > 0
		})
	}
	if err != nil {
		// No poller for this fd: fall back to polling the process table.
		for {
			if _, err := LookupProcess(p.Pid); err != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	p.exited(ExitUnknown)
}

// Adopted reports whether the process was adopted rather than started.
func (p *Process) Adopted() bool { return p.adopted }

// StartTime is the process's start time in clock ticks since boot (what
// Adopt checks), read from /proc.
func (p *Process) StartTime() (uint64, error) {
	info, err := LookupProcess(p.Pid)
	if err != nil {
		return 0, err
	}
	return info.StartTime, nil
}
