package proc

import (
	"errors"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// signalSame sends sig to p if p is alive and still the process that had
// its pid when p was read; errGone otherwise. A pidfd is opened first and
// the start time checked after: if it matches, the pidfd names p itself,
// so the signal cannot reach a process that took the pid over since. Where
// pidfd_open is missing (before Linux 5.3, or filtered) it falls back to
// check-then-kill(2).
func signalSame(p ProcInfo, sig syscall.Signal) error {
	fd, err := unix.PidfdOpen(p.Pid, 0)
	switch {
	case err == nil:
		defer unix.Close(fd)
	case errors.Is(err, unix.ESRCH):
		return errGone
	default:
		fd = -1
	}
	var r procReader
	if !r.same(p) {
		return errGone
	}
	if fd >= 0 {
		err = unix.PidfdSendSignal(fd, sig, nil, 0)
	} else {
		err = syscall.Kill(p.Pid, sig)
	}
	if errors.Is(err, syscall.ESRCH) {
		return errGone
	}
	return err
}

// fdPath is a path that opens f anew; for a pipe, the same pipe.
func fdPath(f *os.File) string {
	return "/proc/self/fd/" + strconv.Itoa(rawFd(f))
}
