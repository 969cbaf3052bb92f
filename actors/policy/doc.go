// Package policy holds otpsv's restart decisions: which children a
// supervisor stops and starts again when one of them exits, and when the
// supervisor gives up because its restart intensity was exceeded.
//
// It is pure: no goroutines, no processes, no protoactor, no badger. Time
// comes from an injected Clock so that the intensity window is table-tested
// without sleeping. The actors package asks it what to do and performs the
// answer; the oneshot runner does the same, so the OTP rules live here once.
package policy
