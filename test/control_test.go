package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Black-box tests of the control plane: the verbs that talk to a running
// daemon over state_dir/otpsv.sock (tree, status, check, start, stop,
// restart, reload, why) and the socket itself.

// ctlTree is the tree most control tests run:
//
//	site (one_for_one)
//	  a
//	  sub (one_for_all, intensity 5)
//	    b
//	    c
func (w *workspace) ctlConfig() string {
	return w.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: a
      command: %s
    - name: sub
      strategy: one_for_all
      intensity: 5
      period: 60s
      children:
        - name: b
          command: %s
        - name: c
          command: %s
`, w.cmd("a"), w.cmd("b"), w.cmd("c")))
}

// startCtlTree starts a daemon on ctlTree and waits until the tree runs
// and the socket answers; it returns the first ready line of each worker.
func (w *workspace) startCtlTree() (*daemon, map[string]readyLine) {
	w.t.Helper()
	d := w.startDaemon(w.ctlConfig())
	d.ctlWaitUp()
	first := map[string]readyLine{}
	for _, n := range []string{"a", "b", "c"} {
		first[n] = d.waitReady(n, 1)
	}
	return d, first
}

var ctlStates = []string{"starting", "running", "stopping", "stopped", "failed", "dirty", "backoff", "unknown"}

// TestControlTree: `otpsv tree` prints one indented line per node with its
// name, type, state and pid, without colour when stdout is not a
// terminal; `--json` has the SPEC shape; `tree PATH` is the subtree.
func TestControlTree(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	before := time.Now()
	d, first := ws.startCtlTree()
	pids := map[string]int{"a": first["a"].pid, "b": first["b"].pid, "c": first["c"].pid}
	type row struct {
		name, typ string
		depth     int
	}
	all := []row{{"site", "supervisor", 0}, {"a", "process", 1}, {"sub", "supervisor", 1}, {"b", "process", 2}, {"c", "process", 2}}

	// checkText checks the text tree against rows (depths relative to
	// the first row).
	checkText := func(out string, rows []row) {
		t.Helper()
		if strings.Contains(out, "\x1b") {
			t.Errorf("tree output has escape sequences although stdout is not a terminal:\n%q", out)
		}
		ls := ctlLines(out)
		if len(ls) > 0 && strings.Fields(ls[0])[0] == "NAME" {
			ls = ls[1:] // the header
		}
		if len(ls) != len(rows) {
			t.Fatalf("tree printed %d node lines, want %d:\n%s", len(ls), len(rows), out)
		}
		for i, r := range rows {
			l := ls[i]
			indent := len(l) - len(strings.TrimLeft(l, " "))
			f := strings.Fields(l)
			if f[0] != r.name {
				t.Errorf("line %d %q: name %q, want %q", i, l, f[0], r.name)
				continue
			}
			if indent != 2*(r.depth-rows[0].depth) {
				t.Errorf("line %q: indented by %d, want %d", l, indent, 2*(r.depth-rows[0].depth))
			}
			if !slices.Contains(f, r.typ) || !slices.Contains(f, "running") {
				t.Errorf("line %q: want type %s and state running", l, r.typ)
			}
			if pid, ok := pids[r.name]; ok && !slices.Contains(f, strconv.Itoa(pid)) {
				t.Errorf("line %q: want pid %d", l, pid)
			}
		}
	}

	checkText(ws.mustCtl("tree").stdout, all)
	checkText(ws.mustCtl("tree", "site/sub").stdout, all[2:])
	// -c FILE finds the socket through settings.state_dir.
	checkText(otpsv(t, ws.dir, "tree", "-c", filepath.Join(ws.dir, "otpsv.yaml")).stdout, all)
	// The colour check above can fail: with --color always there are escapes.
	if out := ws.mustCtl("tree", "--color", "always").stdout; !strings.Contains(out, "\x1b[") {
		t.Errorf("tree --color always has no escape sequence:\n%q", out)
	}

	// --json: the SPEC shape, checked on the raw object.
	r := ws.mustCtl("tree", "--json")
	var raw map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatalf("tree --json: %v\n%s", err, r.stdout)
	}
	specKeys := []string{"name", "path", "type", "state", "expected", "pid", "since", "restarts"}
	seen := 0
	var check func(o map[string]any, path string)
	check = func(o map[string]any, path string) {
		seen++
		for _, k := range specKeys {
			if _, ok := o[k]; !ok {
				t.Errorf("%s: no %q key in %v", path, k, o)
			}
		}
		if o["path"] != path {
			t.Errorf("path %v, want %s", o["path"], path)
		}
		if o["name"] != filepath.Base(path) {
			t.Errorf("%s: name %v", path, o["name"])
		}
		if s, _ := o["state"].(string); !slices.Contains(ctlStates, s) || s != "running" {
			t.Errorf("%s: state %v, want running", path, o["state"])
		}
		if o["expected"] != "running" {
			t.Errorf("%s: expected %v, want running", path, o["expected"])
		}
		if n, ok := o["restarts"].(float64); !ok || n != 0 {
			t.Errorf("%s: restarts %v, want 0", path, o["restarts"])
		}
		s, _ := o["since"].(string)
		since, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Errorf("%s: since %v is not RFC 3339: %v", path, o["since"], err)
		} else if since.Before(before.Add(-time.Second)) || since.After(time.Now().Add(time.Second)) {
			t.Errorf("%s: since %v, not between the daemon's start %v and now", path, since, before)
		}
		kids, hasKids := o["children"]
		switch o["type"] {
		case "supervisor":
			if o["pid"] != nil {
				t.Errorf("%s: supervisor pid %v, want null", path, o["pid"])
			}
			list, ok := kids.([]any)
			if !hasKids || !ok {
				t.Fatalf("%s: supervisor without a children list: %v", path, o)
			}
			for _, c := range list {
				co, _ := c.(map[string]any)
				name, _ := co["name"].(string)
				check(co, path+"/"+name)
			}
		case "process":
			if hasKids {
				t.Errorf("%s: a worker has a children key: %v", path, kids)
			}
			if p, ok := o["pid"].(float64); !ok || int(p) != pids[filepath.Base(path)] {
				t.Errorf("%s: pid %v, want %d", path, o["pid"], pids[filepath.Base(path)])
			}
		default:
			t.Errorf("%s: type %v", path, o["type"])
		}
	}
	check(raw, "site")
	if seen != len(all) {
		t.Errorf("tree --json has %d nodes, want %d", seen, len(all))
	}
	if root := ws.ctlTreeJSON(); root.Children[1].Name != "sub" || root.Children[1].Children[0].Name != "b" {
		t.Errorf("tree --json: children not in list order: %+v", root)
	}

	// tree --json PATH: the subtree.
	sub := ws.ctlTreeJSON("site/sub")
	if sub.Path != "site/sub" || len(sub.Children) != 2 || sub.Children[0].Path != "site/sub/b" || sub.Children[1].pid() != pids["c"] {
		t.Errorf("tree --json site/sub = %+v", sub)
	}
	if b := ws.ctlTreeJSON("site/sub/b"); b.Path != "site/sub/b" || b.pid() != pids["b"] || b.Children != nil {
		t.Errorf("tree --json site/sub/b = %+v", b)
	}
	if r := ws.ctl("tree", "site/nope"); r.code != 1 {
		t.Errorf("tree site/nope: exit status %d, want 1", r.code)
	}
	d.stop()
	ws.requireAllDead()
}

// ctlPerfdata is a Nagios first line: STATUS, text, then "|" and label=value
// pairs.
var ctlPerfdata = regexp.MustCompile(`^(OK|WARNING|CRITICAL|UNKNOWN)\b[^|]*\|( *[A-Za-z_][A-Za-z0-9_]*=[0-9.]+[A-Za-z%]*;*[0-9.;]*)+ *$`)

// TestControlStatusCheck: status prints one line per node of the subtree
// and exits 1 when one is not as expected (a temporary worker that crashed
// stays failed); check says OK or WARNING with ctlPerfdata; a root that gave
// up is CRITICAL.
func TestControlStatusCheck(t *testing.T) {
	begin(t)
	t.Run("daemon", func(t *testing.T) {
		t.Parallel()
		ws := newWorkspace(t)
		d := ws.startDaemon(ws.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: a
      command: %s
    - name: sub
      children:
        - name: b
          command: %s
    - name: t
      restart: temporary
      command: %s
`, ws.cmd("a"), ws.cmd("b"), ws.cmd("t", "-exit-after", "100ms", "-code", "1"))))
		d.ctlWaitUp()
		a, b := d.waitReady("a", 1), d.waitReady("b", 1)
		waitFor(t, d.events, is("not restarting", "child", "site/t"))

		r := ws.ctl("status")
		want := []string{"site", "site/a", "site/sub", "site/sub/b", "site/t"}
		ls := ctlLines(r.stdout)
		if r.code != 1 || len(ls) != len(want) {
			t.Fatalf("status: exit status %d, %d lines; want 1 and %d lines:\n%s", r.code, len(ls), len(want), r.stdout)
		}
		for i, p := range want {
			if f := strings.Fields(ls[i]); f[0] != p {
				t.Errorf("status line %d %q: want path %s first", i, ls[i], p)
			}
		}
		if !strings.Contains(ls[4], "failed") {
			t.Errorf("status line of t %q does not say failed", ls[4])
		}
		if !strings.Contains(ls[1], strconv.Itoa(a.pid)) || !strings.Contains(ls[3], strconv.Itoa(b.pid)) {
			t.Errorf("status lines do not show the pids %d and %d:\n%s", a.pid, b.pid, r.stdout)
		}

		r = ws.ctl("status", "site/sub")
		if ls := ctlLines(r.stdout); r.code != 0 || len(ls) != 2 || !strings.HasPrefix(ls[0], "site/sub ") || !strings.HasPrefix(ls[1], "site/sub/b ") {
			t.Errorf("status site/sub: exit status %d, want 0 and two lines:\n%s", r.code, r.stdout)
		}
		if r = ws.ctl("status", "site/a"); r.code != 0 || len(ctlLines(r.stdout)) != 1 {
			t.Errorf("status site/a: exit status %d, want 0 and one line:\n%s", r.code, r.stdout)
		}
		if r = ws.ctl("status", "site/t"); r.code != 1 || len(ctlLines(r.stdout)) != 1 {
			t.Errorf("status site/t: exit status %d, want 1 and one line:\n%s", r.code, r.stdout)
		}
		if r = ws.ctl("status", "site/nope"); r.code != 1 {
			t.Errorf("status site/nope: exit status %d, want 1", r.code)
		}

		r = ws.ctl("check")
		ls = ctlLines(r.stdout)
		if r.code != 1 || len(ls) == 0 || !strings.HasPrefix(ls[0], "WARNING") || !ctlPerfdata.MatchString(ls[0]) {
			t.Errorf("check: exit status %d, want 1 and a WARNING line with ctlPerfdata:\n%s", r.code, r.stdout)
		} else if !strings.Contains(strings.Join(ls[1:], "\n"), "site/t") {
			t.Errorf("check: the details do not name site/t:\n%s", r.stdout)
		}
		r = ws.ctl("check", "site/sub")
		if ls := ctlLines(r.stdout); r.code != 0 || len(ls) == 0 || !strings.HasPrefix(ls[0], "OK") || !ctlPerfdata.MatchString(ls[0]) {
			t.Errorf("check site/sub: exit status %d, want 0 and an OK line with ctlPerfdata:\n%s", r.code, r.stdout)
		}
		d.stop()
		ws.requireAllDead()
	})

	t.Run("root gave up", func(t *testing.T) {
		t.Parallel()
		ws := newWorkspace(t)
		d := ws.startDaemon(ws.config(fmt.Sprintf(`tree:
  name: site
  intensity: 0
  children:
    - name: w
      command: %s
`, ws.cmd("w"))))
		d.ctlWaitUp()
		w := d.waitReady("w", 1)
		if err := syscall.Kill(w.pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, d.events, is("root supervisor gave up"))
		if code := d.wait(exitGuard); code != 1 {
			t.Fatalf("daemon exit status %d, want 1", code)
		}
		r := ws.ctl("check")
		if ls := ctlLines(r.stdout); r.code != 2 || len(ls) == 0 || !strings.HasPrefix(ls[0], "CRITICAL") || !ctlPerfdata.MatchString(ls[0]) {
			t.Errorf("check after the root gave up: exit status %d, want 2 and a CRITICAL line with ctlPerfdata:\n%s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		ws.requireAllDead()
	})
}

// TestControlNoDaemon: with no daemon and no saved state, check is
// UNKNOWN (3); tree, status, why, reload and a command on an unknown path
// exit 1; nothing starts.
func TestControlNoDaemon(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	cfg := ws.ctlConfig()
	for _, args := range [][]string{
		{"--state-dir", ws.stateDir},
		{"-c", cfg},
	} {
		r := otpsv(t, ws.dir, append([]string{"check"}, args...)...)
		if ls := ctlLines(r.stdout); r.code != 3 || len(ls) == 0 || !strings.HasPrefix(ls[0], "UNKNOWN") {
			t.Errorf("check %v with no daemon: exit status %d, want 3 and an UNKNOWN line:\n%s", args, r.code, r.stdout)
		}
	}
	for _, args := range [][]string{
		{"tree", "-c", cfg},
		{"tree", "--json", "-c", cfg},
		{"status", "-c", cfg},
		{"why", "-c", cfg, "site/a"},
		{"reload", "-c", cfg},
		{"reload", "--state-dir", ws.stateDir},
		{"stop", "-c", cfg, "site/nope"},
		{"start", "-c", cfg, "site/nope"},
		{"restart", "-c", cfg, "site/nope"},
	} {
		if r := otpsv(t, ws.dir, args...); r.code != 1 {
			t.Errorf("otpsv %v with no daemon: exit status %d, want 1\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
		}
	}
	if lines, _ := parseReady(ws.ready); len(lines) > 0 {
		t.Errorf("workers started without a daemon: %v", lines)
	}
}

// TestControlStopStart: `stop PATH` kills the worker and keeps it stopped,
// as expected, even when a one_for_all sibling fails and is restarted;
// `start PATH` brings it back with a new process.
func TestControlStopStart(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	d, first := ws.startCtlTree()
	b, c := first["b"], first["c"]

	ws.mustCtl("stop", "site/sub/b")
	requireDead(t, b.pid, "b after stop")
	requireGroupEmpty(t, b.pgid)
	nb := ws.ctlNodeAt("site/sub/b")
	if nb.State != "stopped" || nb.Expected != "stopped" || !nb.AdminStopped || nb.Pid != nil {
		t.Errorf("b after stop: %+v, want stopped, expected stopped, admin_stopped, pid null", nb)
	}
	// An operator's stop counts as expected, and says so.
	r := ws.ctl("status", "site/sub")
	if ls := ctlLines(r.stdout); r.code != 0 || len(ls) != 3 || !strings.Contains(ls[1], "operator") {
		t.Errorf("status site/sub after stop: exit status %d, want 0 and b's line showing the operator's stop:\n%s", r.code, r.stdout)
	}
	if r := ws.ctl("check"); r.code != 0 || !strings.HasPrefix(r.stdout, "OK") {
		t.Errorf("check after stop: exit status %d, want 0 OK:\n%s", r.code, r.stdout)
	}

	// c fails: one_for_all restarts the children in list order, so once
	// c has run again, b would have started before it if it were to.
	if err := syscall.Kill(c.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, d.events, is("started", "node", "site/sub/c"))
	c2 := d.waitReady("c", 2)
	if n := len(ws.runs("b")); n != 1 {
		t.Errorf("b ran %d times, want 1: the operator's stop was not kept", n)
	}
	if nb := ws.ctlNodeAt("site/sub/b"); nb.State != "stopped" || !nb.AdminStopped {
		t.Errorf("b after c's restart: %+v, want stopped by the operator", nb)
	}
	if nc := ws.ctlNodeAt("site/sub/c"); nc.pid() != c2.pid || nc.State != "running" {
		t.Errorf("c after its restart: %+v, want running with pid %d", nc, c2.pid)
	}

	ws.mustCtl("start", "site/sub/b")
	nb = ws.ctlNodeAt("site/sub/b")
	if nb.State != "running" || nb.Expected != "running" || nb.AdminStopped || nb.pid() == 0 || nb.pid() == b.pid {
		t.Errorf("b after start: %+v, want running with a new pid", nb)
	}
	if b2 := d.waitReady("b", 2); b2.pid != nb.pid() {
		t.Errorf("b's new process %d, tree says %d", b2.pid, nb.pid())
	}
	requireAlive(t, c2.pid, "c (start of b must not touch it)")
	requireAlive(t, first["a"].pid, "a")
	// start of a running node is a no-op.
	ws.mustCtl("start", "site/a")
	if n := len(ws.runs("a")); n != 1 {
		t.Errorf("start of running a started it again (%d runs)", n)
	}
	d.stop()
	ws.requireAllDead()
}

// TestControlStopSubtreeAndRoot: stopping a supervisor stops its whole
// subtree and keeps it stopped until started; stopping the root leaves the
// daemon running with nothing else, and starting it brings everything back.
func TestControlStopSubtreeAndRoot(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	d, first := ws.startCtlTree()

	ws.mustCtl("stop", "site/sub")
	for _, n := range []string{"b", "c"} {
		requireDead(t, first[n].pid, n+" after stop site/sub")
		requireGroupEmpty(t, first[n].pgid)
	}
	root := ws.ctlTreeJSON()
	if s := root.find("site/sub"); s.State != "stopped" || s.Expected != "stopped" || !s.AdminStopped {
		t.Errorf("sub after stop: %+v", s)
	}
	for _, p := range []string{"site/sub/b", "site/sub/c"} {
		if n := root.find(p); n.State != "stopped" || n.Expected != "stopped" || n.Pid != nil {
			t.Errorf("%s after stop of its supervisor: %+v, want stopped, expected stopped", p, n)
		}
	}
	if r := ws.ctl("status"); r.code != 0 {
		t.Errorf("status after stop site/sub: exit status %d, want 0:\n%s", r.code, r.stdout)
	}
	requireAlive(t, first["a"].pid, "a")

	ws.mustCtl("start", "site/sub")
	b2, c2 := d.waitReady("b", 2), d.waitReady("c", 2)
	root = ws.ctlTreeJSON()
	if root.find("site/sub/b").pid() != b2.pid || root.find("site/sub/c").pid() != c2.pid || root.find("site/sub").AdminStopped {
		t.Errorf("after start site/sub: %+v %+v, want pids %d %d", root.find("site/sub/b"), root.find("site/sub/c"), b2.pid, c2.pid)
	}

	// The root.
	ws.mustCtl("stop", "site")
	for _, l := range []readyLine{first["a"], b2, c2} {
		requireDead(t, l.pid, l.name+" after stop site")
		requireGroupEmpty(t, l.pgid)
	}
	if d.exited() {
		t.Fatal("the daemon exited after stop of the root")
	}
	root = ws.ctlTreeJSON()
	if root.State != "stopped" || root.Expected != "stopped" || !root.AdminStopped {
		t.Errorf("root after stop: %+v", root)
	}
	if r := ws.ctl("status"); r.code != 0 {
		t.Errorf("status after stop site: exit status %d, want 0:\n%s", r.code, r.stdout)
	}
	// A node under the stopped root cannot be started alone.
	if r := ws.ctl("start", "site/a"); r.code != 1 {
		t.Errorf("start site/a under the stopped root: exit status %d, want 1", r.code)
	}

	ws.mustCtl("start", "site")
	a3, b3, c3 := d.waitReady("a", 2), d.waitReady("b", 3), d.waitReady("c", 3)
	root = ws.ctlTreeJSON()
	for p, l := range map[string]readyLine{"site/a": a3, "site/sub/b": b3, "site/sub/c": c3} {
		if n := root.find(p); n.State != "running" || n.pid() != l.pid {
			t.Errorf("%s after start site: %+v, want running with pid %d", p, n, l.pid)
		}
	}
	if root.State != "running" || root.AdminStopped {
		t.Errorf("root after start: %+v", root)
	}
	d.stop()
	ws.requireAllDead()
}

// TestControlRestart: `restart PATH` gives the node a new process and is
// not a failure: a supervisor of intensity 0 survives several. Unknown
// paths exit 1.
func TestControlRestart(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	d := ws.startDaemon(ws.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: z
      intensity: 0
      children:
        - name: r
          command: %s
        - name: s
          command: %s
`, ws.cmd("r"), ws.cmd("s"))))
	d.ctlWaitUp()
	prev, s := d.waitReady("r", 1), d.waitReady("s", 1)
	for i := 2; i <= 4; i++ {
		ws.mustCtl("restart", "site/z/r")
		evs := until(t, d.events, is("started", "node", "site/z/r"))
		if bad := only(evs, oneOf("restarting", "giving up")); len(bad) > 0 {
			t.Fatalf("restart %d counted as a failure: %v", i-1, bad)
		}
		next := d.waitReady("r", i)
		if next.pid == prev.pid {
			t.Fatalf("restart %d: same pid %d", i-1, next.pid)
		}
		requireDead(t, prev.pid, "r's previous process")
		if n := ws.ctlNodeAt("site/z/r"); n.pid() != next.pid || n.State != "running" {
			t.Errorf("r after restart %d: %+v, want running with pid %d", i-1, n, next.pid)
		}
		prev = next
	}
	if z := ws.ctlNodeAt("site/z"); z.State != "running" || z.Restarts != 0 {
		t.Errorf("z after operator restarts: %+v, want running, never restarted", z)
	}
	if w := ws.ctlWhyOf("site/z/r"); w.Used != 0 {
		t.Errorf("why site/z/r: %d restarts used of z's budget, want 0 (operator restarts do not count)", w.Used)
	}
	requireAlive(t, s.pid, "s (a restart of r must not touch it)")
	if n := len(ws.runs("s")); n != 1 {
		t.Errorf("s ran %d times, want 1", n)
	}
	for _, verb := range []string{"start", "stop", "restart"} {
		for _, p := range []string{"site/nope", "nope", "site/z/r/x"} {
			if r := ws.ctl(verb, p); r.code != 1 {
				t.Errorf("%s %s: exit status %d, want 1", verb, p, r.code)
			}
		}
	}
	d.stop()
	ws.requireAllDead()
}

// TestControlReload: reload starts added nodes, stops removed ones,
// restarts changed ones (with what rest_for_one restarts after them) and
// nothing else; a bad config is refused with file:line and changes
// nothing; SIGHUP does the same as `otpsv reload`.
func TestControlReload(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	tree := func(a, b string, gone, added bool, y string) string {
		var s strings.Builder
		fmt.Fprintf(&s, "tree:\n  name: site\n  children:\n")
		fmt.Fprintf(&s, "    - name: a\n      command: %s\n", a)
		fmt.Fprintf(&s, "    - name: b\n      command: %s\n", b)
		if gone {
			fmt.Fprintf(&s, "    - name: gone\n      command: %s\n", ws.cmd("gone"))
		}
		fmt.Fprintf(&s, "    - name: sub\n      strategy: rest_for_one\n      children:\n")
		fmt.Fprintf(&s, "        - name: x\n          command: %s\n", ws.cmd("x"))
		fmt.Fprintf(&s, "        - name: y\n          command: %s\n", y)
		fmt.Fprintf(&s, "        - name: z\n          command: %s\n", ws.cmd("z"))
		if added {
			fmt.Fprintf(&s, "    - name: added\n      command: %s\n", ws.cmd("added"))
		}
		return s.String()
	}
	a, bOld, bNew := ws.cmd("a"), ws.cmd("b"), ws.cmd("b", "-log-line", "v2")
	yOld, yNew := ws.cmd("y"), ws.cmd("y", "-log-line", "v2")
	d := ws.startDaemon(ws.config(tree(a, bOld, true, false, yOld)))
	d.ctlWaitUp()
	pid := map[string]readyLine{}
	for _, n := range []string{"a", "b", "gone", "x", "y", "z"} {
		pid[n] = d.waitReady(n, 1)
	}

	// Add, remove, change.
	ws.config(tree(a, bNew, false, true, yOld))
	ws.mustCtl("reload")
	added := d.waitReady("added", 1)
	b2 := d.waitReady("b", 2)
	requireDead(t, pid["gone"].pid, "removed node gone")
	requireGroupEmpty(t, pid["gone"].pgid)
	root := ws.ctlTreeJSON()
	if root.find("site/gone") != nil {
		t.Errorf("removed node still in the tree: %+v", root.find("site/gone"))
	}
	if n := root.find("site/added"); n == nil || n.State != "running" || n.pid() != added.pid {
		t.Errorf("added node: %+v, want running with pid %d", n, added.pid)
	}
	if n := root.find("site/b"); n.pid() != b2.pid || b2.pid == pid["b"].pid {
		t.Errorf("changed node b: %+v, want a new pid %d (was %d)", n, b2.pid, pid["b"].pid)
	}
	for _, name := range []string{"a", "x", "y", "z"} {
		requireAlive(t, pid[name].pid, name+" (unchanged)")
		if n := len(ws.runs(name)); n != 1 {
			t.Errorf("unchanged %s ran %d times, want 1", name, n)
		}
	}
	if n := root.find("site/a"); n.pid() != pid["a"].pid {
		t.Errorf("unchanged a: pid %d, want %d", n.pid(), pid["a"].pid)
	}
	waitFor(t, d.events, is("reload applied"))

	// rest_for_one: changing y restarts y and z (z stopped first), not x.
	ws.config(tree(a, bNew, false, true, yNew))
	ws.mustCtl("reload")
	evs := until(t, d.events, is("reload applied"))
	stopped := field(only(evs, is("stopped")), "node")
	started := field(only(evs, is("started")), "node")
	if !slices.Equal(stopped, []string{"site/sub/z", "site/sub/y"}) || !slices.Equal(started, []string{"site/sub/y", "site/sub/z"}) {
		t.Errorf("reload of y under rest_for_one: stopped %v, started %v; want [site/sub/z site/sub/y] then [site/sub/y site/sub/z]", stopped, started)
	}
	y2, z2 := d.waitReady("y", 2), d.waitReady("z", 2)
	requireAlive(t, pid["x"].pid, "x (before y under rest_for_one)")
	root = ws.ctlTreeJSON()
	if root.find("site/sub/x").pid() != pid["x"].pid || root.find("site/sub/y").pid() != y2.pid || root.find("site/sub/z").pid() != z2.pid {
		t.Errorf("after reload of y: x %d y %d z %d, want %d %d %d", root.find("site/sub/x").pid(), root.find("site/sub/y").pid(),
			root.find("site/sub/z").pid(), pid["x"].pid, y2.pid, z2.pid)
	}
	for _, n := range []string{"a", "added"} {
		if got := len(ws.runs(n)); got != 1 {
			t.Errorf("%s ran %d times, want 1", n, got)
		}
	}

	// A bad config is refused, naming file and line; nothing changes.
	snapshot := func(root *ctlNode) map[string]int {
		m := map[string]int{}
		root.walk(func(n *ctlNode, _ int) { m[n.Path] = n.pid() })
		return m
	}
	beforeBad := snapshot(ws.ctlTreeJSON())
	good := tree(a, bNew, false, true, yNew)
	bad := strings.Replace(good, "    - name: added\n", "    - name: added\n      bogus: 1\n", 1) +
		fmt.Sprintf("    - name: never\n      command: %s\n", ws.cmd("never"))
	cfg := ws.config(bad)
	line := 0
	for i, l := range ctlLines(readFile(t, cfg)) {
		if strings.Contains(l, "bogus:") {
			line = i + 1
		}
	}
	r := ws.ctl("reload")
	if r.code != 1 {
		t.Errorf("reload of a bad config: exit status %d, want 1", r.code)
	}
	if want := fmt.Sprintf("otpsv.yaml:%d", line); !strings.Contains(r.stderr, want) {
		t.Errorf("reload of a bad config: stderr %q does not name %s", r.stderr, want)
	}
	if after := snapshot(ws.ctlTreeJSON()); !maps.Equal(beforeBad, after) {
		t.Errorf("a refused reload changed the tree: before %v, after %v", beforeBad, after)
	}
	if n := len(ws.runs("never")); n != 0 {
		t.Errorf("a refused reload started a node")
	}

	// SIGHUP: the same, from the config file.
	ws.config(good + fmt.Sprintf("    - name: hup\n      command: %s\n", ws.cmd("hup")))
	d.signal(syscall.SIGHUP)
	root = ws.ctlWaitTree("hup added by SIGHUP and running", func(root *ctlNode) bool {
		n := root.find("site/hup")
		return n != nil && n.State == "running" && n.pid() != 0
	})
	if hup := d.waitReady("hup", 1); root.find("site/hup").pid() != hup.pid {
		t.Errorf("hup: tree pid %d, process %d", root.find("site/hup").pid(), hup.pid)
	}
	waitFor(t, d.events, is("reload applied"))
	if after := snapshot(ws.ctlTreeJSON()); after["site/a"] != beforeBad["site/a"] || after["site/sub/x"] != beforeBad["site/sub/x"] {
		t.Errorf("SIGHUP reload touched unchanged nodes: before %v, after %v", beforeBad, after)
	}
	if d.exited() {
		t.Fatal("the daemon exited on SIGHUP")
	}
	d.stop()
	ws.requireAllDead()
}

// TestControlWhy: after a SIGKILL, why shows the failure, the strategy and
// the restart budget; the sibling one_for_all restarted with it says why.
func TestControlWhy(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	d, first := ws.startCtlTree()
	if err := syscall.Kill(first["b"].pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, d.events, is("started", "node", "site/sub/c"))
	d.waitReady("b", 2)
	d.waitReady("c", 2)

	r := ws.mustCtl("why", "site/sub/b")
	for _, want := range []string{"failed", "killed by signal KILL", "one_for_all", "site/sub", "4 of 5"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("why site/sub/b does not say %q:\n%s", want, r.stdout)
		}
	}
	r = ws.mustCtl("why", "site/sub/c")
	if !regexp.MustCompile(`restarted because site/sub/b failed`).MatchString(r.stdout) || !strings.Contains(r.stdout, "killed by signal KILL") {
		t.Errorf("why site/sub/c does not say it was restarted because b failed:\n%s", r.stdout)
	}

	wb := ws.ctlWhyOf("site/sub/b")
	if wb.Node == nil || wb.Node.Path != "site/sub/b" || wb.Supervisor != "site/sub" || wb.Intensity != 5 || wb.Used != 1 || wb.Left != 4 {
		t.Errorf("why --json site/sub/b: %+v, want node site/sub/b, supervisor site/sub, intensity 5, used 1, left 4", wb)
	}
	if len(wb.History) != 1 {
		t.Fatalf("why --json site/sub/b: history %+v, want one entry", wb.History)
	}
	if h := wb.History[0]; h.Event != "failed" || h.Detail != "killed by signal KILL" || h.Strategy != "one_for_all" ||
		h.Supervisor != "site/sub" || h.Action != "restart" || !slices.Equal(h.Restarted, []string{"site/sub/b", "site/sub/c"}) || h.Budget != 4 {
		t.Errorf("why --json site/sub/b: entry %+v", h)
	}
	wc := ws.ctlWhyOf("site/sub/c")
	if len(wc.History) != 1 || wc.History[0].Event != "restarted" || wc.History[0].Cause != "site/sub/b" {
		t.Errorf("why --json site/sub/c: history %+v, want one \"restarted\" entry caused by site/sub/b", wc.History)
	}
	if wa := ws.ctlWhyOf("site/a"); len(wa.History) != 0 || wa.Supervisor != "site" {
		t.Errorf("why --json site/a: %+v, want no history, supervisor site", wa)
	}
	for _, p := range []string{"site/nope", "site/sub/b/x"} {
		if r := ws.ctl("why", p); r.code != 1 {
			t.Errorf("why %s: exit status %d, want 1", p, r.code)
		}
	}
	d.stop()
	ws.requireAllDead()
}

// TestControlWhyBudgetAfterEscalation: a supervisor that gave up is
// restarted fresh, with an empty restart history (SPEC §3), so `why` must
// show its whole budget left, consistent with what it does next: one more
// failure is restarted, not given up on.
func TestControlWhyBudgetAfterEscalation(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	d := ws.startDaemon(ws.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: sub
      intensity: 1
      period: 60s
      children:
        - name: w
          command: %s
`, ws.cmd("w"))))
	d.ctlWaitUp()
	w := d.waitReady("w", 1)
	for i := 2; i <= 3; i++ { // the second failure is one too many
		if err := syscall.Kill(w.pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		w = d.waitReady("w", i)
	}
	waitFor(t, d.events, is("giving up", "supervisor", "site/sub"))
	waitFor(t, d.events, is("started", "node", "site/sub/w"))
	got := ws.ctlWhyOf("site/sub/w")
	if got.Used != 0 || got.Left != 1 {
		t.Errorf("why site/sub/w after site/sub was restarted fresh: used %d, left %d; want used 0, left 1", got.Used, got.Left)
	}
	// What the fresh supervisor does: it restarts w once more.
	if err := syscall.Kill(w.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	decision := waitFor(t, d.events, oneOf("restarting", "giving up"))
	if decision.msg() != "restarting" || decision.str("supervisor") != "site/sub" {
		t.Fatalf("after escalation, site/sub decided %v, want restarting", decision)
	}
	d.waitReady("w", 4)
	if got := ws.ctlWhyOf("site/sub/w"); got.Used != 1 || got.Left != 0 {
		t.Errorf("why site/sub/w after one failure under the fresh site/sub: used %d, left %d; want 1 and 0", got.Used, got.Left)
	}
	d.stop()
	ws.requireAllDead()
}

// TestControlStopFailedNode: an operator's stop makes a node expected
// stopped and counted as such by status/check (SPEC §3), also when it had
// already failed and was not restarted (a temporary worker), alone or
// under a stopped supervisor.
func TestControlStopFailedNode(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	d := ws.startDaemon(ws.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: keep
      command: %s
    - name: t1
      restart: temporary
      command: %s
    - name: sub
      children:
        - name: t2
          restart: temporary
          command: %s
`, ws.cmd("keep"), ws.cmd("t1", "-exit-after", "100ms", "-code", "1"), ws.cmd("t2", "-exit-after", "100ms", "-code", "1"))))
	d.ctlWaitUp()
	ctlWaitAll(t, d.events, is("not restarting", "child", "site/t1"), is("not restarting", "child", "site/sub/t2"))
	if r := ws.ctl("status", "site/t1"); r.code != 1 {
		t.Fatalf("status of a crashed temporary worker: exit status %d, want 1", r.code)
	}
	ws.mustCtl("stop", "site/t1")
	ws.mustCtl("stop", "site/sub")
	for _, p := range []string{"site/t1", "site/sub"} {
		if r := ws.ctl("status", p); r.code != 0 {
			t.Errorf("status %s after otpsv stop %s: exit status %d, want 0 (stopped by an operator):\n%s", p, p, r.code, r.stdout)
		}
	}
	if r := ws.ctl("check"); r.code != 0 {
		t.Errorf("check after stopping every failed node: exit status %d, want 0:\n%s", r.code, r.stdout)
	}
	d.stop()
	ws.requireAllDead()
}

// TestControlSocketModes: the socket is 0600 in a 0700 state_dir; another
// uid cannot connect, and when the modes are opened it is refused by
// SO_PEERCRED with 403 and cannot act.
func TestControlSocketModes(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	d, first := ws.startCtlTree()
	fi, err := os.Lstat(ws.ctlSock())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	if fi, err := os.Stat(ws.stateDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state_dir mode %v (%v), want 0700", fi.Mode(), err)
	}

	t.Run("other uid", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("needs root to run a client as another uid")
		}
		setpriv, err1 := exec.LookPath("setpriv")
		curl, err2 := exec.LookPath("curl")
		if err1 != nil || err2 != nil {
			t.Skip("needs setpriv and curl")
		}
		// The other uid must reach the state_dir: every directory above
		// it searchable by others (the test's own temp dirs are opened).
		restore := map[string]os.FileMode{}
		defer func() {
			for dir, m := range restore {
				_ = os.Chmod(dir, m)
			}
		}()
		for _, dir := range []string{ws.dir, filepath.Dir(ws.dir)} {
			fi, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			restore[dir] = fi.Mode().Perm()
			if err := os.Chmod(dir, fi.Mode().Perm()|0o011); err != nil {
				t.Fatal(err)
			}
		}
		for dir := filepath.Dir(filepath.Dir(ws.dir)); ; dir = filepath.Dir(dir) {
			if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm()&0o001 == 0 {
				t.Skipf("%s is not searchable by other users", dir)
			}
			if dir == "/" {
				break
			}
		}
		asNobody := func(args ...string) (string, int) {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), commandGuard)
			defer cancel()
			argv := append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", curl, "-s", "-m", "10", "-w", "\n%{http_code}", "--unix-socket", ws.ctlSock()}, args...)
			cmd := exec.CommandContext(ctx, setpriv, argv...)
			var out bytes.Buffer
			cmd.Stdout = &out
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("curl as uid 65534: no exit within %v", commandGuard)
			}
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatalf("setpriv: %v", err)
			}
			return out.String(), code
		}

		// As set up by the daemon: 0600 socket in a 0700 dir.
		out, code := asNobody("http://otpsv/v1/tree")
		if code == 0 && !strings.HasSuffix(out, "\n000") || strings.Contains(out, `"path"`) {
			t.Errorf("another uid read the tree through the 0600 socket (curl exit %d):\n%s", code, out)
		}

		// Opened modes: the connection is made, SO_PEERCRED refuses it.
		if err := os.Chmod(ws.stateDir, 0o711); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(ws.ctlSock(), 0o666); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = os.Chmod(ws.ctlSock(), 0o600)
			_ = os.Chmod(ws.stateDir, 0o700)
		}()
		// Every refused client is told so: a few tries, each must get
		// the 403 (not a connection closed before it could read it).
		const tries = 5
		var answers []string
		denied := 0
		for range tries {
			out, code := asNobody("http://otpsv/v1/tree")
			if strings.Contains(out, `"path"`) {
				t.Fatalf("GET /v1/tree as uid 65534 got the tree:\n%s", out)
			}
			if strings.HasSuffix(out, "\n403") && strings.Contains(out, "permission denied") {
				denied++
			}
			answers = append(answers, fmt.Sprintf("curl exit %d: %q", code, out))
		}
		if denied != tries {
			t.Errorf("GET /v1/tree as uid 65534: %d of %d tries answered 403 permission denied, want all; answers:\n%s",
				denied, tries, strings.Join(answers, "\n"))
		}
		e := waitFor(t, d.events, is("control: refused a client"))
		if e.num("uid") != 65534 {
			t.Errorf("refusal logged with uid %v, want 65534", e["uid"])
		}
		out, _ = asNobody("-X", "POST", "-H", "Content-Type: application/json", "-d", `{"verb":"stop","path":"site/a"}`, "http://otpsv/v1/command")
		if strings.HasSuffix(out, "\n200") {
			t.Errorf("POST /v1/command as uid 65534 answered 200:\n%s", out)
		}
		requireAlive(t, first["a"].pid, "a (another uid asked to stop it)")
		if n := ws.ctlNodeAt("site/a"); n.State != "running" || n.pid() != first["a"].pid {
			t.Errorf("a after another uid's stop: %+v", n)
		}
	})

	// Still serving its own uid.
	if r := ws.ctl("status"); r.code != 0 {
		t.Errorf("status after the refusals: exit status %d", r.code)
	}
	d.stop()
	ws.requireAllDead()
}

// TestControlBadRequests: malformed requests get a 4xx with a JSON error
// and change nothing; the daemon keeps serving.
func TestControlBadRequests(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	d, first := ws.startCtlTree()

	// A client that connects and stalls must not block the others.
	stall, err := net.Dial("unix", ws.ctlSock())
	if err != nil {
		t.Fatal(err)
	}
	defer stall.Close()
	if _, err := stall.Write([]byte("POST /v1/command HTTP/1.1\r\nHost: otpsv\r\nContent-Length: 100\r\n\r\n{")); err != nil {
		t.Fatal(err)
	}

	big := append(append([]byte("{"), bytes.Repeat([]byte(" "), 70<<10)...), []byte(`"verb":"stop","path":"site/a"}`)...)
	for _, tc := range []struct {
		name, method, target string
		body                 []byte
		codes                []int // acceptable
	}{
		{"bad JSON", "POST", "/v1/command", []byte(`{"verb":"stop",`), []int{400}},
		{"not JSON", "POST", "/v1/command", []byte(`stop site/a`), []int{400}},
		{"empty body", "POST", "/v1/command", []byte{}, []int{400}},
		{"unknown verb", "POST", "/v1/command", []byte(`{"verb":"explode","path":"site/a"}`), []int{400}},
		{"no verb", "POST", "/v1/command", []byte(`{"path":"site/a"}`), []int{400}},
		{"wrong type", "POST", "/v1/command", []byte(`{"verb":["stop"],"path":"site/a"}`), []int{400}},
		{"unknown path", "POST", "/v1/command", []byte(`{"verb":"stop","path":"site/nope"}`), []int{404}},
		{"oversized body", "POST", "/v1/command", big, []int{400, 413}},
		{"unknown tree path", "GET", "/v1/tree?path=site/nope", nil, []int{404}},
		{"why without path", "GET", "/v1/why", nil, []int{400, 404}},
		{"why unknown path", "GET", "/v1/why?path=" + url.QueryEscape("site/a/x"), nil, []int{404}},
		{"GET command", "GET", "/v1/command", nil, []int{405}},
		{"unknown endpoint", "GET", "/v1/nothing", nil, []int{404}},
	} {
		code, body := ws.ctlRequest(tc.method, tc.target, tc.body)
		if !slices.Contains(tc.codes, code) {
			t.Errorf("%s: status %d, want one of %v; body %s", tc.name, code, tc.codes, body)
			continue
		}
		if code == 405 || tc.name == "unknown endpoint" {
			continue // the mux's own answers are plain text
		}
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
			t.Errorf("%s: body %q is not a JSON error", tc.name, body)
		}
	}

	// Nothing was acted on, and the daemon serves as before.
	requireAlive(t, first["a"].pid, "a")
	if n := len(ws.runs("a")); n != 1 {
		t.Errorf("a ran %d times, want 1", n)
	}
	code, body := ws.ctlRequest("GET", "/v1/info", nil)
	var info struct {
		Pid int `json:"pid"`
	}
	if code != 200 || json.Unmarshal(body, &info) != nil || info.Pid != d.pid() {
		t.Errorf("GET /v1/info: %d %s, want 200 with pid %d", code, body, d.pid())
	}
	if r := ws.ctl("status"); r.code != 0 {
		t.Errorf("status after the bad requests: exit status %d:\n%s", r.code, r.stdout)
	}
	_ = stall.Close()
	code, body = ws.ctlRequest("POST", "/v1/command", []byte(`{"verb":"restart","path":"site/a"}`))
	if code != 200 {
		t.Errorf("a good command after the bad ones: %d %s", code, body)
	}
	d.waitReady("a", 2)
	d.stop()
	ws.requireAllDead()
}
