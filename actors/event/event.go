// Package event defines otpsv's typed supervision events: what the actors
// report as it happens (a start, an exit with its status, a restart with
// its strategy and siblings, a supervisor giving up, a probe failing...).
// The log, the metrics and the history are written from these values;
// words are made from them only at the edge.
//
// It is pure data: it imports neither protoactor nor badger, nor any
// otpsv package.
package event

import (
	"log/slog"
	"time"
)

// Kind is what happened.
type Kind string

// The kinds of supervision events (SPEC §9 names started, exited,
// restarting, gave_up, auto_shutdown, probe_failed, ready, stopped,
// reload; the others say more).
const (
	Started      Kind = "started"
	Ready        Kind = "ready"
	NotReady     Kind = "not_ready"       // a ready worker's readiness probe failed
	Exited       Kind = "exited"          // a process worker's process ended
	Failed       Kind = "failed"          // a failure other than an exit: hung, not ready in time, a service found stopped or dirty
	ProbeFailed  Kind = "probe_failed"    // one run of a probe failed
	Restarting   Kind = "restarting"      // a supervisor restarts the failed child (and its strategy's siblings)
	Delayed      Kind = "restart_delayed" // ... after a backoff
	NotRestarted Kind = "not_restarted"   // the child's restart type lets it stay down
	GaveUp       Kind = "gave_up"         // a supervisor exceeded its intensity
	AutoShutdown Kind = "auto_shutdown"
	Stopped      Kind = "stopped"
	Operator     Kind = "operator" // an operator's start, stop or restart
	Reload       Kind = "reload"
)

// Cause classes a failure, for metrics (otpsv_restarts_total's reason).
type Cause string

// The causes of a failure or restart.
const (
	CauseExit     Cause = "exit"
	CauseSignal   Cause = "signal"
	CauseLiveness Cause = "liveness"
	CauseWatchdog Cause = "watchdog"
	CauseNotReady Cause = "not_ready"
	CauseDirty    Cause = "dirty"
	CauseStopped  Cause = "stopped"
	CauseOperator Cause = "operator"
)

// Event is one supervision event. Fields that do not apply are zero.
type Event struct {
	Kind Kind
	Time time.Time
	Path string // the node it is about (for restarting: the failed child)
	Type string // the node's type: supervisor, process, service
	Pid  int

	Reason   string // in words: "exit 3", "liveness probe: GET ...: 503"
	Cause    Cause
	ExitCode *int   // an exit
	Signal   string // a death by signal: "KILL"

	Supervisor string   // who decided
	Strategy   string   // restarting: the strategy applied
	Restarted  []string // restarting: the paths restarted, the failed one included
	BudgetLeft *int     // restarting, gave_up: restarts left in the period
	Delay      time.Duration
	Probe      string // probe_failed: "readiness" or "liveness"
	Failures   int    // probe_failed: failures in a row; restart_delayed: failures in a row
	Action     string // reload: "add", "remove", "restart", "change"; operator: "start", "stop", "restart"
	// Normal: not_restarted: the child ended normally, as its restart
	// type lets it (not a failure).
	Normal bool
	// Trigger is the child whose exit or failure led to a gave_up or an
	// auto_shutdown, TriggerReason what happened to it.
	Trigger       string
	TriggerReason string
}

// Attrs are the event's fields for one log line, with the names SPEC §9
// gives: event, path, reason, exit_code, signal, strategy, restarted,
// budget_left; zero fields are left out. extra is appended (the room is
// made once: a restart logs several events).
func (e *Event) Attrs(extra int) []slog.Attr {
	a := make([]slog.Attr, 0, 8+extra)
	a = append(a, slog.String("event", string(e.Kind)), slog.String("path", e.Path))
	if e.Reason != "" {
		a = append(a, slog.String("reason", e.Reason))
	}
	if e.Cause != "" {
		a = append(a, slog.String("cause", string(e.Cause)))
	}
	if e.ExitCode != nil {
		a = append(a, slog.Int("exit_code", *e.ExitCode))
	}
	if e.Signal != "" {
		a = append(a, slog.String("signal", e.Signal))
	}
	if e.Strategy != "" {
		a = append(a, slog.String("strategy", e.Strategy))
	}
	if e.Restarted != nil {
		a = append(a, slog.Any("restarted", e.Restarted))
	}
	if e.BudgetLeft != nil {
		a = append(a, slog.Int("budget_left", *e.BudgetLeft))
	}
	if e.Delay > 0 {
		a = append(a, slog.String("delay", e.Delay.Round(time.Millisecond).String()))
	}
	if e.Probe != "" {
		a = append(a, slog.String("probe", e.Probe))
	}
	if e.Failures > 0 {
		a = append(a, slog.Int("failures", e.Failures))
	}
	if e.Action != "" {
		a = append(a, slog.String("action", e.Action))
	}
	if e.Trigger != "" {
		a = append(a, slog.String("trigger", e.Trigger))
	}
	return a
}

// Int returns a pointer to n, for the optional fields.
func Int(n int) *int { return &n }
