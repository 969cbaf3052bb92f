package proc

import "syscall"

const prSetChildSubreaper = 36

// BecomeSubreaper makes this process the reaper of orphaned descendants
// (PR_SET_CHILD_SUBREAPER), so a worker's daemonized grandchildren are
// re-parented to otpsv, reaped by it, and stay visible in their group.
func BecomeSubreaper() error {
	_, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
