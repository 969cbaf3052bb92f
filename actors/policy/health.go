package policy

import (
	"fmt"
	"math"
	"time"
)

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

// Delay is the wait before the restart that follows the n-th failure in a
// row (n < 1 is taken as 1). u is a uniform random draw in [0,1), injected
// so that schedules are table-tested; the caller owns the random source.
//
// Without jitter the delay is base = min(Initial*Factor^(n-1), Max). With
// jitter it is drawn uniformly from [base*(1-Jitter), min(base*(1+Jitter), Max)]:
// while base*(1+Jitter) <= Max that is exactly base*(1+(2u-1)*Jitter).
// Near and at Max the upper half of the range is cut at Max rather than
// the draw being clamped to it: clamping would put about half of the
// nodes that crash together (a shared dependency going away) at exactly
// Max, so they would all retry at the same instant, which is the stampede
// jitter exists to prevent. At Max the spread is therefore
// [Max*(1-Jitter), Max].
//
// The result is never negative and never more than Max. The power is
// computed in floating point and compared with Max before any conversion
// back to a Duration, so huge n (or a factor that overflows to +Inf)
// yields Max, not a wrapped value. Out-of-range settings are read in the
// safest way rather than rejected here (config validation reports them):
// Initial or Max <= 0 gives no delay, Factor < 1 (or NaN) is taken as 1 so
// that delays never shrink with more failures, Jitter is clamped to [0,1],
// u to [0,1] (NaN as 0.5, the middle).
func (b Backoff) Delay(n int, u float64) time.Duration {
	if b.Initial <= 0 || b.Max <= 0 {
		return 0
	}
	if n < 1 {
		n = 1
	}
	factor := b.Factor
	if !(factor >= 1) { // also catches NaN
		factor = 1
	}
	jitter := clamp01(b.Jitter, 0)
	u = clamp01(u, 0.5)

	top := float64(b.Max)
	base := float64(b.Initial) * math.Pow(factor, float64(n-1))
	if !(base < top) { // +Inf and NaN land here too
		base = top
	}
	lo := base * (1 - jitter)
	hi := math.Min(base*(1+jitter), top)
	d := math.Round(lo + u*(hi-lo)) // round: 0.8*100ms is 80ms, not 79.999999ms
	// float64(b.Max) may round up past b.Max (durations above 2^53 ns), and
	// converting a float at or above 2^63 to int64 is implementation-defined
	// in Go: compare with Max before converting.
	if d >= top {
		return b.Max
	}
	if d <= 0 {
		return 0
	}
	return min(time.Duration(d), b.Max)
}

// clamp01 confines x to [0,1]; nan replaces a NaN.
func clamp01(x, nan float64) float64 {
	switch {
	case math.IsNaN(x):
		return nan
	case x < 0:
		return 0
	case x > 1:
		return 1
	}
	return x
}

// Streak counts a node's failures in a row, the n of Backoff.Delay. The
// count restarts once the node stayed ready for ResetAfter: a service that
// ran fine for a while and then crashed is restarted quickly again, while
// one that crashes soon after each start keeps backing off.
//
// On a failure call Fail alone, not Unready first: Unready takes no time,
// so the length of the ready stretch it ends is forgotten and a following
// Fail cannot credit it. Unready is for readiness lost without a failure
// (a readiness probe gave up, the node was stopped).
//
// The zero value is a node that has not failed and is not ready. Not safe
// for concurrent use: the node's owner serialises calls.
type Streak struct {
	n     int
	ready bool
	since time.Time // when the current ready stretch began; valid while ready
}

// Ready records that the node became ready at now. It is a no-op while the
// node is already ready, so that repeated readiness signals (a probe
// succeeding every period) do not restart the stretch.
func (s *Streak) Ready(now time.Time) {
	if s.ready {
		return
	}
	s.ready, s.since = true, now
}

// Unready records that the node is no longer ready (exited, not ready,
// stopped): the ready stretch ends without counting a failure, and only a
// later Ready starts a new one.
func (s *Streak) Unready() { s.ready = false }

// Fail counts a failure at now and returns n (>= 1). When the node had
// been ready since at least resetAfter before now (exactly resetAfter
// counts), the failures before that stretch are forgotten and n is 1. It
// also ends readiness: a failed node is not ready.
func (s *Streak) Fail(now time.Time, resetAfter time.Duration) int {
	if s.ready && now.Sub(s.since) >= resetAfter {
		s.n = 0
	}
	s.ready = false
	s.n++
	return s.n
}

// Count is the number of failures in a row so far (0 before the first).
func (s *Streak) Count() int { return s.n }

// ProbeRole says what a probe's results decide (SPEC §6).
type ProbeRole int

// Probe roles.
const (
	// Readiness gates whether the worker counts as ready; it never
	// restarts the worker.
	Readiness ProbeRole = iota
	// Liveness detects a hung worker, whose process group is then killed
	// and whose failure counts like an exit.
	Liveness
)

func (r ProbeRole) String() string {
	switch r {
	case Readiness:
		return "readiness"
	case Liveness:
		return "liveness"
	}
	return fmt.Sprintf("ProbeRole(%d)", int(r))
}

// Verdict is what one probe result changes, for the worker's actor to
// carry out.
type Verdict int

// Verdicts.
const (
	// NoChange: nothing to do.
	NoChange Verdict = iota
	// BecameReady: a readiness probe made the worker ready (for the first
	// time, or again after BecameUnready).
	BecameReady
	// BecameUnready: a readiness probe failed FailureThreshold times in a
	// row; the worker keeps running but is not ready.
	BecameUnready
	// Hung: a liveness probe failed FailureThreshold times in a row; kill
	// the worker's process group and count a failure.
	Hung
)

func (v Verdict) String() string {
	switch v {
	case NoChange:
		return "no change"
	case BecameReady:
		return "became ready"
	case BecameUnready:
		return "became unready"
	case Hung:
		return "hung"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Prober follows one probe's results (SPEC §6) and says when they change
// something; running the probe and waiting are the caller's.
//
// Readiness: until it first succeeds the worker is not ready, and one
// success makes it ready whatever SuccessThreshold (a starting service
// should be usable as soon as it answers; the thresholds are for
// flapping). After that, FailureThreshold consecutive failures give
// BecameUnready (once), and then SuccessThreshold consecutive successes
// give BecameReady again.
//
// Liveness: FailureThreshold consecutive failures give Hung, and the
// count then restarts, so that a worker the caller chose not to kill
// (or a probe that outlives the kill) is not reported hung on every
// following failure; a success resets the count.
//
// Not safe for concurrent use: the worker's actor serialises calls.
type Prober struct {
	role      ProbeRole
	spec      ProbeSpec
	ready     bool // readiness: currently ready
	fails     int  // consecutive failures
	successes int  // readiness, while not ready after the first success: consecutive successes
	started   bool // readiness: has succeeded once
}

// NewProber returns a Prober for a probe of this role. Settings config
// validation rejects are read in the safest way rather than trusted: a
// threshold < 1 is taken as 1, and a Period <= 0 as DefaultProbeSpec's, so
// that the caller never schedules runs back to back in a busy loop. A
// negative InitialDelay is taken as 0.
func NewProber(role ProbeRole, spec ProbeSpec) *Prober {
	spec.FailureThreshold = max(spec.FailureThreshold, 1)
	spec.SuccessThreshold = max(spec.SuccessThreshold, 1)
	if spec.Period <= 0 {
		spec.Period = DefaultProbeSpec.Period
	}
	spec.InitialDelay = max(spec.InitialDelay, 0)
	return &Prober{role: role, spec: spec}
}

// First is when the first run is due: from + InitialDelay, where from is
// the worker's start for a readiness probe and the moment it became ready
// for a liveness probe (a service is not judged hung while it starts).
func (p *Prober) First(from time.Time) time.Time { return from.Add(p.spec.InitialDelay) }

// Next is when the run after one that began at ranAt is due: ranAt +
// Period. Counting from the start rather than the end keeps a slow probe
// from stretching the schedule; a run that took longer than Period makes
// the next one due at once (runs never overlap: the caller starts the
// next only after the result).
func (p *Prober) Next(ranAt time.Time) time.Time { return ranAt.Add(p.spec.Period) }

// Result takes one run's outcome (ok: it succeeded within its timeout) and
// says what it changes.
func (p *Prober) Result(ok bool) Verdict {
	if p.role == Liveness {
		return p.liveness(ok)
	}
	return p.readiness(ok)
}

func (p *Prober) liveness(ok bool) Verdict {
	if ok {
		p.fails = 0
		return NoChange
	}
	p.fails++
	if p.fails >= p.spec.FailureThreshold {
		p.fails = 0
		return Hung
	}
	return NoChange
}

func (p *Prober) readiness(ok bool) Verdict {
	if !ok {
		p.successes = 0
		p.fails++
		if p.ready && p.fails >= p.spec.FailureThreshold {
			p.ready = false
			return BecameUnready
		}
		return NoChange
	}
	p.fails = 0
	switch {
	case p.ready:
		return NoChange
	case !p.started:
		p.started, p.ready = true, true
		return BecameReady
	}
	p.successes++
	if p.successes >= p.spec.SuccessThreshold {
		p.successes, p.ready = 0, true
		return BecameReady
	}
	return NoChange
}

// Ready says whether a readiness probe currently holds the worker ready.
// It is always false for a liveness probe, which has no say in readiness.
func (p *Prober) Ready() bool { return p.ready }

// Failures is the number of consecutive failed runs now (for a liveness
// probe, since the last success or Hung).
func (p *Prober) Failures() int { return p.fails }

// ProbeTick is the grid probe runs are aligned to: a run due at t starts
// at the multiple of ProbeTick(period) nearest t. Many probes then wake
// otpsv together instead of each on its own, which is most of what a
// thousand probes a second cost (a thread woken per probe); a run moves
// by at most half a tick (a twentieth of its period, at most 50 ms), and
// as the next run is due a period after a run that began just after its
// grid instant, the schedule does not drift.
func ProbeTick(period time.Duration) time.Duration {
	return min(max(period/10, time.Millisecond), 100*time.Millisecond)
}

// Align returns the instant of the grid of tick nearest t (the later one
// of two as near).
func Align(t time.Time, tick time.Duration) time.Time {
	if tick <= 0 {
		return t
	}
	return t.Round(tick)
}
