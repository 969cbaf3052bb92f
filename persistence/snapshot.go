package persistence

import "time"

// MaxHistory is how many HistoryEntry values Save keeps per node: the
// most recent ones, older entries are dropped.
const MaxHistory = 50

// Snapshot is what otpsv remembers about one node between runs. It is a
// plain value: the store encodes it as JSON under "node/<Path>".
type Snapshot struct {
	// Path is the node's path from the root, e.g. "site/backend/db".
	Path string `json:"path"`
	// State is the node's last known state ("running", "stopped", ...).
	State string `json:"state,omitzero"`
	// Pid is the process worker's pid, 0 when there is none.
	Pid int `json:"pid,omitzero"`
	// PidStart is the process start time in clock ticks since boot
	// (/proc/<pid>/stat field 22), see processStartTime and SameProcess.
	PidStart uint64 `json:"pid_start,omitzero"`
	// Since is the time of the last state change.
	Since time.Time `json:"since,omitzero"`
	// Restarts is a supervisor's restart history, by wall-clock time. The
	// store keeps what it is given: the supervisor prunes it to its period.
	Restarts []time.Time `json:"restarts,omitempty"`
	// Restarted is when the node itself was restarted by its supervisor
	// within that supervisor's current period (a supervisor that starts
	// afresh forgets them): what `tree` shows as the node's restarts.
	Restarted []time.Time `json:"restarted,omitempty"`
	// LastExit describes the last exit ("exit 1", "signal: killed").
	LastExit   string    `json:"last_exit,omitzero"`
	LastExitAt time.Time `json:"last_exit_at,omitzero"`
	// LastCheck is the last status/health check result.
	LastCheck   string    `json:"last_check,omitzero"`
	LastCheckAt time.Time `json:"last_check_at,omitzero"`
	// AdminStopped is set by "otpsv stop PATH" and cleared by "otpsv start
	// PATH": the node is kept stopped until then.
	AdminStopped bool `json:"admin_stopped,omitzero"`
	// GaveUpAt is when a supervisor exceeded its intensity, zero if it
	// has not given up.
	GaveUpAt time.Time `json:"gave_up_at,omitzero"`
	// History is the node's recent supervision history, oldest first;
	// Save keeps the last MaxHistory entries.
	History []HistoryEntry `json:"history,omitempty"`
	// HistorySeq numbers History: its last entry is the HistorySeq-th the
	// node recorded, so that Save writes only entries it has not written
	// yet. An entry's number must never be given to another entry of the
	// node. Zero numbers History from 1 and replaces the stored history,
	// as does a number below the stored one.
	HistorySeq uint64 `json:"history_seq,omitzero"`
}

// HistoryEntry is one supervision event, as "otpsv why" shows it.
type HistoryEntry struct {
	Time time.Time `json:"time"`
	// Event is what was detected ("exit", "check_failed", "gave_up", ...).
	Event string `json:"event"`
	// Detail says more ("exit 1", "status timed out").
	Detail string `json:"detail,omitzero"`
	// Strategy is the strategy applied ("one_for_all").
	Strategy string `json:"strategy,omitzero"`
	// Cause is the path of the node whose failure this entry follows from.
	Cause string `json:"cause,omitzero"`
	// Supervisor is who decided; Action what ("restart", "ignore",
	// "give_up").
	Supervisor string `json:"supervisor,omitzero"`
	Action     string `json:"action,omitzero"`
	// Delay is the wait before the restart (Action "backoff").
	Delay time.Duration `json:"delay,omitzero"`
	// Restarted lists the paths restarted together because of the event.
	Restarted []string `json:"restarted,omitempty"`
	// Budget is the restart budget left in the current period.
	Budget int `json:"budget"`
}

// trimmed returns s with History cut to its last MaxHistory entries,
// without touching the caller's slice.
func (s Snapshot) trimmed() Snapshot {
	if n := len(s.History); n > MaxHistory {
		s.History = s.History[n-MaxHistory:]
	}
	return s
}
