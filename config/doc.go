// Package config owns the otpsv configuration file (otpsv.yaml): it
// parses and validates it, fills in every default and produces plain
// Node values that the rest of otpsv runs without looking at YAML again.
//
// It imports neither protoactor nor badger; its only otpsv dependency is
// actors/policy, which is pure (the Strategy and RestartType enums, the
// Backoff and ProbeSpec values and their defaults).
//
// # Loading and errors
//
// Load and LoadFile decode the file into a yaml.Node tree and walk it by
// hand instead of decoding into structs with KnownFields(true), so that
// every problem carries its file and line, and so that all problems are
// reported at once: the error is an errors.Join of *FieldError values
// ("otpsv.yaml:12: site/api: stop_signal: unknown signal \"FOO\""), each
// wrapping a sentinel such as ErrUnknownKey or ErrUndefinedVar for
// errors.Is. YAML anchors, aliases and merge keys (<<: *base) are honoured.
//
// The bytes are checked before yaml.v3 sees them (UTF-8, YAML's printable
// characters), and yaml.v3's own errors are given a line where it leaves
// one out (an unknown alias, a problem on the first line) or counts it
// from 0 (its parser, as opposed to its scanner), so that every error in
// a file's text names a line. An alias inside the node it refers to, and
// a tree of more than MaxNodes nodes, are errors rather than an endless or
// exponential walk. No value may hold a NUL byte (ErrNUL). As root, user
// and group must exist on the system.
//
// # Variables
//
// ${name} is replaced in every scalar value (names, commands, paths,
// patterns, durations, settings.state_dir, include patterns...), never in
// keys. Variables come from the top-level vars, visible everywhere
// (included files too), and from a node's own vars, visible in that node
// and its subtree and shadowing outer ones. A variable's value may use the
// variables defined before it: outer ones, or those above it in the same
// vars mapping (so `vars: {base: "${base}/sub"}` in a node extends the
// outer base). An undefined ${name} is an error. $$ stands for a literal
// $; any other $ is kept as written, so "$HOME" reaches the command as
// "$HOME" (no environment variable is expanded) and a pattern may end
// with $. In YAML's flow style ([a, b] or {k: v}) braces are syntax, so
// quote values using ${...} there: ["${base}/bin/x", "-v"].
//
// # Commands
//
// A command is a YAML list of words (the argv, no splitting) or a string
// split like a POSIX shell splits a simple command, with no expansion of
// any kind: blanks separate words, 'single quotes' are literal, "double
// quotes" honour \" \\ \$ and \`, and a backslash outside quotes escapes
// the next character. An unterminated quote is an error. In a string,
// ${vars} are replaced before the split, so a value holding blanks
// becomes several words unless quoted ('${dir}/bin/x'). No shell is ever
// added: write ["sh", "-c", "..."] for one.
//
// # Values
//
// Durations use Go syntax (500ms, 10s, 2m) or a whole number of seconds
// (30 or "30"); negative ones are refused, and period, timeout and
// check_interval must be above zero. Signals are names with or without
// SIG in any case (TERM, SIGTERM, term) or numbers 1..64. Relative dir,
// stdout, stderr, pidfile and settings.state_dir paths are taken from the
// directory of the file that holds them and made absolute.
//
// # Nodes
//
// A node's type is `type:` or, failing that, inferred: children makes a
// supervisor, command a process worker, control or start a service
// worker; none or more than one of these is an error. Keys of another
// kind of node are errors. The restart key means the restart type on a
// process worker and on a supervisor (default permanent), and the
// restart command (or stop+start) on a service worker, which is always
// policy.Permanent.
//
// expected: stopped on a supervisor is imposed on its whole subtree: a
// descendant is stopped whatever it says. expected: running is the
// default and overrides nothing, so a child may still say stopped under
// a supervisor that says running.
//
// A service worker with control gets start, stop, status and restart
// commands of "<control> <verb>" unless given. Without control, restart
// defaults to stop+start. Its pattern defaults to the start command's
// words joined by single spaces, matched literally (PatternSet false).
//
// # Health
//
// A process worker may say how it signals readiness (ready: spawn, notify,
// or fd:N with N from 3 to 1023), how long it may take (ready_timeout,
// default its timeout) and, with ready: notify only, a watchdog. Any
// worker may have probes (readiness and/or liveness), each exactly one of
// http (an http or https URL with a host), tcp (HOST:PORT, numeric port)
// or exec (a command), with the schedule of policy.DefaultProbeSpec for
// the keys it leaves out; a liveness probe's success_threshold must be 1.
// ready, ready_timeout and watchdog on a service worker are errors that
// say why: otpsv is not the parent of a daemonized service.
//
// backoff is a mapping (keys left out come from policy.DefaultBackoff) or
// none/false. A node's Backoff is its own, else that of its nearest
// ancestor supervisor that has the key; none gives nil and stops the
// inheritance for the subtree below. Load resolves it after the whole
// tree, included files too, is read, and gives every node its own copy.
//
// # Significant children
//
// As in OTP, a supervisor may say when its significant children shut it
// down (auto_shutdown: never, the default, any_significant or
// all_significant), and any node may say it is significant (significant:
// true or false). significant: true is refused (ErrSignificant, at the
// line of the key, in the child's own file) on a permanent node, a
// service worker included, under a supervisor whose auto_shutdown is
// never, and on the root, which has no supervisor. A reload that changes
// only significant restarts nothing (it is not in the Fingerprint);
// auto_shutdown is a change of the supervisor's policy, like intensity.
//
// # Logs
//
// A log mapping (to, timestamps, prefix, max_size, keep) may be given in
// settings, on a supervisor and on a process worker; each process worker
// gets its Node.Log merged key by key from the blocks above it, nearest
// first, defaults filling the rest (see LogSpec). Sizes are whole numbers
// of bytes with an optional unit: B, KB, MB, GB, TB (powers of 1000) or
// KiB, MiB, GiB, TiB (powers of 1024), in any case; a bare K, M or G is
// refused as ambiguous. A log on a service worker is an error: otpsv does
// not hold a daemonized service's output.
//
// # Includes
//
// An item `- include: GLOB` in a children list is replaced by the nodes
// of the files it matches, in lexical order, each file holding a node or
// a list of items (which may be includes in turn). The pattern is relative
// to the directory of the file holding it, and sees the variables in scope
// where it stands. A literal path that does not exist is an error; a glob
// matching nothing, an empty file, and directories met by a glob are
// skipped. Sibling names must be unique across included files too.
// A file including itself, directly or through others, is an error naming
// the chain.
//
// A written `children: []` (or `children:` with no value) is an error. A
// children list made only of includes that matched nothing is accepted:
// that supervisor simply has no children, so that an empty conf.d/ is
// valid.
//
// # State and logs
//
// Config.ResolveStateDir picks the state directory (--state-dir, then
// $OTPSV_STATE_DIR, then settings.state_dir, then a per-user default) and
// Config.ResolveLogs gives every process worker whose stdout or stderr is
// not set a single default log file for both streams,
// <state_dir>/logs/<path with / as _>.log (LogFile), or, when a log
// applies, sends those streams through it (OutputLog), filling in that
// same file as the log's Path when it goes to a file. Names may hold _
// themselves, so site/a_b and site_a/b would share a file; avoid that.
package config
