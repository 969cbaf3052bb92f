package policy

import "time"

// Backoff is the delay before restarting a failed node (SPEC §6): the
// n-th failure in a row waits Initial*Factor^(n-1), at most Max, moved by
// up to ±Jitter (a fraction) at random. n counts the failures since the
// node last stayed ready for ResetAfter.
type Backoff struct {
	Initial    time.Duration `json:"initial"`
	Max        time.Duration `json:"max"`
	Factor     float64       `json:"factor"`
	Jitter     float64       `json:"jitter"`
	ResetAfter time.Duration `json:"reset_after"`
}

// DefaultBackoff holds the values of the keys a `backoff:` mapping leaves
// out.
var DefaultBackoff = Backoff{Initial: 100 * time.Millisecond, Max: 30 * time.Second, Factor: 2, Jitter: 0.2, ResetAfter: 60 * time.Second}

// ProbeSpec is the schedule and thresholds of one probe (SPEC §6).
type ProbeSpec struct {
	Period           time.Duration `json:"period"`
	Timeout          time.Duration `json:"timeout"`
	InitialDelay     time.Duration `json:"initial_delay"`
	FailureThreshold int           `json:"failure_threshold"`
	SuccessThreshold int           `json:"success_threshold"`
}

// DefaultProbeSpec holds the values of the keys a probe leaves out.
var DefaultProbeSpec = ProbeSpec{Period: 10 * time.Second, Timeout: time.Second, FailureThreshold: 3, SuccessThreshold: 1}
