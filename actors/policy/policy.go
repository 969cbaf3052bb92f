package policy

import (
	"errors"
	"time"
)

// ErrIntensityExceeded is the reason a supervisor gives up: more than
// Intensity restarts fell within Period.
var ErrIntensityExceeded = errors.New("restart intensity exceeded")

// Clock tells the time; tests pass a fake one.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock. Wall time (not monotonic) matters because
// restart histories are persisted between oneshot passes.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Spec is a supervisor's restart policy.
type Spec struct {
	Strategy  Strategy
	Intensity int
	Period    time.Duration
}

// Child is what the policy needs to know of one child, in list order.
type Child struct {
	Name    string
	Restart RestartType
	// Significant: the child's own end may shut its supervisor down
	// (AutoShutdown).
	Significant bool
}

// ShutdownMode is a supervisor's auto_shutdown (SPEC §7, OTP's).
type ShutdownMode int

// Shutdown modes.
const (
	ShutdownNever ShutdownMode = iota
	ShutdownAnySignificant
	ShutdownAllSignificant
)

// Triggers reports whether the end of children[i], by itself (an exit,
// not a stop by a strategy, an operator, a reload or a shutdown), shuts
// its supervisor down: the child is significant and ended as its restart
// type lets it end (transient: normally; temporary: in any way); with
// ShutdownAllSignificant, also no other significant child is still
// active (active[j]: started or still to start, and not ended for good).
func Triggers(mode ShutdownMode, children []Child, i int, abnormal bool, active []bool) bool {
	c := children[i]
	if mode == ShutdownNever || !c.Significant || ShouldRestart(c.Restart, abnormal) {
		return false
	}
	if c.Restart != Transient && c.Restart != Temporary {
		return false
	}
	if mode == ShutdownAllSignificant {
		for j, o := range children {
			if j != i && o.Significant && active[j] {
				return false
			}
		}
	}
	return true
}

// ActionKind is the kind of decision.
type ActionKind int

// Decisions.
const (
	// Ignore: the child stays down and nothing else happens (a temporary
	// child, or a transient one that exited normally).
	Ignore ActionKind = iota
	// Restart: stop Stop (in that order), then start Start (in that order).
	Restart
	// GiveUp: stop every child (Stop, reverse list order) and fail towards
	// the parent.
	GiveUp
)

func (k ActionKind) String() string {
	switch k {
	case Ignore:
		return "ignore"
	case Restart:
		return "restart"
	case GiveUp:
		return "give up"
	}
	return "ActionKind(?)"
}

// Action is a supervisor's answer to a child's exit. Stop lists children
// in reverse list order; Start in list order. The failed child is in Stop
// too: its process is gone, but what it left in its process group must be
// cleaned before anything starts again.
type Action struct {
	Kind  ActionKind
	Stop  []int
	Start []int
}

// Supervisor applies one supervisor's Spec and keeps its restart history.
// It is not safe for concurrent use: its owner (one actor) serialises calls.
type Supervisor struct {
	spec     Spec
	clock    Clock
	restarts []time.Time
}

// New returns a Supervisor with an empty restart history.
func New(spec Spec, clk Clock) *Supervisor {
	if clk == nil {
		clk = SystemClock{}
	}
	return &Supervisor{spec: spec, clock: clk}
}

// Spec returns the policy's spec.
func (s *Supervisor) Spec() Spec { return s.spec }

// ShouldRestart says whether a child of this restart type that ended this
// way is to be restarted at all. abnormal is true for a non-zero exit, a
// death by signal, a failed check or a failed start.
func ShouldRestart(r RestartType, abnormal bool) bool {
	switch r {
	case Permanent:
		return true
	case Transient:
		return abnormal
	default:
		return false
	}
}

// ChildExited decides what to do after children[i] ended. It records a
// restart (and may give up) only when the child is to be restarted.
func (s *Supervisor) ChildExited(children []Child, i int, abnormal bool) Action {
	if !ShouldRestart(children[i].Restart, abnormal) {
		return Action{Kind: Ignore, Stop: []int{i}}
	}
	if !s.addRestart() {
		return Action{Kind: GiveUp, Stop: reverseRange(0, len(children))}
	}
	return Plan(s.spec.Strategy, children, i)
}

// Plan is what strategy restarts when children[i] has to be restarted,
// without counting anything towards intensity: a failure's plan once
// ChildExited has counted it, or the restart of a child whose definition a
// reload changed.
func Plan(strategy Strategy, children []Child, i int) Action {
	switch strategy {
	case OneForAll:
		return Action{Kind: Restart, Stop: reverseRange(0, len(children)), Start: startable(children, 0, i)}
	case RestForOne:
		return Action{Kind: Restart, Stop: reverseRange(i, len(children)), Start: startable(children, i, i)}
	default:
		return Action{Kind: Restart, Stop: []int{i}, Start: []int{i}}
	}
}

// SetSpec changes the strategy, intensity or period (a reload) and keeps
// the restart history.
func (s *Supervisor) SetSpec(spec Spec) { s.spec = spec }

// startable lists children from..end-1 to start again after a group
// restart. OTP never restarts a temporary child, not even when a sibling's
// failure was what stopped it; the failed child itself is always included
// (it was judged restartable by ChildExited).
func startable(children []Child, from, failed int) []int {
	var out []int
	for j := from; j < len(children); j++ {
		if j == failed || children[j].Restart != Temporary {
			out = append(out, j)
		}
	}
	return out
}

func reverseRange(from, to int) []int {
	out := make([]int, 0, to-from)
	for j := to - 1; j >= from; j-- {
		out = append(out, j)
	}
	return out
}

// addRestart records a restart now and reports whether the supervisor may
// go on, as OTP's add_restart does: the restart counts, and more than
// Intensity restarts within Period means giving up.
func (s *Supervisor) addRestart() bool {
	now := s.clock.Now()
	s.restarts = append(s.window(now), now)
	return len(s.restarts) <= s.spec.Intensity
}

// window returns the restarts still inside the period ending now. Like
// OTP, an entry counts while now-t < Period.
func (s *Supervisor) window(now time.Time) []time.Time {
	keep := s.restarts[:0]
	for _, t := range s.restarts {
		if now.Sub(t) < s.spec.Period && !t.After(now) {
			keep = append(keep, t)
		}
	}
	return keep
}

// Restarts returns the restart times inside the current period, oldest
// first.
func (s *Supervisor) Restarts() []time.Time {
	s.restarts = s.window(s.clock.Now())
	return append([]time.Time(nil), s.restarts...)
}

// Budget is how many more restarts fit in the current period before the
// supervisor gives up.
func (s *Supervisor) Budget() int {
	b := s.spec.Intensity - len(s.Restarts())
	if b < 0 {
		return 0
	}
	return b
}

// SetRestarts replaces the restart history, e.g. with one loaded from the
// state of a previous oneshot pass.
func (s *Supervisor) SetRestarts(ts []time.Time) {
	s.restarts = append(s.restarts[:0], ts...)
}
