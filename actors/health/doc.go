// Package health owns the runtime mechanisms of a worker's health (SPEC
// §6): running one HTTP, TCP or exec probe (Check, or a Session that runs
// it again and again, keeping its HTTP connection), the sd_notify socket a
// `ready: notify` worker speaks to (Notifier), and the s6 notification fd
// of a `ready: fd:N` worker (FDReady).
//
// It decides nothing: when to probe, how many failures make a worker not
// ready or hung, and what a watchdog miss means are the caller's (its
// schedule lives in actors/policy, with an injected clock). Everything here
// is one action or one event source, each bounded in time and leaving no
// goroutine, descriptor or process behind once it returns or is closed.
//
// It must not import protoactor or badger. Of otpsv's own packages it uses
// config, actors/proc and actors/policy only: the actors import it, never
// the other way round.
package health
