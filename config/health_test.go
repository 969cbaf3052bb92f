package config

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/otpsv/otpsv/actors/policy"
)

// proc is a tree whose worker r/w is a process worker with the given key
// lines (indented here), the first of them on line 6.
func proc(lines ...string) string {
	return "tree:\n  name: r\n  children:\n    - name: w\n      command: x\n" + indent("      ", lines)
}

// svc is proc for a service worker.
func svc(lines ...string) string {
	return "tree:\n  name: r\n  children:\n    - name: w\n      start: x\n" + indent("      ", lines)
}

// sup is a tree whose root supervisor r has the given key lines, the
// first of them on line 3.
func sup(lines ...string) string {
	return "tree:\n  name: r\n" + indent("  ", lines) + "  children: [{name: w, command: x}]\n"
}

func indent(pre string, lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(pre + l + "\n")
	}
	return b.String()
}

// health is the part of a Node these tests look at.
type health struct {
	Ready        ReadyKind
	ReadyFD      int
	ReadyTimeout time.Duration
	Watchdog     time.Duration
	Readiness    *Probe
	Liveness     *Probe
	Backoff      *policy.Backoff
}

func healthOf(n *Node) health {
	return health{n.Ready, n.ReadyFD, n.ReadyTimeout, n.Watchdog, n.Readiness, n.Liveness, n.Backoff}
}

// spec is policy.DefaultProbeSpec changed by fn.
func spec(fn func(*policy.ProbeSpec)) policy.ProbeSpec {
	s := policy.DefaultProbeSpec
	if fn != nil {
		fn(&s)
	}
	return s
}

// backoff is policy.DefaultBackoff changed by fn.
func backoff(fn func(*policy.Backoff)) *policy.Backoff {
	b := policy.DefaultBackoff
	if fn != nil {
		fn(&b)
	}
	return &b
}

func TestHealthValid(t *testing.T) {
	t.Parallel()
	const minute = time.Minute
	cases := []struct {
		name string
		src  string
		want health
	}{
		{"defaults", proc(), health{ReadyTimeout: minute}},
		{"ready spawn", proc("ready: spawn"), health{ReadyTimeout: minute}},
		{"ready_timeout follows timeout", proc("timeout: 5s"), health{ReadyTimeout: 5 * time.Second}},
		{"notify with watchdog", proc("ready: notify", "ready_timeout: 30s", "watchdog: 10s", "timeout: 5s"),
			health{Ready: ReadyNotify, ReadyTimeout: 30 * time.Second, Watchdog: 10 * time.Second}},
		{"watchdog before ready", proc("watchdog: 10", "ready: notify"), health{Ready: ReadyNotify, ReadyTimeout: minute, Watchdog: 10 * time.Second}},
		{"fd lowest", proc("ready: fd:3"), health{Ready: ReadyFD, ReadyFD: 3, ReadyTimeout: minute}},
		{"fd highest", proc("ready: fd:1023"), health{Ready: ReadyFD, ReadyFD: 1023, ReadyTimeout: minute}},
		// YAML's flow style reads fd:7 as one scalar too.
		{"fd in flow style", "tree: {name: r, children: [{name: w, command: x, ready: fd:7}]}\n", health{Ready: ReadyFD, ReadyFD: 7, ReadyTimeout: minute}},
		{"http probe, flow", proc(`probes: {readiness: {http: "http://127.0.0.1:8080/ready", period: 2s}}`),
			health{ReadyTimeout: minute, Readiness: &Probe{Kind: ProbeHTTP, URL: "http://127.0.0.1:8080/ready", Line: 6,
				ProbeSpec: spec(func(s *policy.ProbeSpec) { s.Period = 2 * time.Second })}}},
		{"https probe without port", proc(`probes: {readiness: {http: "HTTPS://example.com/health?x=1"}}`),
			health{ReadyTimeout: minute, Readiness: &Probe{Kind: ProbeHTTP, URL: "HTTPS://example.com/health?x=1", Line: 6, ProbeSpec: spec(nil)}}},
		{"tcp probe, every key", proc(
			"probes:",
			"  liveness:",
			"    tcp: 127.0.0.1:8080",
			"    period: 5s",
			"    timeout: 2s",
			"    initial_delay: 1m",
			"    failure_threshold: 1",
			"    success_threshold: 1",
		), health{ReadyTimeout: minute, Liveness: &Probe{Kind: ProbeTCP, Addr: "127.0.0.1:8080", Line: 8, ProbeSpec: policy.ProbeSpec{
			Period: 5 * time.Second, Timeout: 2 * time.Second, InitialDelay: minute, FailureThreshold: 1, SuccessThreshold: 1}}}},
		{"tcp ipv6 and a name", proc("probes:", "  readiness: {tcp: \"[::1]:80\"}", "  liveness: {tcp: \"db.local:5432\"}"),
			health{ReadyTimeout: minute,
				Readiness: &Probe{Kind: ProbeTCP, Addr: "[::1]:80", Line: 7, ProbeSpec: spec(nil)},
				Liveness:  &Probe{Kind: ProbeTCP, Addr: "db.local:5432", Line: 8, ProbeSpec: spec(nil)}}},
		{"exec string", proc("probes:", "  readiness:", "    exec: /bin/check --port 80 'a b'", "    initial_delay: 0", "    success_threshold: 2"),
			health{ReadyTimeout: minute, Readiness: &Probe{Kind: ProbeExec, Argv: []string{"/bin/check", "--port", "80", "a b"}, Line: 8,
				ProbeSpec: spec(func(s *policy.ProbeSpec) { s.SuccessThreshold = 2 })}}},
		{"exec list", proc("probes:", "  liveness: {exec: [sh, -c, \"test -e /tmp/ok\"], failure_threshold: \"2\"}"),
			health{ReadyTimeout: minute, Liveness: &Probe{Kind: ProbeExec, Argv: []string{"sh", "-c", "test -e /tmp/ok"}, Line: 7,
				ProbeSpec: spec(func(s *policy.ProbeSpec) { s.FailureThreshold = 2 })}}},
		{"empty probes", proc("probes:"), health{ReadyTimeout: minute}},
		{"probe merged from an anchor", proc(
			"probes:",
			"  readiness: &p {http: \"http://h/\", period: 2s}",
			"  liveness:",
			"    <<: *p",
			"    failure_threshold: 5",
		), health{ReadyTimeout: minute,
			Readiness: &Probe{Kind: ProbeHTTP, URL: "http://h/", Line: 7, ProbeSpec: spec(func(s *policy.ProbeSpec) { s.Period = 2 * time.Second })},
			Liveness: &Probe{Kind: ProbeHTTP, URL: "http://h/", Line: 9, ProbeSpec: spec(func(s *policy.ProbeSpec) {
				s.Period = 2 * time.Second
				s.FailureThreshold = 5
			})}}},
		{"backoff every key", proc("backoff: {initial: 1s, max: 1m, factor: 1.5, jitter: 0, reset_after: 10m}"),
			health{ReadyTimeout: minute, Backoff: &policy.Backoff{Initial: time.Second, Max: minute, Factor: 1.5, Jitter: 0, ResetAfter: 10 * minute}}},
		{"backoff defaults", proc("backoff: {}"), health{ReadyTimeout: minute, Backoff: backoff(nil)}},
		{"backoff some keys", proc("backoff:", "  max: 5s", "  factor: 3"),
			health{ReadyTimeout: minute, Backoff: backoff(func(b *policy.Backoff) { b.Max, b.Factor = 5*time.Second, 3 })}},
		{"backoff max equal to initial", proc("backoff: {initial: 2s, max: 2s, factor: 1}"),
			health{ReadyTimeout: minute, Backoff: backoff(func(b *policy.Backoff) { b.Initial, b.Max, b.Factor = 2*time.Second, 2*time.Second, 1 })}},
		{"backoff none", proc("backoff: none"), health{ReadyTimeout: minute}},
		{"backoff false", proc("backoff: false"), health{ReadyTimeout: minute}},
		{"variables", "vars:\n  p: 2s\n  fd: 4\n  host: 127.0.0.1\n  url: http://127.0.0.1:9/x\n" + proc(
			"ready: fd:${fd}",
			"probes:",
			"  readiness: {http: \"${url}\"}",
			"  liveness:",
			"    tcp: ${host}:80",
			"    period: ${p}",
			"backoff:",
			"  initial: ${p}",
			"  max: 1${p}",
		), health{Ready: ReadyFD, ReadyFD: 4, ReadyTimeout: minute,
			Readiness: &Probe{Kind: ProbeHTTP, URL: "http://127.0.0.1:9/x", Line: 13, ProbeSpec: spec(nil)},
			Liveness:  &Probe{Kind: ProbeTCP, Addr: "127.0.0.1:80", Line: 15, ProbeSpec: spec(func(s *policy.ProbeSpec) { s.Period = 2 * time.Second })},
			Backoff:   backoff(func(b *policy.Backoff) { b.Initial, b.Max = 2*time.Second, 12*time.Second })}},
		{"service probes and backoff", svc("probes: {liveness: {exec: /bin/check}}", "backoff: {initial: 1s}"),
			health{Liveness: &Probe{Kind: ProbeExec, Argv: []string{"/bin/check"}, Line: 6, ProbeSpec: spec(nil)},
				Backoff: backoff(func(b *policy.Backoff) { b.Initial = time.Second })}},
		{"supervisor backoff reaches the worker", sup("backoff: {jitter: 0.5}"),
			health{ReadyTimeout: minute, Backoff: backoff(func(b *policy.Backoff) { b.Jitter = 0.5 })}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := mustLoad(t, tc.src)
			w := c.Find("r/w")
			if got := healthOf(w); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %s\nwant %s", fmtHealth(got), fmtHealth(tc.want))
			}
		})
	}
}

// fmtHealth shows the values behind the pointers.
func fmtHealth(h health) string {
	pr := func(p *Probe) string {
		if p == nil {
			return "nil"
		}
		return fmt.Sprintf("%+v", *p)
	}
	b := "nil"
	if h.Backoff != nil {
		b = fmt.Sprintf("%+v", *h.Backoff)
	}
	return fmt.Sprintf("ready=%s fd=%d ready_timeout=%s watchdog=%s readiness=%s liveness=%s backoff=%s",
		h.Ready, h.ReadyFD, h.ReadyTimeout, h.Watchdog, pr(h.Readiness), pr(h.Liveness), b)
}

func TestHealthErrors(t *testing.T) {
	t.Parallel()
	cases := []errCase{
		// ready, ready_timeout, watchdog
		{"unknown ready", proc("ready: socket"), ErrInvalidValue, "6: r/w: ready: ", `unknown ready "socket" (want spawn, notify or fd:N)`},
		{"ready not a scalar", proc("ready: [notify]"), ErrType, "6: r/w: ready: ", "want a string, got a list"},
		{"fd of stderr", proc("ready: fd:2"), ErrInvalidValue, "6: r/w: ready: ", `ready "fd:2": descriptor out of range 3..1023 (0-2 are stdin, stdout and stderr)`},
		{"fd 0", proc("ready: fd:0"), ErrInvalidValue, "6: r/w: ready: ", `descriptor out of range 3..1023`},
		{"fd too high", proc("ready: fd:1024"), ErrInvalidValue, "6: r/w: ready: ", `ready "fd:1024": descriptor out of range 3..1023`},
		{"fd overflows", proc("ready: fd:99999999999999999999"), ErrInvalidValue, "6: r/w: ready: ", `descriptor out of range 3..1023`},
		{"fd not a number", proc("ready: fd:x"), ErrInvalidValue, "6: r/w: ready: ", `invalid ready "fd:x" (want fd:N, N a descriptor number from 3 to 1023)`},
		{"fd negative", proc("ready: fd:-3"), ErrInvalidValue, "6: r/w: ready: ", `invalid ready "fd:-3"`},
		{"fd without a number", proc("ready: 'fd:'"), ErrInvalidValue, "6: r/w: ready: ", `invalid ready "fd:"`},
		{"ready_timeout zero", proc("ready_timeout: 0"), ErrInvalidValue, "6: r/w: ready_timeout: ", "duration must be greater than zero"},
		{"ready_timeout bad", proc("ready_timeout: soon"), ErrInvalidValue, "6: r/w: ready_timeout: ", `invalid duration "soon"`},
		{"watchdog zero", proc("ready: notify", "watchdog: 0s"), ErrInvalidValue, "7: r/w: watchdog: ", "duration must be greater than zero"},
		{"watchdog without ready", proc("watchdog: 10s"), ErrConflictingKeys, "6: r/w: watchdog: ",
			"conflicting keys: watchdog needs ready: notify, whose socket the keep-alives arrive on (ready is spawn, the default)"},
		{"watchdog with ready spawn", proc("ready: spawn", "watchdog: 10s"), ErrConflictingKeys, "7: r/w: watchdog: ", "(ready is spawn)"},
		{"watchdog with ready fd", proc("watchdog: 10s", "ready: fd:3"), ErrConflictingKeys, "6: r/w: watchdog: ", "(ready is fd:3)"},
		{"watchdog with a bad ready", proc("ready: nope", "watchdog: 10s"), ErrInvalidValue, "6: r/w: ready: ", `unknown ready "nope"`},
		{"ready on a service", svc("ready: notify"), ErrUnknownKey, "6: r/w: ",
			`unknown key "ready" for a service worker (a service daemonizes away from otpsv, which cannot hand it a notify socket or descriptor; it is ready when its status (or a readiness probe) says so)`},
		{"ready_timeout on a service", svc("ready_timeout: 5s"), ErrUnknownKey, "6: r/w: ",
			`unknown key "ready_timeout" for a service worker (a service's wait for readiness is its timeout)`},
		{"watchdog on a service", svc("watchdog: 5s"), ErrUnknownKey, "6: r/w: ",
			`unknown key "watchdog" for a service worker (keep-alives arrive on a notify socket, which a service does not get; use a liveness probe)`},
		{"ready on a supervisor", sup("ready: notify"), ErrUnknownKey, "3: r: ", `unknown key "ready" for a supervisor`},
		{"probes on a supervisor", sup("probes: {liveness: {tcp: \"h:1\"}}"), ErrUnknownKey, "3: r: ", `unknown key "probes" for a supervisor`},

		// probes
		{"probes a list", proc("probes: [readiness]"), ErrType, "6: r/w: probes: ", "want a mapping with readiness and/or liveness, got a list"},
		{"probes unknown role", proc("probes:", "  startup: {exec: x}"), ErrUnknownKey, "7: r/w: probes: ", `unknown key "startup" (want readiness or liveness)`},
		{"probe a scalar", proc("probes:", "  readiness: http://h/"), ErrType, "7: r/w: probes: readiness: ", "want a probe mapping (http, tcp or exec, with period, timeout...), got a scalar"},
		{"probe empty", proc("probes:", "  readiness:"), ErrType, "7: r/w: probes: readiness: ", "got nothing"},
		{"two kinds", proc("probes:", "  liveness:", "    http: http://h/", "    tcp: h:1"), ErrConflictingKeys, "9: r/w: probes: liveness: tcp: ",
			"conflicting keys: tcp beside http (a probe is exactly one of http, tcp or exec)"},
		{"no kind", proc("probes:", "  readiness:", "    period: 1s"), ErrMissingKey, "8: r/w: probes: readiness: ", "missing key: a probe needs one of http, tcp or exec"},
		{"unknown probe key", proc("probes:", "  readiness:", "    http: http://h/", "    perid: 1s"), ErrUnknownKey, "9: r/w: probes: readiness: ",
			`unknown key "perid" (want http, tcp, exec, period, timeout, initial_delay, failure_threshold or success_threshold)`},
		{"http other scheme", proc("probes: {readiness: {http: \"ftp://h/\"}}"), ErrInvalidValue, "6: r/w: probes: readiness: http: ", `URL "ftp://h/": scheme "ftp" (want http or https)`},
		{"http without scheme", proc("probes: {readiness: {http: \"localhost:8080\"}}"), ErrInvalidValue, "6: r/w: probes: readiness: http: ", `scheme "localhost" (want http or https)`},
		{"http path only", proc("probes: {readiness: {http: /ready}}"), ErrInvalidValue, "6: r/w: probes: readiness: http: ", `scheme "" (want http or https)`},
		{"http without host", proc("probes: {readiness: {http: \"http://\"}}"), ErrInvalidValue, "6: r/w: probes: readiness: http: ", `URL "http://" has no host`},
		{"http port only", proc("probes: {readiness: {http: \"http://:80/\"}}"), ErrInvalidValue, "6: r/w: probes: readiness: http: ", `URL "http://:80/" has no host`},
		{"http unparsable", proc("probes: {readiness: {http: \"http://a b/\"}}"), ErrInvalidValue, "6: r/w: probes: readiness: http: ", `invalid URL: parse "http://a b/"`},
		{"http port 0", proc("probes: {readiness: {http: \"http://h:0/\"}}"), ErrInvalidValue, "6: r/w: probes: readiness: http: ", `URL "http://h:0/": port "0" is not a number from 1 to 65535`},
		{"http port too high", proc("probes: {readiness: {http: \"http://h:65536/\"}}"), ErrInvalidValue, "6: r/w: probes: readiness: http: ", `port "65536"`},
		{"http empty", proc("probes: {readiness: {http: \"\"}}"), ErrInvalidValue, "6: r/w: probes: readiness: http: ", "empty URL"},
		{"http a list", proc("probes: {readiness: {http: [a]}}"), ErrType, "6: r/w: probes: readiness: http: ", "want a string"},
		{"tcp without port", proc("probes:", "  liveness:", "    tcp: localhost"), ErrInvalidValue, "8: r/w: probes: liveness: tcp: ",
			`invalid address "localhost" (want HOST:PORT, such as 127.0.0.1:8080): address localhost: missing port in address`},
		{"tcp ipv6 without port", proc("probes: {liveness: {tcp: \"[::1]\"}}"), ErrInvalidValue, "6: r/w: probes: liveness: tcp: ", `invalid address "[::1]"`},
		{"tcp without host", proc("probes: {liveness: {tcp: \":8080\"}}"), ErrInvalidValue, "6: r/w: probes: liveness: tcp: ", `address ":8080" has no host`},
		{"tcp port a name", proc("probes: {liveness: {tcp: \"h:http\"}}"), ErrInvalidValue, "6: r/w: probes: liveness: tcp: ", `address "h:http": port "http" is not a number from 1 to 65535`},
		{"tcp port 0", proc("probes: {liveness: {tcp: \"h:0\"}}"), ErrInvalidValue, "6: r/w: probes: liveness: tcp: ", `port "0"`},
		{"tcp port too high", proc("probes: {liveness: {tcp: \"h:65536\"}}"), ErrInvalidValue, "6: r/w: probes: liveness: tcp: ", `port "65536"`},
		{"exec empty", proc("probes: {liveness: {exec: []}}"), ErrInvalidValue, "6: r/w: probes: liveness: exec: ", "empty command"},
		{"exec unterminated", proc("probes:", "  liveness:", "    exec: sh -c 'x"), ErrInvalidValue, "8: r/w: probes: liveness: exec: ", "unterminated single quote"},
		{"exec a mapping", proc("probes: {liveness: {exec: {a: 1}}}"), ErrType, "6: r/w: probes: liveness: exec: ", "want a command"},
		{"period zero", proc("probes: {liveness: {exec: x, period: 0}}"), ErrInvalidValue, "6: r/w: probes: liveness: period: ", "greater than zero"},
		{"timeout zero", proc("probes: {liveness: {exec: x, timeout: 0s}}"), ErrInvalidValue, "6: r/w: probes: liveness: timeout: ", "greater than zero"},
		{"initial_delay negative", proc("probes: {liveness: {exec: x, initial_delay: -1s}}"), ErrInvalidValue, "6: r/w: probes: liveness: initial_delay: ", `negative duration "-1s"`},
		{"failure_threshold 0", proc("probes:", "  readiness:", "    exec: x", "    failure_threshold: 0"), ErrInvalidValue, "9: r/w: probes: readiness: failure_threshold: ", "must be at least 1, got 0"},
		{"failure_threshold negative", proc("probes: {readiness: {exec: x, failure_threshold: -2}}"), ErrInvalidValue, "6: r/w: probes: readiness: failure_threshold: ", "must be at least 1, got -2"},
		{"failure_threshold words", proc("probes: {readiness: {exec: x, failure_threshold: many}}"), ErrInvalidValue, "6: r/w: probes: readiness: failure_threshold: ", `"many" is not a whole number`},
		{"success_threshold 0", proc("probes: {readiness: {exec: x, success_threshold: 0}}"), ErrInvalidValue, "6: r/w: probes: readiness: success_threshold: ", "must be at least 1, got 0"},
		{"liveness success_threshold 2", proc("probes:", "  liveness:", "    exec: x", "    success_threshold: 2"), ErrInvalidValue, "9: r/w: probes: liveness: success_threshold: ",
			"must be 1 for a liveness probe, got 2"},
		{"undefined variable in a probe", proc("probes: {readiness: {http: \"http://${host}/\"}}"), ErrUndefinedVar, "6: r/w: probes: readiness: http: ", "undefined variable ${host}"},
		{"service probe", svc("probes: {readiness: {tcp: nohost}}"), ErrInvalidValue, "6: r/w: probes: readiness: tcp: ", `invalid address "nohost"`},

		// backoff
		{"backoff a word", proc("backoff: soon"), ErrInvalidValue, "6: r/w: backoff: ", `unknown backoff "soon" (want a mapping of initial, max, factor, jitter and reset_after, or none)`},
		{"backoff true", proc("backoff: true"), ErrInvalidValue, "6: r/w: backoff: ", `unknown backoff "true"`},
		{"backoff empty", proc("backoff:"), ErrType, "6: r/w: backoff: ", "want a mapping of initial, max, factor, jitter or reset_after, or none, got nothing"},
		{"backoff a list", proc("backoff: [1s]"), ErrType, "6: r/w: backoff: ", "got a list"},
		{"initial zero", proc("backoff: {initial: 0}"), ErrInvalidValue, "6: r/w: backoff: initial: ", "greater than zero"},
		{"max zero", proc("backoff: {max: 0s}"), ErrInvalidValue, "6: r/w: backoff: max: ", "greater than zero"},
		{"reset_after zero", proc("backoff: {reset_after: 0}"), ErrInvalidValue, "6: r/w: backoff: reset_after: ", "greater than zero"},
		{"max below initial", proc("backoff:", "  initial: 1s", "  max: 50ms"), ErrInvalidValue, "8: r/w: backoff: max: ", "max 50ms is below initial 1s"},
		{"initial above the default max", proc("backoff:", "  factor: 2", "  initial: 1m"), ErrInvalidValue, "8: r/w: backoff: initial: ",
			"initial 1m is above the default max 30s (give max too)"},
		{"factor below 1", proc("backoff: {factor: 0.5}"), ErrInvalidValue, "6: r/w: backoff: factor: ", "factor 0.5 is below 1 (delays would shrink)"},
		{"factor words", proc("backoff: {factor: double}"), ErrInvalidValue, "6: r/w: backoff: factor: ", `"double" is not a number`},
		{"factor NaN", proc("backoff: {factor: NaN}"), ErrInvalidValue, "6: r/w: backoff: factor: ", `"NaN" is not a number`},
		{"factor infinite", proc("backoff: {factor: .inf}"), ErrInvalidValue, "6: r/w: backoff: factor: ", `".inf" is not a number`},
		{"jitter 1", proc("backoff: {jitter: 1}"), ErrInvalidValue, "6: r/w: backoff: jitter: ", "jitter 1 out of range (want a fraction of the delay, 0 <= jitter < 1)"},
		{"jitter negative", proc("backoff: {jitter: -0.1}"), ErrInvalidValue, "6: r/w: backoff: jitter: ", "jitter -0.1 out of range"},
		{"backoff unknown key", proc("backoff:", "  maximum: 1m"), ErrUnknownKey, "7: r/w: backoff: ", `unknown key "maximum" (want initial, max, factor, jitter or reset_after)`},
		{"supervisor backoff", sup("backoff: {factor: 0}"), ErrInvalidValue, "3: r: backoff: factor: ", "factor 0 is below 1"},
	}
	runKeyErrors(t, cases)
}

// TestHealthAllErrorsAtOnce: problems in several health keys are all
// reported, each at its own line.
func TestHealthAllErrorsAtOnce(t *testing.T) {
	t.Parallel()
	_, err := loadAs(t, proc(
		"ready: fd:1", // 6
		"watchdog: 1s",
		"probes:",
		"  readiness:",
		"    http: http://h/", // 10
		"    tcp: h:1",
		"    exec: x",
		"    period: 0",
		"  liveness:",
		"    success_threshold: 3", // 15
		"backoff:",
		"  jitter: 2",
		"  factor: 0",
	), 1000)
	var lines []int
	for _, fe := range fieldErrors(t, err) {
		lines = append(lines, fe.Line)
	}
	// 6: the fd; the watchdog is not compared with a bad ready. 11, 12:
	// the second and third kinds. 15: the threshold, then the missing
	// kind, at the line of the probe's mapping.
	if want := []int{6, 11, 12, 13, 15, 15, 17, 18}; !reflect.DeepEqual(lines, want) {
		t.Errorf("errors at lines %v, want %v:\n%v", lines, want, err)
	}
}

func TestBackoffInherited(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, `
vars:
  off: none
tree:
  name: r
  backoff: {initial: 1s}
  children:
    - name: mid
      children:
        - name: leaf
          command: x
        - name: svc
          start: x
    - name: own
      command: x
      backoff: {initial: 2s, max: 1m}
    - name: off
      backoff: ${off}
      children:
        - name: leaf
          command: x
        - name: back
          command: x
          backoff: {max: 1m}
        - name: sub
          backoff: {factor: 3}
          children:
            - name: leaf
              command: x
    - name: leaf
      command: x
      backoff: false
`)
	one := backoff(func(b *policy.Backoff) { b.Initial = time.Second })
	want := map[string]*policy.Backoff{
		"r":              one,
		"r/mid":          one,
		"r/mid/leaf":     one,
		"r/mid/svc":      one,
		"r/own":          backoff(func(b *policy.Backoff) { b.Initial, b.Max = 2*time.Second, time.Minute }),
		"r/off":          nil,
		"r/off/leaf":     nil,
		"r/off/back":     backoff(func(b *policy.Backoff) { b.Max = time.Minute }),
		"r/off/sub":      backoff(func(b *policy.Backoff) { b.Factor = 3 }),
		"r/off/sub/leaf": backoff(func(b *policy.Backoff) { b.Factor = 3 }),
		"r/leaf":         nil,
	}
	seen := map[*policy.Backoff]string{}
	_ = c.Tree.Walk(func(n *Node) error {
		w, ok := want[n.Path]
		if !ok {
			t.Errorf("unexpected node %s", n.Path)
			return nil
		}
		if !reflect.DeepEqual(n.Backoff, w) {
			t.Errorf("%s: backoff %+v, want %+v", n.Path, n.Backoff, w)
		}
		if n.Backoff != nil {
			// Each node has its own copy: nothing downstream can change
			// another node's backoff through it.
			if other, ok := seen[n.Backoff]; ok {
				t.Errorf("%s shares its backoff with %s", n.Path, other)
			}
			seen[n.Backoff] = n.Path
		}
		delete(want, n.Path)
		return nil
	})
	for p := range want {
		t.Errorf("node %s missing", p)
	}
}

// TestBackoffInheritedThroughInclude: nodes of an included file inherit
// from the supervisor that includes them.
func TestBackoffInheritedThroughInclude(t *testing.T) {
	t.Parallel()
	_, c, err := loadDir(t, map[string]string{
		"otpsv.yaml":    "tree:\n  name: r\n  backoff: {initial: 1s}\n  children:\n    - include: conf.d/*.yaml\n",
		"conf.d/a.yaml": "name: g\nchildren:\n  - name: w\n    command: x\n",
		"conf.d/b.yaml": "name: o\ncommand: x\nbackoff: none\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	one := backoff(func(b *policy.Backoff) { b.Initial = time.Second })
	for _, p := range []string{"r/g", "r/g/w"} {
		if got := c.Find(p).Backoff; !reflect.DeepEqual(got, one) {
			t.Errorf("%s: backoff %+v, want %+v", p, got, one)
		}
	}
	if got := c.Find("r/o").Backoff; got != nil {
		t.Errorf("r/o: backoff %+v, want none", got)
	}
}

// TestHealthFingerprint: a probe's settings are part of a node's
// definition; where the probe is written is not.
func TestHealthFingerprint(t *testing.T) {
	t.Parallel()
	fp := func(src, file string) string {
		t.Helper()
		c, err := load(strings.NewReader(src), file, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if c.Find("r/w").Liveness == nil {
			t.Fatal("no liveness probe")
		}
		return c.Find("r/w").Fingerprint()
	}
	base := fp(proc("probes:", "  liveness: {tcp: \"h:1\", period: 5s}"), testFile)
	// Two lines lower, in block style, keys swapped, in another file.
	moved := fp("\n\n"+proc("probes:", "", "  liveness:", "    period: 5s", "    tcp: \"h:1\""), filepath.Join(filepath.Dir(testFile), "other.yaml"))
	if moved != base {
		t.Error("the probe moved (Line changed) and the fingerprint changed")
	}
	if p := fp(proc("probes:", "  liveness: {tcp: \"h:1\", period: 6s}"), testFile); p == base {
		t.Error("the probe period changed but the fingerprint did not")
	}
	// A backoff shapes only the next restart: a reload must not restart
	// a running worker (or a whole subtree) for it.
	if p := fp(proc("backoff: {}", "probes:", "  liveness: {tcp: \"h:1\", period: 5s}"), testFile); p != base {
		t.Error("a backoff was added and the fingerprint changed")
	}
}
