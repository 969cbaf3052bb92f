package config

import (
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/otpsv/otpsv/actors/policy"
)

// Type is the kind of a node.
type Type int

// Node types.
const (
	Supervisor Type = iota
	Process
	Service
)

func (t Type) String() string {
	switch t {
	case Supervisor:
		return "supervisor"
	case Process:
		return "process"
	case Service:
		return "service"
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

// Expected is the state an operator wants a node in.
type Expected int

// Expected states.
const (
	Running Expected = iota
	Stopped
)

func (e Expected) String() string {
	if e == Stopped {
		return "stopped"
	}
	return "running"
}

// Output says where a process worker's stdout or stderr goes.
type Output struct {
	// Kind is OutputFile, OutputInherit or OutputDiscard.
	Kind OutputKind
	// Path is the file appended to when Kind is OutputFile. Load fills in
	// the default (state_dir/logs/<path with / as _>.log) only when the
	// state dir is known, see Config.ResolveLogs.
	Path string
}

// OutputKind enumerates Output destinations.
type OutputKind int

// Output kinds.
const (
	OutputDefault OutputKind = iota // a file under state_dir/logs/
	OutputFile
	OutputInherit
	OutputDiscard
	// OutputLog: through the worker's Node.Log. Config.ResolveLogs gives
	// it to a stream left OutputDefault when a log block applies.
	OutputLog
)

// Settings are the tree-wide options of the `settings:` section.
type Settings struct {
	StateDir      string // as written (after ${var}); "" when unset
	CheckInterval time.Duration
	LogLevel      string // debug|info|warn|error
	LogFormat     string // text|json
	// Metrics is where Prometheus metrics are served: HOST:PORT or
	// unix:/PATH; "" serves none (the default).
	Metrics string
}

// Node is one resolved supervisor or worker. Every field is filled with
// its default by Load; nothing downstream applies defaults again.
type Node struct {
	Name string
	Path string // names from the root joined by "/"
	Type Type
	File string // file that defines the node
	Line int    // line of the node's first key in File

	// Expected is the node's own expected state, with a supervisor's
	// `expected:` already imposed on its subtree.
	Expected Expected

	// Significant says that this node's own exit may shut its supervisor
	// down (SPEC §7): only on a transient or temporary node under a
	// supervisor whose AutoShutdown is not AutoShutdownNever. It is not
	// part of the Fingerprint: it only decides what the supervisor does
	// when the node exits, so a reload applies it without a restart.
	Significant bool

	// Supervisor keys.
	Strategy  policy.Strategy
	Intensity int
	Period    time.Duration
	// AutoShutdown is when significant children shut this supervisor
	// down. It is in the Fingerprint like Intensity: a change is a change
	// of the supervisor's policy, applied in place, never a restart.
	AutoShutdown AutoShutdown
	Children     []*Node

	// Restart is the restart type of a process worker or a supervisor
	// (for a supervisor, one that shut itself down automatically has
	// exited normally); a service worker is always policy.Permanent.
	Restart policy.RestartType

	// Worker keys shared by process and service workers.
	Status  []string      // optional status/liveness command (argv)
	Timeout time.Duration // per command; default 60s

	// Process worker keys.
	Command     []string
	Dir         string
	Env         []string // "K=V", sorted by key, added to otpsv's own environment
	User        string
	Group       string
	StopSignal  syscall.Signal
	StopTimeout time.Duration
	Stdout      Output
	Stderr      Output
	// Log is how the worker's output is written (SPEC §8): its own log
	// block, else inherited, see LogSpec. nil when none applies, or when
	// stdout and stderr are both given, so that no stream goes through it.
	// Only process workers have one; it is part of the Fingerprint.
	Log *LogSpec

	// Service worker keys.
	Control    []string // prefix; the verb is appended
	Start      []string
	Stop       []string
	RestartCmd []string
	StopStart  bool   // restart: stop+start (also the default without control)
	Pattern    string // regular expression for the process table
	PatternSet bool   // Pattern was written by the user (else derived from Start)
	SearchPath string // `path:` key: PATH for the commands
	// Health keys (SPEC §6). Ready, ReadyFD, ReadyTimeout and Watchdog are
	// for process workers only; probes for every worker.
	Ready        ReadyKind
	ReadyFD      int           // with ReadyFD: the descriptor the worker writes a newline on
	ReadyTimeout time.Duration // not ready within it: a failure; default Timeout
	Watchdog     time.Duration // with ReadyNotify: 0 means none
	Readiness    *Probe        // nil: none
	Liveness     *Probe        // nil: none
	// Backoff is the delay before restarting the node after a failure:
	// its own `backoff:`, else its nearest ancestor supervisor's; nil
	// means restart at once.
	Backoff *policy.Backoff

	// Pidfile is the absolute path of the file where the service writes
	// its main pid ("" when not given); relative paths in the file are
	// taken from the directory of the config file that holds them.
	Pidfile string
}

// ReadyKind is how a process worker tells otpsv it is ready (`ready:`).
type ReadyKind int

// Readiness signals.
const (
	ReadySpawn  ReadyKind = iota // ready once spawned
	ReadyNotify                  // sd_notify READY=1 on NOTIFY_SOCKET
	ReadyFD                      // s6 notification-fd: a newline on fd ReadyFD
)

func (r ReadyKind) String() string {
	switch r {
	case ReadyNotify:
		return "notify"
	case ReadyFD:
		return "fd"
	}
	return "spawn"
}

// ProbeKind is what a probe does.
type ProbeKind int

// Probe kinds.
const (
	ProbeHTTP ProbeKind = iota + 1 // GET URL: a status 200-399 is success
	ProbeTCP                       // connect to Addr
	ProbeExec                      // run Argv: exit 0 is success
)

// Probe is one readiness or liveness probe of a worker.
type Probe struct {
	Kind ProbeKind
	URL  string   // ProbeHTTP
	Addr string   // ProbeTCP: host:port
	Argv []string // ProbeExec
	policy.ProbeSpec
	Line int `json:"-"` // line of the probe in File
}

// String names the probe as failure reasons show it ("GET URL", "tcp
// ADDR", "exec ARGV0").
func (p *Probe) String() string {
	switch p.Kind {
	case ProbeHTTP:
		return "GET " + p.URL
	case ProbeTCP:
		return "tcp " + p.Addr
	case ProbeExec:
		return "exec " + strings.Join(p.Argv, " ")
	}
	return "probe"
}

// Config is a loaded, validated configuration.
type Config struct {
	File     string // the main file, as given
	Settings Settings
	Tree     *Node
}
