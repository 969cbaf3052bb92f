package actors

import (
	"errors"
	"sync"

	"fmt"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/otpsv/otpsv/config"

	"github.com/otpsv/otpsv/actors/event"
	"github.com/otpsv/otpsv/actors/proc"
)

// childStarted tells a supervisor that the child it spawned is up (for a
// supervisor: its whole initial start plan has been carried out).
type childStarted struct{ pid *actor.PID }

// childReady tells a supervisor that the child it spawned is ready: its
// status check reports running. one_for_all and rest_for_one supervisors
// wait for it before starting the next sibling; one_for_one ones only
// wait for childStarted.
type childReady struct{ pid *actor.PID }

// shutdown asks a healthy supervisor to stop its children in reverse
// order and then itself.
type shutdown struct{}

// command is an operator's start, stop or restart of the node at path,
// routed down the tree to the node's supervisor.
type command struct {
	verb  string // "start", "stop" or "restart"
	path  string
	reply func(error)
}

// reconfigure gives a supervisor its node's new definition (a reload).
type reconfigure struct {
	node  *config.Node
	reply func(error)
}

// joiner answers once, when every part of a reload has answered.
type joiner struct {
	mu    sync.Mutex
	n     int
	errs  []error
	reply func(error)
}

func (j *joiner) add() {
	j.mu.Lock()
	j.n++
	j.mu.Unlock()
}

func (j *joiner) done(err error) {
	j.mu.Lock()
	if err != nil {
		j.errs = append(j.errs, err)
	}
	j.n--
	last := j.n == 0
	j.mu.Unlock()
	if last {
		j.reply(errors.Join(j.errs...))
	}
}

// processExited is sent by a worker's wait goroutine to the worker.
type processExited struct {
	pid    int
	status proc.ExitStatus
}

// failure is the panic value of a child that failed; it reaches the
// parent's HandleFailure as the reason.
type failure struct {
	path     string
	abnormal bool   // counts as abnormal for a transient child
	what     string // what was detected, for logs and `otpsv why`
	cause    event.Cause
	gaveUp   bool  // a supervisor that exceeded its intensity
	err      error // gaveUp: wraps policy.ErrIntensityExceeded
	// exited: the child ended by itself (a process's exit, a supervisor's
	// automatic shutdown), not by a check, a probe or a failed start:
	// only that can trigger an automatic shutdown (SPEC §7).
	exited bool
	// shutdown: a supervisor shut itself down automatically; trigger is
	// the significant worker whose exit began it, and code that exit's
	// status as a shell gives it (128+N for signal N), -1 unknown.
	shutdown bool
	trigger  string
	code     int
}

// exitCode is st as a shell reports it: the code, 128+N for signal N,
// -1 when unknown.
func exitCode(st proc.ExitStatus) int {
	switch {
	case st.Signal != 0:
		return 128 + int(st.Signal)
	case st == proc.ExitUnknown:
		return -1
	}
	return st.Code
}

// exitCause classes a process's exit.
func exitCause(st proc.ExitStatus) event.Cause {
	if st.Signal != 0 {
		return event.CauseSignal
	}
	return event.CauseExit
}

func (f *failure) Error() string { return fmt.Sprintf("%s: %s", f.path, f.what) }

// samePID compares actor pids; protoactor's (*PID).Equal dereferences a
// nil receiver, and a child that is down has no pid.
func samePID(a, b *actor.PID) bool {
	return a != nil && b != nil && a.Equal(b)
}
