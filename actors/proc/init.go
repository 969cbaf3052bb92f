package proc

import (
	"context"
	"os"
	"strconv"
	"syscall"
	"time"
)

// What otpsv owes the system as an init: as PID 1 of a container, or
// with `otpsv daemon --init` (SPEC §8). Orphans are reaped by the reaper
// (wait4(-1) on every SIGCHLD, and otpsv is a child subreaper); what is
// left once the tree has stopped is ended here.

// InitLeftovers lists the processes an init ends after its tree stopped,
// zombies left out. As PID 1 of its own PID namespace (with /proc mounted
// for it) that is every other process of the namespace. Otherwise it is
// its children (orphans it adopted as a subreaper; every worker has been
// stopped by then) and, when it leads its session (started by setsid, as
// container runtimes and service managers start it), the other members of
// its session: never its ancestors, such as the shell it was started
// from.
func InitLeftovers() ([]ProcInfo, error) {
	procs, err := ScanProcesses()
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	pid1 := self == 1 && procIsOurs()
	sid := 0 // this process's session, from the same scan
	for _, p := range procs {
		if p.Pid == self {
			sid = p.Sid
		}
	}
	leader := sid == self
	ancestors := ancestry(procs, self)
	var out []ProcInfo
	for _, p := range procs {
		if p.Pid == self || p.State == 'Z' || p.State == 'X' || ancestors[p.Pid] {
			continue
		}
		if pid1 || p.PPid == self || (leader && p.Sid == sid) {
			out = append(out, p)
		}
	}
	return out, nil
}

// procIsOurs: /proc shows this process's PID namespace (a container's
// runtime mounts it so; `unshare --pid --fork --mount-proc` does).
func procIsOurs() bool {
	self, err := os.Readlink("/proc/self")
	return err == nil && self == strconv.Itoa(os.Getpid())
}

// EndLeftovers sends SIGTERM to what InitLeftovers lists and SIGKILL to
// what is left after grace (at once when hurry is closed), and waits
// until they are gone. It returns how many it found.
func EndLeftovers(grace time.Duration, hurry <-chan struct{}) (int, error) {
	procs, err := InitLeftovers()
	if err != nil || len(procs) == 0 {
		return 0, err
	}
	return len(procs), SignalProcesses(context.Background(), procs, syscall.SIGTERM, grace, hurry)
}

// StartReaper reaps every child from now on, before any worker starts:
// an init inherits orphans from the moment it runs.
func StartReaper() { getReaper() }
