// Package policy holds otpsv's restart and health decisions: which children
// a supervisor stops and starts again when one of them exits, when the
// supervisor gives up because its restart intensity was exceeded, and
// (SPEC §6) how long a failed node waits before its restart (Backoff.Delay,
// with Streak counting the failures in a row) and what a readiness or
// liveness probe's results mean for the worker (Prober: when runs are due,
// when the worker becomes ready or unready, when it is hung).
//
// It is pure: no goroutines, no processes, no protoactor, no badger, no
// time.Now outside SystemClock. Time comes from an injected Clock or is
// passed in, and randomness (backoff jitter) is a draw the caller passes
// in, so that the intensity window, backoff and probe schedules are
// table-tested without sleeping. The actors package asks it what to do and
// performs the answer (timers, probes, kills); the oneshot runner does the
// same, so the OTP rules live here once.
package policy
