// Package actors runs a supervision tree: one protoactor actor per
// supervisor and per worker, with OTP semantics.
//
// protoactor's own strategies are not OTP (no rest_for_one, restart
// statistics per child, unordered restarts), so every supervisor actor
// implements actor.SupervisorStrategy itself: its children's failures
// (a worker's panic on an unwanted exit, a supervisor's panic when it gives
// up) arrive in HandleFailure, the pure actors/policy package decides, and
// the supervisor carries the decision out one step at a time from its own
// mailbox: stop one child, wait for its Terminated, start the next, wait
// for its "started" message. Nothing blocks a supervisor's goroutine. A
// worker blocks only its own mailbox, and only while it stops something:
// its process group or its service's stop command (in its Stopping
// handler, so its supervisor hears Terminated once nothing is left), and,
// as it starts, what an earlier run of otpsv left (a process to stop, or
// members of a dead process's group). Status checks and probes run on
// goroutines of their own and report back as messages.
//
// Actors own their state. What the operators see (the node view read by
// the control socket, the metrics, the state saver and `why`) is built by
// one goroutine from the facts the actors report: supervision events and
// observations of their nodes (nodeview.go). No actor reads the view; a
// supervisor hands a child what it needs when it spawns it (birth: why it
// starts, what the previous run left of it). The one thing the actors
// share is the operators' intents (which nodes an operator stopped).
//
// This is the only package that imports protoactor-go. It must not import
// badger: state goes through the persistence package's interfaces.
package actors
