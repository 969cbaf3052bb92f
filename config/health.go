package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/otpsv/otpsv/actors/policy"
)

// ErrConflictingKeys is a key that cannot go with another one given (or
// defaulted) beside it: two kinds in one probe, a watchdog without
// ready: notify.
var ErrConflictingKeys = errors.New("conflicting keys")

// The descriptors a `ready: fd:N` may name. 0-2 are the worker's stdio; the
// ceiling is below the usual soft RLIMIT_NOFILE of 1024, which a worker
// inherits, so the descriptor can always exist in it.
const (
	minReadyFD = 3
	maxReadyFD = 1023
)

var (
	probeKinds  = []string{"http", "tcp", "exec"}
	probeKeys   = []string{"http", "tcp", "exec", "period", "timeout", "initial_delay", "failure_threshold", "success_threshold"}
	backoffKeys = []string{"initial", "max", "factor", "jitter", "reset_after"}
)

// serviceHealthHint says why a process worker's health key is refused on
// a service worker: a service daemonizes, so otpsv is not the parent of
// its main process and has no socket or descriptor to hand it.
var serviceHealthHint = map[string]string{
	"ready":         "a service daemonizes away from otpsv, which cannot hand it a notify socket or descriptor; it is ready when its status (or a readiness probe) says so",
	"ready_timeout": "a service's wait for readiness is its timeout",
	"watchdog":      "keep-alives arrive on a notify socket, which a service does not get; use a liveness probe",
}

// keyHint explains, in parentheses, why key is refused on a node of type
// t when there is more to say than "unknown key".
func keyHint(t Type, key string) string {
	if h, ok := serviceHealthHint[key]; ok && t == Service {
		return " (" + h + ")"
	}
	if key == "log" && t == Service {
		return " (" + serviceLogHint + ")"
	}
	return ""
}

// health reads the health keys of n (SPEC §6) once its type's own keys,
// timeout included, are read. Keys that do not belong to n's type were
// reported by node and are not read here.
func (l *loader) health(a *at, f fields, n *Node) {
	if n.Type == Process {
		a.readiness(f, n)
	}
	if n.Type != Supervisor {
		if v, ok := f.get("probes"); ok {
			a.probes(v, n)
		}
	}
	if v, ok := f.get("backoff"); ok {
		if b, ok := a.backoff(v); ok {
			if l.backoffs == nil {
				l.backoffs = map[*Node]*policy.Backoff{}
			}
			l.backoffs[n] = b
		}
	}
}

// inheritBackoff gives every node of the tree under n its own backoff,
// else the nearest ancestor's (the value of one that said none is nil).
// Each node gets a copy, so that no two nodes share one.
func (l *loader) inheritBackoff(n *Node, inherited *policy.Backoff) {
	if n == nil {
		return
	}
	if own, ok := l.backoffs[n]; ok {
		inherited = own
	}
	if inherited != nil {
		b := *inherited
		n.Backoff = &b
	}
	for _, k := range n.Children {
		l.inheritBackoff(k, inherited)
	}
}

// readiness reads a process worker's ready, ready_timeout and watchdog.
func (a *at) readiness(f fields, n *Node) {
	n.ReadyTimeout = n.Timeout
	readyOK := true
	if v, ok := f.get("ready"); ok {
		n.Ready, n.ReadyFD, readyOK = a.ready(v)
	}
	if v, ok := f.get("ready_timeout"); ok {
		if d, ok := a.duration("ready_timeout", v, true); ok {
			n.ReadyTimeout = d
		}
	}
	if v, ok := f.get("watchdog"); ok {
		d, ok := a.duration("watchdog", v, true)
		switch {
		case !ok, !readyOK:
			// A bad ready leaves nothing to compare with.
		case n.Ready != ReadyNotify:
			was := readyString(n)
			if !f.has("ready") {
				was += ", the default"
			}
			a.errf(deref(v).Line, "watchdog", fmt.Errorf("%w: watchdog needs ready: notify, whose socket the keep-alives arrive on (ready is %s)", ErrConflictingKeys, was))
		default:
			n.Watchdog = d
		}
	}
}

// ready reads `ready:` as spawn, notify or fd:N.
func (a *at) ready(v *yaml.Node) (ReadyKind, int, bool) {
	s, ok := a.str("ready", v)
	if !ok {
		return ReadySpawn, 0, false
	}
	switch {
	case s == "spawn":
		return ReadySpawn, 0, true
	case s == "notify":
		return ReadyNotify, 0, true
	case strings.HasPrefix(s, "fd:"):
		num := s[len("fd:"):]
		fd, err := strconv.Atoi(num)
		switch {
		case !digitsRE.MatchString(num):
			a.errf(deref(v).Line, "ready", invalidf("invalid ready %q (want fd:N, N a descriptor number from %d to %d)", s, minReadyFD, maxReadyFD))
		case err != nil || fd < minReadyFD || fd > maxReadyFD:
			a.errf(deref(v).Line, "ready", invalidf("ready %q: descriptor out of range %d..%d (0-2 are stdin, stdout and stderr)", s, minReadyFD, maxReadyFD))
		default:
			return ReadyFD, fd, true
		}
		return ReadySpawn, 0, false
	}
	a.errf(deref(v).Line, "ready", invalidf("unknown ready %q (want spawn, notify or fd:N)", s))
	return ReadySpawn, 0, false
}

// readyString renders a worker's ready key as written: spawn, notify, fd:N.
func readyString(n *Node) string {
	if n.Ready == ReadyFD {
		return "fd:" + strconv.Itoa(n.ReadyFD)
	}
	return n.Ready.String()
}

// probes reads a worker's `probes:` mapping.
func (a *at) probes(v *yaml.Node, n *Node) {
	f, ok := a.mapping(v, "probes", "a mapping with readiness and/or liveness", true)
	if !ok {
		return
	}
	for _, p := range f.list {
		switch p.key {
		case "readiness":
			n.Readiness = a.probe("probes: readiness", p.v, false)
		case "liveness":
			n.Liveness = a.probe("probes: liveness", p.v, true)
		default:
			a.errf(p.k.Line, "probes", fmt.Errorf("%w %q (want readiness or liveness)", ErrUnknownKey, p.key))
		}
	}
}

// probe reads one probe mapping, named key in messages. It returns nil
// when v is not a mapping.
func (a *at) probe(key string, v *yaml.Node, liveness bool) *Probe {
	f, ok := a.mapping(v, key, "a probe mapping (http, tcp or exec, with period, timeout...)", false)
	if !ok {
		return nil
	}
	pr := &Probe{ProbeSpec: policy.DefaultProbeSpec, Line: deref(v).Line}
	var kind string
	for _, p := range f.list {
		sub := key + ": " + p.key
		line := deref(p.v).Line
		switch p.key {
		case "http", "tcp", "exec":
			if kind != "" {
				a.errf(line, sub, fmt.Errorf("%w: %s beside %s (a probe is exactly one of http, tcp or exec)", ErrConflictingKeys, p.key, kind))
				continue
			}
			kind = p.key
			switch p.key {
			case "http":
				pr.Kind = ProbeHTTP
				if s, ok := a.str(sub, p.v); ok {
					if err := checkURL(s); err != nil {
						a.errf(line, sub, err)
					}
					pr.URL = s
				}
			case "tcp":
				pr.Kind = ProbeTCP
				if s, ok := a.str(sub, p.v); ok {
					if err := checkHostPort(s); err != nil {
						a.errf(line, sub, err)
					}
					pr.Addr = s
				}
			case "exec":
				pr.Kind = ProbeExec
				pr.Argv, _ = a.command(sub, p.v)
			}
		case "period":
			if d, ok := a.duration(sub, p.v, true); ok {
				pr.Period = d
			}
		case "timeout":
			if d, ok := a.duration(sub, p.v, true); ok {
				pr.Timeout = d
			}
		case "initial_delay":
			if d, ok := a.duration(sub, p.v, false); ok {
				pr.InitialDelay = d
			}
		case "failure_threshold":
			if i, ok := a.threshold(sub, p.v); ok {
				pr.FailureThreshold = i
			}
		case "success_threshold":
			i, ok := a.threshold(sub, p.v)
			switch {
			case !ok:
			case liveness && i != 1:
				// As in Kubernetes: one success shows the worker alive, and a
				// higher threshold would only hide a hang for longer.
				a.errf(line, sub, invalidf("must be 1 for a liveness probe, got %d", i))
			default:
				pr.SuccessThreshold = i
			}
		default:
			a.errf(p.k.Line, key, fmt.Errorf("%w %q (want %s)", ErrUnknownKey, p.key, orList(probeKeys)))
		}
	}
	if kind == "" {
		a.errf(pr.Line, key, fmt.Errorf("%w: a probe needs one of %s", ErrMissingKey, orList(probeKinds)))
	}
	return pr
}

// threshold reads key as a whole number of at least 1.
func (a *at) threshold(key string, v *yaml.Node) (int, bool) {
	s, ok := a.str(key, v)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(strings.TrimSpace(s))
	switch {
	case err != nil:
		a.errf(deref(v).Line, key, invalidf("%q is not a whole number", s))
	case i < 1:
		a.errf(deref(v).Line, key, invalidf("must be at least 1, got %d", i))
	default:
		return i, true
	}
	return 0, false
}

// checkURL accepts an http or https URL with a host, and a port in range
// when one is given.
func checkURL(s string) error {
	if s == "" {
		return invalidf("empty URL")
	}
	u, err := url.Parse(s)
	if err != nil {
		return invalidf("invalid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return invalidf("URL %q: scheme %q (want http or https)", s, u.Scheme)
	}
	if u.Hostname() == "" {
		return invalidf("URL %q has no host", s)
	}
	if p := u.Port(); p != "" {
		if err := checkPort(p); err != nil {
			return invalidf("URL %q: %w", s, err)
		}
	}
	return nil
}

// checkHostPort accepts HOST:PORT with a host and a numeric port.
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return invalidf("invalid address %q (want HOST:PORT, such as 127.0.0.1:8080): %w", s, err)
	}
	if host == "" {
		return invalidf("address %q has no host (want HOST:PORT, such as 127.0.0.1:8080)", s)
	}
	if err := checkPort(port); err != nil {
		return invalidf("address %q: %w", s, err)
	}
	return nil
}

// checkPort accepts a port number from 1 to 65535; service names are
// refused, as they would depend on the host's /etc/services.
func checkPort(p string) error {
	n, err := strconv.Atoi(p)
	if !digitsRE.MatchString(p) || err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 1 to 65535", p)
	}
	return nil
}

// backoff reads `backoff:`: a mapping whose omitted keys take
// policy.DefaultBackoff, or none (false) for no backoff. It returns nil,
// true for none.
func (a *at) backoff(v *yaml.Node) (*policy.Backoff, bool) {
	d := deref(v)
	if d.Kind == yaml.ScalarNode && !isNull(d) {
		s, ok := a.str("backoff", v)
		if !ok {
			return nil, false
		}
		if s == "none" || s == "false" {
			return nil, true
		}
		a.errf(d.Line, "backoff", invalidf("unknown backoff %q (want a mapping of %s, or none)", s, andList(backoffKeys)))
		return nil, false
	}
	f, ok := a.mapping(v, "backoff", "a mapping of "+orList(backoffKeys)+", or none", false)
	if !ok {
		return nil, false
	}
	b := policy.DefaultBackoff
	good := true
	// bad records a problem with the value of p.
	bad := func(p pair, format string, args ...any) {
		a.errf(deref(p.v).Line, "backoff: "+p.key, invalidf(format, args...))
		good = false
	}
	dur := func(p pair, positive bool) (time.Duration, bool) {
		d, ok := a.duration("backoff: "+p.key, p.v, positive)
		good = good && ok
		return d, ok
	}
	for _, p := range f.list {
		switch p.key {
		case "initial":
			if d, ok := dur(p, true); ok {
				b.Initial = d
			}
		case "max":
			if d, ok := dur(p, true); ok {
				b.Max = d
			}
		case "reset_after":
			if d, ok := dur(p, true); ok {
				b.ResetAfter = d
			}
		case "factor", "jitter":
			s, ok := a.str("backoff: "+p.key, p.v)
			if !ok {
				good = false
				continue
			}
			x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			switch {
			case err != nil || math.IsNaN(x) || math.IsInf(x, 0):
				bad(p, "%q is not a number", s)
			case p.key == "factor" && x < 1:
				bad(p, "factor %s is below 1 (delays would shrink)", s)
			case p.key == "factor":
				b.Factor = x
			case x < 0 || x >= 1:
				bad(p, "jitter %s out of range (want a fraction of the delay, 0 <= jitter < 1)", s)
			default:
				b.Jitter = x
			}
		default:
			a.errf(p.k.Line, "backoff", fmt.Errorf("%w %q (want %s)", ErrUnknownKey, p.key, orList(backoffKeys)))
			good = false
		}
	}
	if good && b.Max < b.Initial {
		if p, ok := f.by["max"]; ok {
			bad(p, "max %s is below initial %s", shortDuration(b.Max), shortDuration(b.Initial))
		} else {
			bad(f.by["initial"], "initial %s is above the default max %s (give max too)", shortDuration(b.Initial), shortDuration(b.Max))
		}
	}
	if !good {
		return nil, false
	}
	return &b, true
}
