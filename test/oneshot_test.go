package test

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// slowReady is a readiness command that makes a pass wait a second for
// each worker that starts (passes then hold the state_dir's lock).
const slowReady = `["sh", "-c", "sleep 1"]`

// TestOneshotPasses: the first pass starts every worker detached (its own
// session), one line each; a pass with nothing to do prints nothing and
// keeps the pids; a worker killed between passes is found dead and
// restarted by its supervisor's strategy, one line per started worker.
func TestOneshotPasses(t *testing.T) {
	begin(t)
	for _, tc := range []struct {
		strategy  string
		restarted []string // after b is killed, in order
	}{
		{"one_for_one", []string{"b"}},
		{"rest_for_one", []string{"b", "c"}},
		{"one_for_all", []string{"a", "b", "c"}},
	} {
		t.Run(tc.strategy, func(t *testing.T) {
			t.Parallel()
			ws := newPassWorkspace(t)
			cfg := ws.config(fmt.Sprintf(`tree:
  name: site
  strategy: %s
  children:
    - name: a
      command: %s
    - name: b
      command: %s
    - name: c
      command: %s
`, tc.strategy, ws.cmd("a"), ws.cmd("b"), ws.cmd("c")))
			names := []string{"a", "b", "c"}

			// First pass: everything started, detached.
			r := ws.oneshot(cfg)
			if r.code != 0 {
				t.Fatalf("first pass: exit %d, stderr %q", r.code, r.stderr)
			}
			pids := startedPids(t, actions(r.stdout), "site/a", "site/b", "site/c")
			for _, l := range actions(r.stdout) {
				if _, _, why, _ := started(l); why != "was not running" {
					t.Errorf("first pass line %q: want reason \"was not running\"", l)
				}
			}
			for _, n := range names {
				run := ws.waitRun(n, 1)
				if run.pid != pids["site/"+n] {
					t.Errorf("%s: pass said pid %d, the process is %d", n, pids["site/"+n], run.pid)
				}
				requireAlive(t, run.pid, n)
				if sid, ok := sessionOf(run.pid); !ok || sid != run.pid {
					t.Errorf("%s (pid %d) is in session %d, want a session of its own", n, run.pid, sid)
				}
			}
			ws.requireRunning(cfg, pids)

			// Nothing to do: silent, same processes.
			ws.quietPass(cfg)
			for _, n := range names {
				requireAlive(t, pids["site/"+n], n)
				if got := len(ws.runs(n)); got != 1 {
					t.Errorf("%s ran %d times after a quiet pass, want 1", n, got)
				}
			}
			ws.requireRunning(cfg, pids)

			// b dies between passes.
			ws.killWorker(pids["site/b"], "b")
			r = ws.oneshot(cfg)
			if r.code != 0 {
				t.Fatalf("pass after a kill: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			var paths []string
			for _, n := range tc.restarted {
				paths = append(paths, "site/"+n)
			}
			lines := actions(r.stdout)
			newPids := startedPids(t, lines, paths...)
			for i, l := range lines {
				_, _, why, _ := started(l)
				want := fmt.Sprintf("restarted with site/b, which failed (%s)", tc.strategy)
				if paths[i] == "site/b" {
					want = fmt.Sprintf("restarted (%s): found dead (pid %d is gone)", tc.strategy, pids["site/b"])
				}
				if why != want {
					t.Errorf("line %q: want reason %q", l, want)
				}
			}
			for _, n := range names {
				path := "site/" + n
				if slices.Contains(tc.restarted, n) {
					run := ws.waitRun(n, 2)
					if run.pid != newPids[path] || run.pid == pids[path] {
						t.Errorf("%s: restarted as pid %d (pass said %d), was %d", n, run.pid, newPids[path], pids[path])
					}
					requireDead(t, pids[path], "old "+n)
					pids[path] = run.pid
				} else {
					requireAlive(t, pids[path], n)
				}
			}
			ws.requireOneEach(names...)
			ws.requireRunning(cfg, pids)
			ws.quietPass(cfg)
		})
	}
}

// TestOneshotWaitsForReadiness: a pass that starts a worker with a status
// command waits for it to become ready before it judges the tree, under
// one_for_one too.
func TestOneshotWaitsForReadiness(t *testing.T) {
	begin(t)
	ws := newPassWorkspace(t)
	cfg := ws.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: a
      command: %s
      status: %s
`, ws.cmd("a"), slowReady))
	r := ws.oneshot(cfg)
	if r.code != 0 {
		t.Fatalf("pass: exit %d, stdout %q, stderr %q; want 0 once a is ready", r.code, r.stdout, r.stderr)
	}
	pids := startedPids(t, actions(r.stdout), "site/a")
	ws.requireRunning(cfg, pids)
	ws.quietPass(cfg)
}

// TestOneshotCrashLoop: restarts are counted across passes; the restart
// beyond the intensity makes the root give up (exit 1, a "gave up"
// line, every worker stopped); the root then stays down, each pass
// exiting 1 without starting anything, and check says CRITICAL.
func TestOneshotCrashLoop(t *testing.T) {
	begin(t)
	ws := newPassWorkspace(t)
	cfg := ws.config(fmt.Sprintf(`tree:
  name: site
  intensity: 2
  period: 60s
  children:
    - name: a
      command: %s
    - name: b
      command: %s
`, ws.cmd("a"), ws.cmd("b")))
	if r := ws.oneshot(cfg); r.code != 0 {
		t.Fatalf("first pass: exit %d, stderr %q", r.code, r.stderr)
	}
	ws.waitRun("b", 1)
	for i := 1; i <= 2; i++ {
		ws.killWorker(ws.waitRun("a", i).pid, "a")
		r := ws.oneshot(cfg)
		if r.code != 0 {
			t.Fatalf("pass after kill %d: exit %d, stdout %q, stderr %q", i, r.code, r.stdout, r.stderr)
		}
		startedPids(t, actions(r.stdout), "site/a")
	}
	ws.killWorker(ws.waitRun("a", 3).pid, "a")
	r := ws.oneshot(cfg)
	if r.code != 1 {
		t.Fatalf("pass after the 3rd kill: exit %d, stdout %q, stderr %q; want 1 (root gave up)", r.code, r.stdout, r.stderr)
	}
	lines := actions(r.stdout)
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "site: gave up: ") }) {
		t.Errorf("pass after the 3rd kill printed %q, want a line starting %q", lines, "site: gave up: ")
	}
	for _, l := range lines {
		if _, _, _, ok := started(l); ok {
			t.Errorf("the pass where the root gave up started something: %q", l)
		}
	}
	ws.requireAllDead()

	// Stays down.
	r = ws.oneshot(cfg)
	if r.code != 1 || r.stdout != "" {
		t.Errorf("pass while the root stays down: exit %d, stdout %q, stderr %q; want exit 1 and nothing started", r.code, r.stdout, r.stderr)
	}
	if got := len(ws.runs("a")) + len(ws.runs("b")); got != 4 {
		t.Errorf("%d runs in all, want 4 (a 3 times, b once)", got)
	}
	c := otpsv(t, ws.dir, "check", "-c", cfg)
	if c.code != 2 || !strings.HasPrefix(c.stdout, "CRITICAL") {
		t.Errorf("check: exit %d, stdout %q; want 2 and a line starting CRITICAL", c.code, c.stdout)
	}
	ws.requireAllDead()
}

// TestOneshotEscalation: a sub-supervisor that exceeds its intensity
// across passes gives up (stopping its children), its parent restarts
// it fresh (its children start again, its restart history empty), and
// the pass exits 1 because a supervisor gave up.
func TestOneshotEscalation(t *testing.T) {
	begin(t)
	ws := newPassWorkspace(t)
	cfg := ws.config(fmt.Sprintf(`tree:
  name: site
  intensity: 5
  period: 60s
  children:
    - name: top
      command: %s
    - name: sub
      intensity: 1
      period: 60s
      children:
        - name: x
          command: %s
        - name: y
          command: %s
`, ws.cmd("top"), ws.cmd("x"), ws.cmd("y")))
	if r := ws.oneshot(cfg); r.code != 0 {
		t.Fatalf("first pass: exit %d, stderr %q", r.code, r.stderr)
	}
	top, y := ws.waitRun("top", 1).pid, ws.waitRun("y", 1).pid

	ws.killWorker(ws.waitRun("x", 1).pid, "x")
	r := ws.oneshot(cfg)
	if r.code != 0 {
		t.Fatalf("pass after the 1st kill: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	startedPids(t, actions(r.stdout), "site/sub/x")

	ws.killWorker(ws.waitRun("x", 2).pid, "x")
	r = ws.oneshot(cfg)
	if r.code != 1 {
		t.Fatalf("pass after the 2nd kill: exit %d, stdout %q, stderr %q; want 1 (site/sub gave up)", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "site/sub") {
		t.Errorf("stderr %q does not name the supervisor that gave up", r.stderr)
	}
	lines := actions(r.stdout)
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "site/sub: gave up: ") {
		t.Fatalf("pass printed %q, want first a line starting %q", lines, "site/sub: gave up: ")
	}
	pids := startedPids(t, lines[1:], "site/sub/x", "site/sub/y")
	requireDead(t, y, "y of before site/sub gave up")
	requireAlive(t, top, "top")
	if got := len(ws.runs("top")); got != 1 {
		t.Errorf("top ran %d times, want 1 (only site/sub was restarted)", got)
	}
	pids["site/top"] = top
	ws.waitRun("x", 3)
	ws.waitRun("y", 2)
	ws.requireOneEach("top", "x", "y")
	ws.requireRunning(cfg, pids)
	ws.quietPass(cfg)

	// Restarted fresh: one restart is within site/sub's budget again.
	ws.killWorker(ws.waitRun("x", 3).pid, "x")
	r = ws.oneshot(cfg)
	if r.code != 0 {
		t.Fatalf("pass after a kill following the escalation: exit %d, stdout %q, stderr %q; want 0 (fresh history)", r.code, r.stdout, r.stderr)
	}
	startedPids(t, actions(r.stdout), "site/sub/x")
	ws.waitRun("x", 4)
	ws.requireOneEach("top", "x", "y")
}

// TestOneshotConcurrentPasses: of two passes started together on one
// state_dir, one runs and the other exits 75 naming the first one's pid.
func TestOneshotConcurrentPasses(t *testing.T) {
	begin(t)
	ws := newPassWorkspace(t)
	cfg := ws.config(fmt.Sprintf(`tree:
  name: site
  strategy: rest_for_one
  children:
    - name: a
      command: %s
      status: %s
    - name: b
      command: %s
      status: %s
`, ws.cmd("a"), slowReady, ws.cmd("b"), slowReady))
	p1, p2 := ws.startPass(cfg), ws.startPass(cfg)
	r1, r2 := p1.wait(), p2.wait()
	win, lose, winner := r1, r2, p1
	if r2.code == 0 {
		win, lose, winner = r2, r1, p2
	}
	if win.code != 0 || lose.code != 75 {
		t.Fatalf("exit statuses %d and %d, want 0 and 75\npass 1 stderr %q\npass 2 stderr %q", r1.code, r2.code, r1.stderr, r2.stderr)
	}
	if want := "pid " + strconv.Itoa(winner.pid()); !strings.Contains(lose.stderr, want) {
		t.Errorf("refused pass's stderr %q does not name the holder (%s)", lose.stderr, want)
	}
	if lose.stdout != "" {
		t.Errorf("refused pass printed %q", lose.stdout)
	}
	startedPids(t, actions(win.stdout), "site/a", "site/b")
	ws.requireOneEach("a", "b")
}

// TestOneshotWhileDaemon: a pass on the state_dir of a running daemon
// exits 75 naming the daemon's pid, and changes nothing.
func TestOneshotWhileDaemon(t *testing.T) {
	begin(t)
	ws := newPassWorkspace(t)
	cfg := ws.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: a
      command: %s
`, ws.cmd("a")))
	d := ws.startDaemon(cfg)
	waitFor(t, d.events, is("tree started"))
	a := d.waitReady("a", 1)
	r := ws.oneshot(cfg)
	if r.code != 75 {
		t.Fatalf("pass while a daemon runs: exit %d, stdout %q, stderr %q; want 75", r.code, r.stdout, r.stderr)
	}
	if want := "pid " + strconv.Itoa(d.pid()); !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q does not name the daemon (%s)", r.stderr, want)
	}
	if r.stdout != "" {
		t.Errorf("refused pass printed %q", r.stdout)
	}
	requireAlive(t, a.pid, "a")
	d.stop()
	if got := len(ws.runs("a")); got != 1 {
		t.Errorf("a ran %d times, want 1", got)
	}
	ws.requireAllDead()
}

// TestOneshotKilledMidPass: otpsv killed with SIGKILL in the middle of a
// pass leaves a readable store, and the next pass completes the tree
// without running any worker twice.
func TestOneshotKilledMidPass(t *testing.T) {
	begin(t)
	for _, tc := range []struct {
		name string
		// kill kills the pass, by pid, once b has started.
		kill func(t *testing.T, ws *workspace, cfg string)
	}{
		// b is up (its ready line is written): the pass is waiting for
		// b's readiness command.
		{"b ready", func(t *testing.T, ws *workspace, cfg string) {
			p := ws.startPass(cfg)
			ws.waitRun("b", 1)
			p.kill9()
		}},
		// The pass has started b and is writing the line that says so
		// (its stdout blocks there: a kill -9 can come at any moment).
		{"b being reported", func(t *testing.T, ws *workspace, cfg string) {
			p := ws.startStuckPass(cfg)
			ws.waitRun("b", 1)
			out := p.kill9()
			if lines := actions(out); len(lines) != 1 || !strings.HasPrefix(lines[0], "site/a: started") {
				t.Fatalf("stdout of the killed pass = %q, want only the line of site/a", out)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ws := newPassWorkspace(t)
			cfg := ws.config(fmt.Sprintf(`tree:
  name: site
  strategy: rest_for_one
  children:
    - name: a
      command: %s
      status: %s
    - name: b
      command: %s
      status: %s
    - name: c
      command: %s
      status: %s
`, ws.cmd("a"), slowReady, ws.cmd("b"), slowReady, ws.cmd("c"), slowReady))
			tc.kill(t, ws, cfg)

			// The store is readable.
			if r := otpsv(t, ws.dir, "status", "-c", cfg); r.code > 1 {
				t.Fatalf("status after the kill: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			nodes := ws.treeJSON(cfg)
			pidOf := func(n jsonNode) string {
				if n.Pid == nil {
					return "null"
				}
				return strconv.Itoa(*n.Pid)
			}
			t.Logf("saved state after the kill: a %s pid %s, b %s pid %s (b runs as %d), c %s",
				nodes["site/a"].State, pidOf(nodes["site/a"]), nodes["site/b"].State, pidOf(nodes["site/b"]),
				ws.lastRun("b"), nodes["site/c"].State)

			r := ws.oneshot(cfg)
			if r.code != 0 {
				t.Errorf("pass after the kill: exit %d, stdout %q, stderr %q; want 0", r.code, r.stdout, r.stderr)
			}
			ws.waitRun("c", 1)
			ws.requireOneEach("a", "b", "c")
			pids := map[string]int{}
			for _, n := range []string{"a", "b", "c"} {
				pids["site/"+n] = ws.lastRun(n)
			}
			ws.requireRunning(cfg, pids)
			if r := otpsv(t, ws.dir, "status", "-c", cfg); r.code != 0 {
				t.Errorf("status after the next pass: exit %d, stdout %q", r.code, r.stdout)
			}
		})
	}
}

// TestDaemonAdoptsAfterKill: a daemon killed with SIGKILL and started
// again adopts the workers it left (no duplicates, same pids), watches
// them (a killed one is restarted), and stops them on SIGTERM.
func TestDaemonAdoptsAfterKill(t *testing.T) {
	begin(t)
	ws := newPassWorkspace(t)
	// More workers than a and b: each adopted one left running makes one
	// more stop of an adopted process at SIGTERM.
	names := []string{"a", "b", "s1", "s2", "s3", "s4", "s5", "s6"}
	var tree strings.Builder
	tree.WriteString("tree:\n  name: site\n  children:\n")
	for _, n := range names {
		fmt.Fprintf(&tree, "    - name: %s\n      command: %s\n", n, ws.cmd(n))
	}
	cfg := ws.config(tree.String())
	d1 := ws.startDaemon(cfg)
	waitFor(t, d1.events, is("tree started"))
	first := map[string]int{}
	for _, n := range names {
		first["site/"+n] = d1.waitReady(n, 1).pid
	}
	a, b := first["site/a"], first["site/b"]
	d1.signal(syscall.SIGKILL)
	d1.wait(exitGuard)
	requireAlive(t, a, "a")
	requireAlive(t, b, "b")

	d2 := ws.startDaemon(cfg)
	events := until(t, d2.events, is("tree started"))
	adopted := map[string]int{}
	for _, e := range only(events, is("adopted")) {
		adopted[e.str("node")] = e.num("pid")
	}
	if !maps.Equal(adopted, first) {
		t.Errorf("adopted %v, want %v", adopted, first)
	}
	if s := only(events, is("started")); len(s) > 0 {
		t.Errorf("the new daemon started workers: %v", s)
	}
	ws.requireOneEach(names...)
	ws.requireRunning(cfg, first)

	// Watched through a pidfd: a killed adopted worker is restarted.
	ws.killWorker(a, "adopted a")
	if e := waitFor(t, d2.events, is("exited", "node", "site/a")); e.num("pid") != a {
		t.Errorf("exited event %v, want pid %d", e, a)
	}
	ev := waitFor(t, d2.events, is("started", "node", "site/a"))
	a2 := d2.waitReady("a", 2).pid
	if ev.num("pid") != a2 || a2 == a {
		t.Errorf("a restarted as pid %d (event %v), was %d", a2, ev, a)
	}
	ws.requireOneEach(names...)

	// SIGTERM stops adopted workers too.
	d2.stop()
	for path, pid := range first {
		if path != "site/a" {
			requireDead(t, pid, "adopted "+path)
		}
	}
	ws.requireAllDead()
}

// TestOperatorStopSurvivesDaemonRestart: a node an operator stopped stays
// stopped across a daemon restart until `otpsv start`.
func TestOperatorStopSurvivesDaemonRestart(t *testing.T) {
	begin(t)
	ws := newPassWorkspace(t)
	cfg := ws.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: a
      command: %s
    - name: b
      command: %s
`, ws.cmd("a"), ws.cmd("b")))
	d1 := ws.startDaemon(cfg)
	waitFor(t, d1.events, is("tree started"))
	d1.waitReady("a", 1)
	b := d1.waitReady("b", 1).pid
	if r := otpsv(t, ws.dir, "stop", "-c", cfg, "site/b"); r.code != 0 {
		t.Fatalf("stop site/b: exit %d, stderr %q", r.code, r.stderr)
	}
	requireDead(t, b, "b")
	d1.stop()

	d2 := ws.startDaemon(cfg)
	waitFor(t, d2.events, is("tree started"))
	d2.waitReady("a", 2)
	line, code := ws.statusOf(cfg, "site/b")
	if f := strings.Fields(line); len(f) < 2 || !strings.HasPrefix(f[1], "stopped") || !strings.Contains(line, "expected=stopped") || code != 0 {
		t.Errorf("status after the daemon restart: %q (exit %d), want site/b stopped, expected stopped, and exit 0", line, code)
	}
	if got := len(ws.runs("b")); got != 1 {
		t.Errorf("b ran %d times after the daemon restart, want 1 (kept stopped)", got)
	}
	if r := otpsv(t, ws.dir, "start", "-c", cfg, "site/b"); r.code != 0 {
		t.Fatalf("start site/b: exit %d, stderr %q", r.code, r.stderr)
	}
	b2 := d2.waitReady("b", 2).pid
	ws.requireRunning(cfg, map[string]int{"site/b": b2})
	d2.stop()
	ws.requireAllDead()
}

// TestWhySurvivesDaemonRestart: the failures `otpsv why` lists are still
// listed by the next daemon.
func TestWhySurvivesDaemonRestart(t *testing.T) {
	begin(t)
	ws := newPassWorkspace(t)
	cfg := ws.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: a
      command: %s
`, ws.cmd("a")))
	d1 := ws.startDaemon(cfg)
	waitFor(t, d1.events, is("tree started"))
	ws.killWorker(d1.waitReady("a", 1).pid, "a")
	waitFor(t, d1.events, is("started", "node", "site/a"))
	before := otpsv(t, ws.dir, "why", "-c", cfg, "site/a")
	var failures []string
	for _, l := range strings.Split(before.stdout, "\n") {
		if strings.Contains(l, "failed:") {
			failures = append(failures, l)
		}
	}
	if before.code != 0 || len(failures) != 1 {
		t.Fatalf("why before the restart: exit %d, stdout %q; want one failure", before.code, before.stdout)
	}
	d1.stop()

	d2 := ws.startDaemon(cfg)
	waitFor(t, d2.events, is("tree started"))
	after := otpsv(t, ws.dir, "why", "-c", cfg, "site/a")
	if after.code != 0 || !strings.Contains(after.stdout, failures[0]) {
		t.Errorf("why after the restart: exit %d, stdout %q; want it to list %q", after.code, after.stdout, failures[0])
	}
	d2.stop()
	ws.requireAllDead()
}

// TestCommandsWithoutDaemon: stop and start act directly (and are
// recorded) when no daemon runs; tree/check read the saved state, or say
// there is none.
func TestCommandsWithoutDaemon(t *testing.T) {
	begin(t)
	ws := newPassWorkspace(t)
	cfg := ws.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: a
      command: %s
    - name: b
      command: %s
`, ws.cmd("a"), ws.cmd("b")))

	// No daemon, no state.
	none := ws.dir + "/none"
	if r := otpsv(t, ws.dir, "tree", "-c", cfg, "--state-dir", none); r.code != 1 {
		t.Errorf("tree with no daemon and no state: exit %d, stdout %q, stderr %q; want 1", r.code, r.stdout, r.stderr)
	}
	if r := otpsv(t, ws.dir, "check", "-c", cfg, "--state-dir", none); r.code != 3 || !strings.HasPrefix(r.stdout, "UNKNOWN") {
		t.Errorf("check with no daemon and no state: exit %d, stdout %q; want 3 and UNKNOWN", r.code, r.stdout)
	}

	if r := ws.oneshot(cfg); r.code != 0 {
		t.Fatalf("first pass: exit %d, stderr %q", r.code, r.stderr)
	}
	a, b := ws.waitRun("a", 1).pid, ws.waitRun("b", 1).pid
	r := otpsv(t, ws.dir, "tree", "-c", cfg)
	if r.code != 0 || !strings.Contains(r.stderr, "no daemon is running") {
		t.Errorf("tree from the saved state: exit %d, stderr %q; want 0 and a note that no daemon is running", r.code, r.stderr)
	}

	r = otpsv(t, ws.dir, "stop", "-c", cfg, "site/b")
	if r.code != 0 {
		t.Fatalf("stop site/b: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	requireDead(t, b, "b")
	requireAlive(t, a, "a")
	line, code := ws.statusOf(cfg, "site/b")
	if f := strings.Fields(line); len(f) < 2 || f[1] != "stopped(operator)" || !strings.Contains(line, "expected=stopped") || code != 0 {
		t.Errorf("status: %q (exit %d), want site/b stopped(operator), expected=stopped, exit 0", line, code)
	}
	ws.quietPass(cfg) // kept stopped
	if got := len(ws.runs("b")); got != 1 {
		t.Errorf("b ran %d times while stopped by an operator, want 1", got)
	}

	r = otpsv(t, ws.dir, "start", "-c", cfg, "site/b")
	if r.code != 0 {
		t.Fatalf("start site/b: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	b2 := ws.waitRun("b", 2).pid
	if b2 == b {
		t.Errorf("b started with its old pid %d", b)
	}
	ws.requireRunning(cfg, map[string]int{"site/a": a, "site/b": b2})
	ws.quietPass(cfg)
	ws.requireOneEach("a", "b")
}

// TestOneshotStoreBounded: many quiet passes do not make the store grow.
func TestOneshotStoreBounded(t *testing.T) {
	begin(t)
	ws := newPassWorkspace(t)
	var tree strings.Builder
	tree.WriteString("tree:\n  name: site\n  children:\n")
	var names []string
	for i := range 10 {
		n := fmt.Sprintf("w%d", i)
		names = append(names, n)
		fmt.Fprintf(&tree, "    - name: %s\n      command: %s\n", n, ws.cmd(n))
	}
	cfg := ws.config(tree.String())
	r := ws.oneshot(cfg)
	if r.code != 0 || len(actions(r.stdout)) != 10 {
		t.Fatalf("first pass: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	passes := 200
	if testing.Short() {
		passes = 20
	}
	for range passes {
		ws.quietPass(cfg)
	}
	used, apparent, err := diskUsage(ws.stateDir + "/state")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("store after %d quiet passes over 10 workers: %d KiB on disk (%d KiB apparent)", passes+1, used/1024, apparent/1024)
	if used >= 2<<20 {
		t.Errorf("store uses %d bytes on disk after %d passes, want < 2 MiB", used, passes+1)
	}
	ws.requireOneEach(names...)
}

// TestOneshotDamagedStore: a store that lost its MANIFEST is refused
// with a message that says so, and nothing is started afresh.
func TestOneshotDamagedStore(t *testing.T) {
	begin(t)
	ws := newPassWorkspace(t)
	cfg := ws.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: a
      command: %s
    - name: b
      command: %s
`, ws.cmd("a"), ws.cmd("b")))
	if r := ws.oneshot(cfg); r.code != 0 {
		t.Fatalf("first pass: exit %d, stderr %q", r.code, r.stderr)
	}
	a, b := ws.waitRun("a", 1).pid, ws.waitRun("b", 1).pid
	ws.quietPass(cfg)
	if err := syscall.Unlink(ws.stateDir + "/state/MANIFEST"); err != nil {
		t.Fatal(err)
	}
	r := ws.oneshot(cfg)
	if r.code == 0 || !strings.Contains(r.stderr, "damaged") {
		t.Errorf("pass on a store without MANIFEST: exit %d, stderr %q; want non-zero and a message that the store is damaged", r.code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("pass on a damaged store printed %q, want nothing started", r.stdout)
	}
	requireAlive(t, a, "a")
	requireAlive(t, b, "b")
	ws.requireOneEach("a", "b")
}
