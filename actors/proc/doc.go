// Package proc owns otpsv's operating-system processes: starting a command
// in its own process group, learning of its exit, and stopping everything
// in that group (signal, grace period, SIGKILL).
//
// Exits are collected by one reaper goroutine that waits on any child when
// SIGCHLD arrives, instead of one blocked wait4 thread per child (1000
// workers would otherwise cost 1000 OS threads). The same reaper also
// collects orphans re-parented to otpsv when it is a child subreaper, so no
// zombie of a stopped worker lingers. The cost of that design: every child
// of the otpsv process must be started through this package. os/exec's
// Cmd.Wait would race the reaper and get ECHILD.
//
// A process started with a Spec.Tag carries it in its environment, and so
// do its descendants: FindTagged recognises them from /proc alone, and
// Group finds and stops what a worker left in its process group once the
// worker's own process is gone, signalling only processes it can prove
// are the worker's (a group id is a pid, and may have been reused).
//
// It must not import protoactor or badger; it knows nothing of supervision.
package proc
