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
	p := &Process{Pid: pid, Started: time.Now(), done: make(chan struct{}), adopted: true, startTicks: start}
	if !watch {
		return p, nil
	}
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		// No pidfd (Linux < 5.3, or a seccomp filter): watch the process
		// table instead, once a second per adopted process.
		go p.pollGone(start)
		return p, nil
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
		info, _ := LookupProcess(p.Pid)
		p.pollGone(info.StartTime)
		return
	}
	p.exited(ExitUnknown)
}

// pollGone closes done once the process is gone (or a zombie, or its pid
// belongs to another process).
func (p *Process) pollGone(start uint64) {
	for {
		info, err := LookupProcess(p.Pid)
		if err != nil || info.StartTime != start || info.State == 'Z' || info.State == 'X' {
			break
		}
		time.Sleep(time.Second)
	}
	p.exited(ExitUnknown)
}

// Adopted reports whether the process was adopted rather than started.
func (p *Process) Adopted() bool { return p.adopted }

// StartTime is the process's start time in clock ticks since boot (what
// Adopt checks), as read when it was started or adopted.
func (p *Process) StartTime() (uint64, error) {
	if p.startTicks == 0 {
		return 0, fmt.Errorf("pid %d: start time unknown", p.Pid)
	}
	return p.startTicks, nil
}
