//go:build !linux

package proc

import (
	"errors"
	"os"
	"strconv"
	"syscall"
)

// signalSame sends sig to p if p is alive and still the process that had
// its pid when p was read; errGone otherwise. Without pidfds a pid reused
// between the check and kill(2) is not ruled out.
func signalSame(p ProcInfo, sig syscall.Signal) error {
	var r procReader
	if !r.same(p) {
		return errGone
	}
	err := syscall.Kill(p.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return errGone
	}
	return err
}

// fdPath is a path that opens f anew; for a pipe, the same pipe.
func fdPath(f *os.File) string {
	return "/dev/fd/" + strconv.Itoa(rawFd(f))
}
