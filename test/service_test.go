package test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Service workers and process-worker status checks (SPEC sections 2-3),
// driven through testdata/initd/fake-service (see service_helpers_test.go).

// svcConfig writes a config whose settings add check_interval.
func svcConfig(ws *workspace, interval, tree string) string {
	ws.t.Helper()
	return ws.config("  check_interval: " + interval + "\n" + tree)
}

func svcKill(t *testing.T, pid int, what string) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s (pid %d): %v", what, pid, err)
	}
}

// svcRequireRestarting checks that evs hold exactly one "restarting" event,
// by supervisor site, for the failure of failed, restarting restart, with
// a reason holding each of words.
func svcRequireRestarting(t *testing.T, evs []event, failed string, restart []string, words ...string) {
	t.Helper()
	rs := only(evs, is("restarting"))
	if len(rs) != 1 {
		t.Fatalf(`%d "restarting" events, want 1: %v`, len(rs), rs)
	}
	r := rs[0]
	if r.str("supervisor") != "site" || r.str("failed") != failed || !slices.Equal(r.list("restart"), restart) {
		t.Errorf(`"restarting" = %v, want supervisor site, failed %s, restart %v`, r, failed, restart)
	}
	for _, w := range words {
		if !strings.Contains(r.str("reason"), w) {
			t.Errorf(`"restarting" reason %q, want it to mention %q`, r.str("reason"), w)
		}
	}
}

func svcRequireVerbs(t *testing.T, k *initd, name string, want ...string) {
	t.Helper()
	if got := k.verbs(name); !slices.Equal(got, want) {
		t.Errorf("fake-service %s did %v, want %v", name, got, want)
	}
}

// svcRequireOrder fails unless each matcher matches an event of evs, in this
// order.
func svcRequireOrder(t *testing.T, evs []event, what []string, matchers ...func(event) bool) {
	t.Helper()
	last := -1
	for i, m := range matchers {
		j := svcIndex(evs, m)
		if j < 0 {
			t.Fatalf("no %s event in %v", what[i], evs)
		}
		if j < last {
			t.Fatalf("%s came before %s: %v", what[i], what[i-1], evs)
		}
		last = j
	}
}

// TestServiceFoundStopped: a control-style service is started with the
// daemon (its pidfile appears, status shows it running); killed behind
// otpsv's back, the next check finds it stopped, which is a failure: it is
// restarted (a stop, then a start) under a new pid. SIGTERM runs its stop.
func TestServiceFoundStopped(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	k := newInitd(ws)
	d := ws.startDaemon(svcConfig(ws, "300ms", fmt.Sprintf(`tree:
  name: site
  children:
    - name: s
      control: %s
      timeout: 5s
`, k.control("s"))))
	waitFor(t, d.events, is("started", "node", "site/s"))
	pid1 := k.waitPid(d, "s", 0)
	if n := svcTree(t, ws)["site/s"]; n == nil || n.Type != "service" || n.State != "running" || n.Expected != "running" {
		t.Errorf("tree: site/s = %+v, want a running service", n)
	}
	if lines, code := svcStatus(t, ws); code != 0 || !strings.HasPrefix(lines["site/s"], "site/s running ") {
		t.Errorf("otpsv status: exit %d, site/s line %q; want 0 and running", code, lines["site/s"])
	}

	svcKill(t, pid1, "the service's daemon")
	evs := until(t, d.events, is("started", "node", "site/s"))
	if svcIndex(evs, svcFailed("site/s", "stopped")) < 0 {
		t.Errorf(`no "service failed" event for site/s found stopped: %v`, evs)
	}
	svcRequireRestarting(t, evs, "site/s", []string{"s"}, "stopped")
	pid2 := k.waitPid(d, "s", pid1)
	// A strategy's restart is a stop followed by a start.
	svcRequireVerbs(t, k, "s", "start", "stop-noop", "start")
	if n := svcTree(t, ws)["site/s"]; n == nil || n.State != "running" || n.Restarts != 1 {
		t.Errorf("tree after the restart: site/s = %+v, want running with 1 restart", n)
	}

	d.stop()
	requireDead(t, pid2, "the service's daemon")
	svcRequireVerbs(t, k, "s", "start", "stop-noop", "start", "stop")
	ws.requireAllDead()
}

// TestServiceDirty: a status exit other than 0 and 3 is a dirty service:
// otpsv stops it to clean it up, then starts it (a new daemon). Found at a
// periodic check it is a failure; found at start-up it is cleaned up
// without one.
func TestServiceDirty(t *testing.T) {
	begin(t)
	tree := func(k *initd) string {
		return fmt.Sprintf(`tree:
  name: site
  children:
    - name: s
      control: %s
      timeout: 5s
`, k.control("s"))
	}
	t.Run("at_check", func(t *testing.T) {
		t.Parallel()
		ws := newWorkspace(t)
		k := newInitd(ws)
		d := ws.startDaemon(svcConfig(ws, "300ms", tree(k)))
		waitFor(t, d.events, is("started", "node", "site/s"))
		pid1 := k.waitPid(d, "s", 0)
		k.set("s", "status-code", "4\n")
		evs := until(t, d.events, is("started", "node", "site/s"))
		if svcIndex(evs, svcFailed("site/s", "dirty", "4")) < 0 {
			t.Errorf(`no "service failed" event for site/s dirty (status 4): %v`, evs)
		}
		svcRequireRestarting(t, evs, "site/s", []string{"s"}, "dirty")
		pid2 := k.waitPid(d, "s", pid1)
		requireDead(t, pid1, "the dirty daemon")
		svcRequireVerbs(t, k, "s", "start", "stop", "start")
		d.stop()
		requireDead(t, pid2, "the service's daemon")
		ws.requireAllDead()
	})
	t.Run("at_startup", func(t *testing.T) {
		t.Parallel()
		ws := newWorkspace(t)
		k := newInitd(ws)
		if code := k.run("s", "start"); code != 0 {
			t.Fatalf("fake-service start: exit %d", code)
		}
		pid1 := k.waitPid(nil, "s", 0)
		k.waitRun(nil, "s", 1)
		k.set("s", "status-code", "4\n")
		d := ws.startDaemon(svcConfig(ws, "300ms", tree(k)))
		evs := until(t, d.events, is("started", "node", "site/s"))
		if svcIndex(evs, is("service dirty; stopping it to clean up, then starting it", "node", "site/s")) < 0 {
			t.Errorf(`no "service dirty" event for site/s: %v`, evs)
		}
		pid2 := k.waitPid(d, "s", pid1)
		requireDead(t, pid1, "the dirty daemon")
		svcRequireVerbs(t, k, "s", "start", "stop", "start")
		d.stop()
		requireDead(t, pid2, "the service's daemon")
		ws.requireAllDead()
	})
}

// TestServiceHungStatus: a status command that does not answer within the
// timeout is killed with its whole process group, on time; the service is
// dirty (hung): stopped, then started again.
func TestServiceHungStatus(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	k := newInitd(ws)
	d := ws.startDaemon(svcConfig(ws, "300ms", fmt.Sprintf(`tree:
  name: site
  intensity: 10
  children:
    - name: s
      control: %s
      timeout: 1s
`, k.control("s"))))
	waitFor(t, d.events, is("started", "node", "site/s"))
	pid1 := k.waitPid(d, "s", 0)
	k.set("s", "hang", "")
	h := k.waitHung(d, "s")
	if h.pgid != h.pid {
		t.Errorf("hung status command %d is in process group %d, want a group of its own", h.pid, h.pgid)
	}
	to := waitFor(t, d.events, is("command timed out; killed its process group", "node", "site/s"))
	// Bounds: not before its 1s timeout (less the time the script took to
	// write its file), nor long after it (the kill takes at most 1s more).
	if took := svcEventTime(t, to).Sub(h.at); took < 500*time.Millisecond || took > 5*time.Second {
		t.Errorf("the hung status was killed %v after it began to hang, want about 1s", took)
	}
	if to.str("command") != "status" || to.str("timeout") != "1s" {
		t.Errorf(`"command timed out" = %v, want command status, timeout 1s`, to)
	}
	// The group was empty before the event was logged.
	requireDead(t, h.pid, "the hung status command")
	requireGroupEmpty(t, h.pgid)

	evs := until(t, d.events, is("started", "node", "site/s"))
	if svcIndex(evs, svcFailed("site/s", "hung")) < 0 {
		t.Errorf(`no "service failed" event for site/s hung: %v`, evs)
	}
	svcRequireRestarting(t, evs, "site/s", []string{"s"}, "hung")
	pid2 := k.waitPid(d, "s", pid1)
	requireDead(t, pid1, "the hung service's daemon")
	svcRequireVerbs(t, k, "s", "start", "stop", "start")
	d.stop()
	requireDead(t, pid2, "the service's daemon")
	ws.requireAllDead()
}

// TestServicePattern: a service with a start command and a pattern, no
// status or stop: found (with its pid) through the process table,
// restarted when killed, and stopped on SIGTERM by signalling the
// processes its pattern matches.
func TestServicePattern(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	k := newInitd(ws)
	d := ws.startDaemon(svcConfig(ws, "300ms", fmt.Sprintf(`tree:
  name: site
  children:
    - name: p
      start: %s
      pattern: %s
      timeout: 5s
`, k.verb("p", "start"), k.pattern("p"))))
	st := waitFor(t, d.events, is("started", "node", "site/p"))
	pid1 := k.waitPid(d, "p", 0)
	if st.num("pid") != pid1 {
		t.Errorf(`"started" = %v, want pid %d (found by pattern)`, st, pid1)
	}
	if n := svcTree(t, ws)["site/p"]; n == nil || n.State != "running" || n.Pid == nil || *n.Pid != pid1 {
		t.Errorf("tree: site/p = %+v, want running with pid %d", n, pid1)
	}

	svcKill(t, pid1, "the pattern service's daemon")
	evs := until(t, d.events, is("started", "node", "site/p"))
	if svcIndex(evs, svcFailed("site/p", "stopped")) < 0 {
		t.Errorf(`no "service failed" event for site/p found stopped: %v`, evs)
	}
	svcRequireRestarting(t, evs, "site/p", []string{"p"})
	pid2 := k.waitPid(d, "p", pid1)
	if st := evs[len(evs)-1]; st.num("pid") != pid2 {
		t.Errorf(`"started" after the restart = %v, want pid %d`, st, pid2)
	}

	d.signal(syscall.SIGTERM)
	evs = until(t, d.events, is("daemon stopped"))
	if svcIndex(evs, is("stopped", "node", "site/p")) < 0 {
		t.Errorf(`no "stopped" event for site/p: %v`, evs)
	}
	if code := d.wait(exitGuard); code != 0 {
		t.Fatalf("daemon exit status %d, want 0", code)
	}
	requireDead(t, pid2, "the pattern service's daemon")
	svcRequireVerbs(t, k, "p", "start", "start") // no stop command: the pattern
	ws.requireAllDead()
}

// TestServiceExpectedStopped: a service expected stopped and found running
// is stopped: at start-up (started before the daemon), and at a periodic
// check (started behind the daemon's back). Status then shows both
// stopped, as expected.
func TestServiceExpectedStopped(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	k := newInitd(ws)
	if code := k.run("off1", "start"); code != 0 {
		t.Fatalf("fake-service start: exit %d", code)
	}
	pre := k.waitPid(nil, "off1", 0)
	k.waitRun(nil, "off1", 1)
	d := ws.startDaemon(svcConfig(ws, "300ms", fmt.Sprintf(`tree:
  name: site
  intensity: 10
  children:
    - name: off1
      control: %s
      expected: stopped
      timeout: 5s
    - name: off2
      control: %s
      expected: stopped
      timeout: 5s
`, k.control("off1"), k.control("off2"))))
	// Each guard reports started after its first check, so "tree started"
	// comes after both.
	evs := until(t, d.events, is("tree started"))
	if svcIndex(evs, is("service running while expected stopped; stopping it", "node", "site/off1")) < 0 {
		t.Errorf(`no "service running while expected stopped" event for site/off1: %v`, evs)
	}
	requireDead(t, pre, "off1's daemon")
	svcRequireVerbs(t, k, "off1", "start", "stop")
	if svcIndex(evs, is("started", "node", "site/off2")) >= 0 {
		t.Errorf("off2 was started: %v", nodeEvents(evs, "site/off2"))
	}
	svcRequireVerbs(t, k, "off2")

	if code := k.run("off2", "start"); code != 0 {
		t.Fatalf("fake-service start: exit %d", code)
	}
	pid2 := k.waitPid(d, "off2", 0)
	evs = until(t, d.events, is("stopped", "node", "site/off2"))
	if svcIndex(evs, svcFailed("site/off2", "expected stopped")) < 0 {
		t.Errorf(`no "service failed" event for site/off2 running while expected stopped: %v`, evs)
	}
	requireDead(t, pid2, "off2's daemon")
	svcRequireVerbs(t, k, "off2", "start", "stop")

	svcWaitState(t, ws, "site/off2", "stopped")
	lines, code := svcStatus(t, ws)
	for _, p := range []string{"site/off1", "site/off2"} {
		if !strings.HasPrefix(lines[p], p+" stopped ") || !strings.Contains(lines[p], "expected=stopped") || strings.HasSuffix(lines[p], "!") {
			t.Errorf("otpsv status: %q, want %s stopped as expected", lines[p], p)
		}
	}
	if code != 0 {
		t.Errorf("otpsv status: exit %d, want 0 (all as expected)", code)
	}
	d.stop()
	ws.requireAllDead()
}

// TestServiceAdopted: a service already running when the daemon starts is
// taken as it is: not started a second time, same daemon pid.
func TestServiceAdopted(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	k := newInitd(ws)
	if code := k.run("a", "start"); code != 0 {
		t.Fatalf("fake-service start: exit %d", code)
	}
	pid1 := k.waitPid(nil, "a", 0)
	k.waitRun(nil, "a", 1)
	d := ws.startDaemon(svcConfig(ws, "300ms", fmt.Sprintf(`tree:
  name: site
  children:
    - name: a
      control: %s
      timeout: 5s
`, k.control("a"))))
	evs := until(t, d.events, is("started", "node", "site/a"))
	if svcIndex(evs, is("service already running", "node", "site/a")) < 0 {
		t.Errorf(`no "service already running" event for site/a: %v`, evs)
	}
	if pid := k.pid("a"); pid != pid1 {
		t.Errorf("pidfile names %d, want the adopted daemon %d", pid, pid1)
	}
	requireAlive(t, pid1, "the adopted daemon")
	svcRequireVerbs(t, k, "a", "start") // the test's start only
	svcWaitState(t, ws, "site/a", "running")
	d.stop()
	requireDead(t, pid1, "the adopted daemon")
	svcRequireVerbs(t, k, "a", "start", "stop")
	if n := len(ws.runs("a")); n != 1 {
		t.Errorf("the service's daemon ran %d times, want 1", n)
	}
	ws.requireAllDead()
}

// TestServiceStrategies: services and processes mixed under rest_for_one
// and one_for_all; a service is restarted by a stop then a start, in the
// strategy's order.
func TestServiceStrategies(t *testing.T) {
	begin(t)
	t.Run("rest_for_one", func(t *testing.T) {
		t.Parallel()
		ws := newWorkspace(t)
		k := newInitd(ws)
		d := ws.startDaemon(svcConfig(ws, "300ms", fmt.Sprintf(`tree:
  name: site
  strategy: rest_for_one
  intensity: 5
  children:
    - name: a
      command: %s
    - name: s
      control: %s
      timeout: 5s
    - name: b
      command: %s
`, ws.cmd("a"), k.control("s"), ws.cmd("b"))))
		waitFor(t, d.events, is("tree started"))
		a1, b1 := d.waitReady("a", 1), d.waitReady("b", 1)
		s1 := k.waitPid(d, "s", 0)

		svcKill(t, s1, "s's daemon")
		evs := until(t, d.events, is("started", "node", "site/b"))
		svcRequireRestarting(t, evs, "site/s", []string{"s", "b"}, "stopped")
		svcRequireOrder(t, evs, []string{"restarting", "stopped b", "stopped s", "started s", "started b"},
			is("restarting"), is("stopped", "node", "site/b"), is("stopped", "node", "site/s"),
			is("started", "node", "site/s"), is("started", "node", "site/b"))
		if e := nodeEvents(evs, "site/a"); len(e) > 0 {
			t.Errorf("events about a, which precedes s: %v", e)
		}
		s2 := k.waitPid(d, "s", s1)
		b2 := d.waitReady("b", 2)
		if b2.pid == b1.pid {
			t.Errorf("b restarted with its old pid %d", b1.pid)
		}
		requireDead(t, b1.pid, "the first b")
		requireAlive(t, a1.pid, "a")
		svcRequireVerbs(t, k, "s", "start", "stop-noop", "start")

		d.stop()
		requireDead(t, s2, "s's daemon")
		if n := len(ws.runs("a")); n != 1 {
			t.Errorf("a ran %d times, want 1", n)
		}
		ws.requireAllDead()
	})
	t.Run("one_for_all", func(t *testing.T) {
		t.Parallel()
		ws := newWorkspace(t)
		k := newInitd(ws)
		d := ws.startDaemon(svcConfig(ws, "300ms", fmt.Sprintf(`tree:
  name: site
  strategy: one_for_all
  intensity: 5
  children:
    - name: a
      command: %s
    - name: s
      control: %s
      timeout: 5s
`, ws.cmd("a"), k.control("s"))))
		waitFor(t, d.events, is("tree started"))
		a1 := d.waitReady("a", 1)
		s1 := k.waitPid(d, "s", 0)

		svcKill(t, a1.pid, "a")
		evs := until(t, d.events, is("started", "node", "site/s"))
		svcRequireRestarting(t, evs, "site/a", []string{"a", "s"})
		svcRequireOrder(t, evs, []string{"restarting", "stopped s", "started a", "started s"},
			is("restarting"), is("stopped", "node", "site/s"), is("started", "node", "site/a"), is("started", "node", "site/s"))
		s2 := k.waitPid(d, "s", s1)
		requireDead(t, s1, "s's first daemon")
		svcRequireVerbs(t, k, "s", "start", "stop", "start")
		if a2 := d.waitReady("a", 2); a2.pid == a1.pid {
			t.Errorf("a restarted with its old pid %d", a1.pid)
		}

		d.stop()
		requireDead(t, s2, "s's daemon")
		ws.requireAllDead()
	})
}

// TestServiceReadiness: under one_for_all a service must report running
// before its next sibling starts; one that does not within its timeout,
// or whose start command fails, is a failure, and the sibling after it
// is not started meanwhile.
func TestServiceReadiness(t *testing.T) {
	begin(t)
	tree := func(ws *workspace, k *initd, name, timeout string) string {
		return svcConfig(ws, "300ms", fmt.Sprintf(`tree:
  name: site
  strategy: one_for_all
  intensity: 10
  children:
    - name: %s
      control: %s
      timeout: %s
    - name: after
      command: %s
`, name, k.control(name), timeout, ws.cmd("after")))
	}
	t.Run("slow", func(t *testing.T) {
		t.Parallel()
		ws := newWorkspace(t)
		k := newInitd(ws)
		k.set("slow", "start-delay", "1\n") // status says stopped for 1s after start
		d := ws.startDaemon(tree(ws, k, "slow", "10s"))
		evs := until(t, d.events, is("started", "node", "site/after"))
		svcRequireOrder(t, evs, []string{"started slow", "started after"},
			is("started", "node", "site/slow"), is("started", "node", "site/after"))
		if e := only(evs, oneOf("service failed", "restarting")); len(e) > 0 {
			t.Errorf("a slow start within its timeout is no failure: %v", e)
		}
		pid := k.waitPid(d, "slow", 0)
		d.waitReady("slow", 1)
		d.waitReady("after", 1)
		d.stop()
		requireDead(t, pid, "slow's daemon")
		ws.requireAllDead()
	})
	t.Run("never_running", func(t *testing.T) {
		t.Parallel()
		ws := newWorkspace(t)
		k := newInitd(ws)
		k.set("never", "never-running", "") // start exits 0, starts nothing
		d := ws.startDaemon(tree(ws, k, "never", "1s"))
		evs := until(t, d.events, is("restarting"))
		if svcIndex(evs, svcFailed("site/never", "not running within 1s")) < 0 {
			t.Errorf(`no "service failed" event for site/never not running within 1s: %v`, evs)
		}
		svcRequireRestarting(t, evs, "site/never", []string{"never", "after"})
		if e := nodeEvents(evs, "site/after"); len(e) > 0 {
			t.Errorf("events about after, whose sibling before it never became ready: %v", e)
		}
		d.stop()
		if n := len(ws.runs("after")); n != 0 {
			t.Errorf("after ran %d times, want 0", n)
		}
	})
	t.Run("start_fails", func(t *testing.T) {
		t.Parallel()
		ws := newWorkspace(t)
		k := newInitd(ws)
		k.set("bad", "start-fails", "")
		d := ws.startDaemon(tree(ws, k, "bad", "5s"))
		evs := until(t, d.events, is("restarting"))
		if svcIndex(evs, svcFailed("site/bad", "start command")) < 0 {
			t.Errorf(`no "service failed" event for site/bad's start command: %v`, evs)
		}
		svcRequireRestarting(t, evs, "site/bad", []string{"bad", "after"}, "start")
		if e := nodeEvents(evs, "site/after"); len(e) > 0 {
			t.Errorf("events about after, whose sibling before it failed to start: %v", e)
		}
		// Once start works again, both come up, in order.
		if err := os.Remove(filepath.Join(ws.dir, "bad.start-fails")); err != nil {
			t.Fatal(err)
		}
		evs = until(t, d.events, is("started", "node", "site/after"))
		svcRequireOrder(t, evs, []string{"started bad", "started after"},
			is("started", "node", "site/bad"), is("started", "node", "site/after"))
		pid := k.waitPid(d, "bad", 0)
		d.waitReady("bad", 1)
		d.waitReady("after", 1)
		d.stop()
		requireDead(t, pid, "bad's daemon")
		ws.requireAllDead()
	})
}

// TestProcessStatusCheck: a process worker's status is its readiness
// check after start, then its liveness check every check_interval; a
// failing liveness check, or no readiness within the timeout, kills the
// process group and counts as a failure.
func TestProcessStatusCheck(t *testing.T) {
	begin(t)
	t.Run("liveness", func(t *testing.T) {
		t.Parallel()
		ws := newWorkspace(t)
		alive := ws.file("alive", "")
		d := ws.startDaemon(svcConfig(ws, "300ms", fmt.Sprintf(`tree:
  name: site
  intensity: 10
  children:
    - name: w
      command: %s
      status: %s
      timeout: 2s
`, ws.cmd("w", "-child"), svcArgv("/bin/sh", "-c", `test -e "$0"`, alive))))
		rd := waitFor(t, d.events, is("ready", "node", "site/w"))
		w1 := d.waitReady("w", 1)
		if rd.num("pid") != w1.pid {
			t.Errorf(`"ready" = %v, want pid %d`, rd, w1.pid)
		}
		gc1 := d.waitReady("w.gc", 1)

		if err := os.Remove(alive); err != nil {
			t.Fatal(err)
		}
		hg := waitFor(t, d.events, is("process hung; killing its process group", "node", "site/w"))
		ws.file("alive", "") // the new process can become ready
		if hg.num("pid") != w1.pid || !strings.Contains(hg.str("reason"), "liveness") {
			t.Errorf(`"process hung" = %v, want pid %d, a liveness reason`, hg, w1.pid)
		}
		evs := until(t, d.events, is("ready", "node", "site/w"))
		svcRequireRestarting(t, evs, "site/w", []string{"w"}, "liveness")
		w2 := d.waitReady("w", 2)
		if w2.pid == w1.pid || evs[len(evs)-1].num("pid") != w2.pid {
			t.Errorf(`restarted pid %d ("ready" %v), first pid %d`, w2.pid, evs[len(evs)-1], w1.pid)
		}
		requireDead(t, w1.pid, "the hung process")
		requireDead(t, gc1.pid, "the hung process's grandchild")
		requireGroupEmpty(t, w1.pgid)
		d.stop()
		ws.requireAllDead()
	})
	t.Run("liveness_hung", func(t *testing.T) {
		t.Parallel()
		ws := newWorkspace(t)
		newInitd(ws) // its cleanup kills a leaked status command
		alive := ws.file("alive", "")
		// "$$" in a config value is one literal "$": the status shell
		// writes its pid ($$), its process group's id, then hangs.
		d := ws.startDaemon(svcConfig(ws, "300ms", fmt.Sprintf(`tree:
  name: site
  intensity: 10
  children:
    - name: w
      command: %s
      status: %s
      timeout: 1s
`, ws.cmd("w"), svcArgv("/bin/sh", "-c", `test -e "$0" && exit 0; echo $$$$ >"$0.hung"; sleep 3600`, alive))))
		waitFor(t, d.events, is("ready", "node", "site/w"))
		w1 := d.waitReady("w", 1)
		if err := os.Remove(alive); err != nil {
			t.Fatal(err)
		}
		evs := until(t, d.events, is("process hung; killing its process group", "node", "site/w"))
		ws.file("alive", "") // the new process can become ready
		to := only(evs, is("command timed out; killed its process group", "node", "site/w"))
		if len(to) != 1 || to[0].str("command") != "status" || to[0].str("timeout") != "1s" {
			t.Errorf(`"command timed out" events %v, want one for status, timeout 1s`, to)
		}
		if hg := evs[len(evs)-1]; hg.num("pid") != w1.pid || !strings.Contains(hg.str("reason"), "hung") {
			t.Errorf(`"process hung" = %v, want pid %d, a reason saying hung`, hg, w1.pid)
		}
		var pgid int
		if _, err := fmt.Sscan(readFile(t, alive+".hung"), &pgid); err != nil {
			t.Fatal(err)
		}
		requireGroupEmpty(t, pgid)
		evs = until(t, d.events, is("ready", "node", "site/w"))
		svcRequireRestarting(t, evs, "site/w", []string{"w"}, "hung")
		if w2 := d.waitReady("w", 2); w2.pid == w1.pid {
			t.Errorf("w restarted with its old pid %d", w1.pid)
		}
		requireDead(t, w1.pid, "the hung process")
		requireGroupEmpty(t, w1.pgid)
		d.stop()
		ws.requireAllDead()
	})
	t.Run("ready_order", func(t *testing.T) {
		t.Parallel()
		ws := newWorkspace(t)
		counter := filepath.Join(ws.dir, "counter")
		// Ready at the third run of its status (after about 60ms of polls).
		d := ws.startDaemon(svcConfig(ws, "300ms", fmt.Sprintf(`tree:
  name: site
  strategy: rest_for_one
  children:
    - name: w
      command: %s
      status: %s
      timeout: 10s
    - name: after
      command: %s
`, ws.cmd("w"), svcArgv("/bin/sh", "-c", `n=$(cat "$0" 2>/dev/null || echo 0); n=$((n+1)); echo $n >"$0"; [ $n -ge 3 ]`, counter), ws.cmd("after"))))
		evs := until(t, d.events, is("started", "node", "site/after"))
		svcRequireOrder(t, evs, []string{"started w", "ready w", "started after"},
			is("started", "node", "site/w"), is("ready", "node", "site/w"), is("started", "node", "site/after"))
		d.waitReady("w", 1)
		d.waitReady("after", 1)
		d.stop()
		ws.requireAllDead()
	})
	t.Run("never_ready", func(t *testing.T) {
		t.Parallel()
		ws := newWorkspace(t)
		d := ws.startDaemon(svcConfig(ws, "300ms", fmt.Sprintf(`tree:
  name: site
  intensity: 10
  children:
    - name: w
      command: %s
      status: ["/bin/sh", "-c", "exit 1"]
      timeout: 1s
`, ws.cmd("w"))))
		st := waitFor(t, d.events, is("started", "node", "site/w"))
		w1 := d.waitReady("w", 1)
		hg := waitFor(t, d.events, is("process hung; killing its process group", "node", "site/w"))
		if took := svcEventTime(t, hg).Sub(svcEventTime(t, st)); took < 900*time.Millisecond {
			t.Errorf("not-ready failure %v after start, want about the 1s timeout", took)
		}
		if hg.num("pid") != w1.pid || !strings.Contains(hg.str("reason"), "not ready") {
			t.Errorf(`"process hung" = %v, want pid %d, reason "not ready..."`, hg, w1.pid)
		}
		evs := until(t, d.events, is("started", "node", "site/w"))
		svcRequireRestarting(t, evs, "site/w", []string{"w"}, "not ready")
		if svcIndex(evs, is("ready", "node", "site/w")) >= 0 {
			t.Errorf("w reported ready: %v", evs)
		}
		requireDead(t, w1.pid, "the never-ready process")
		requireGroupEmpty(t, w1.pgid)
		d.stop()
		ws.requireAllDead()
	})
}

// TestServiceChecksConcurrent: checks of different services do not wait
// for each other: while one service's status hangs (3s timeout), another
// service killed meanwhile is found stopped and restarted within a few
// check intervals, well before the hung one times out.
func TestServiceChecksConcurrent(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	k := newInitd(ws)
	d := ws.startDaemon(svcConfig(ws, "300ms", fmt.Sprintf(`tree:
  name: site
  intensity: 10
  children:
    - name: h
      control: %s
      timeout: 3s
    - name: v
      control: %s
      timeout: 5s
`, k.control("h"), k.control("v"))))
	svcUntilAll(t, d.events, is("started", "node", "site/h"), is("started", "node", "site/v"))
	h1, v1 := k.waitPid(d, "h", 0), k.waitPid(d, "v", 0)

	k.set("h", "hang", "")
	hg := k.waitHung(d, "h")
	// The daemon answers while a check hangs, with what it last knew.
	asked := time.Now()
	if n := svcTree(t, ws)["site/h"]; n == nil || n.State != "running" {
		t.Errorf("tree while h's status hangs: site/h = %+v, want running (its last check)", n)
	}
	if took := time.Since(asked); took > 2*time.Second {
		t.Errorf("otpsv tree took %v while a status command hung", took)
	}
	svcKill(t, v1, "v's daemon")
	evs := until(t, d.events, is("command timed out; killed its process group", "node", "site/h"))
	svcRequireOrder(t, evs, []string{"restarting v", "started v", "h's status timed out"},
		func(e event) bool { return is("restarting")(e) && e.str("failed") == "site/v" },
		is("started", "node", "site/v"),
		is("command timed out; killed its process group", "node", "site/h"))
	v2 := k.waitPid(d, "v", v1)
	requireGroupEmpty(t, hg.pgid)

	evs = until(t, d.events, is("started", "node", "site/h"))
	svcRequireRestarting(t, evs, "site/h", []string{"h"}, "hung")
	h2 := k.waitPid(d, "h", h1)
	d.stop()
	requireDead(t, v2, "v's daemon")
	requireDead(t, h2, "h's daemon")
	ws.requireAllDead()
}

// TestServiceValidate: validate prints service workers with their
// resolved commands (derived from control), pattern and timeout, and
// starts nothing.
func TestServiceValidate(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	k := newInitd(ws)
	cfg := svcConfig(ws, "300ms", fmt.Sprintf(`tree:
  name: site
  children:
    - name: s
      control: %s
      timeout: 7s
    - name: p
      start: %s
      pattern: %s
    - name: w
      command: %s
      status: ["/bin/sh", "-c", "exit 0"]
      timeout: 2s
`, k.control("s"), k.verb("p", "start"), k.pattern("p"), ws.cmd("w")))
	r := otpsv(t, ws.dir, "validate", "-c", cfg)
	if r.code != 0 {
		t.Fatalf("validate: exit %d; stderr: %s", r.code, r.stderr)
	}
	byName := map[string]string{}
	for _, l := range strings.Split(r.stdout, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			byName[f[0]] = l
		}
	}
	prefix := "/bin/sh " + k.script + " " + ws.dir + " "
	want := map[string][]string{
		"s": {"(service)", prefix + "s start", prefix + "s stop", prefix + "s status", prefix + "s restart", "7s"},
		"p": {"(service)", prefix + "p start", "pattern", "-name p -ready"},
		"w": {"(process)", "status", "exit 0", "2s"},
	}
	for name, words := range want {
		for _, w := range words {
			if !strings.Contains(byName[name], w) {
				t.Errorf("validate: line of %s %q does not mention %q\n%s", name, byName[name], w, r.stdout)
			}
		}
	}
	for _, n := range []string{"s", "p"} {
		if v := k.verbs(n); len(v) > 0 {
			t.Errorf("validate ran fake-service %s: %v", n, v)
		}
	}
}

// TestServiceSIGTERM: SIGTERM stops the whole tree in reverse order,
// services with their stop commands (or pattern), and the daemon exits 0
// with no service daemon left. s2's commands are found through its
// `path`.
func TestServiceSIGTERM(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	k := newInitd(ws)
	d := ws.startDaemon(svcConfig(ws, "300ms", fmt.Sprintf(`tree:
  name: site
  children:
    - name: s1
      control: %s
      timeout: 5s
    - name: w
      command: %s
    - name: s2
      control: %s
      path: %s
      timeout: 5s
    - name: p
      start: %s
      pattern: %s
      timeout: 5s
`, k.control("s1"), ws.cmd("w"), svcArgv("fake-service", ws.dir, "s2"), strconv.Quote(filepath.Dir(k.script)+":/usr/bin:/bin"),
		k.verb("p", "start"), k.pattern("p"))))
	svcUntilAll(t, d.events, is("started", "node", "site/s1"), is("started", "node", "site/s2"), is("started", "node", "site/p"))
	pids := map[string]int{}
	for _, n := range []string{"s1", "s2", "p"} {
		pids[n] = k.waitPid(d, n, 0)
	}
	w := d.waitReady("w", 1)

	d.signal(syscall.SIGTERM)
	evs := until(t, d.events, is("daemon stopped"))
	want := []string{"site/p", "site/s2", "site/w", "site/s1"}
	if got := field(only(evs, is("stopped")), "node"); !slices.Equal(got, want) {
		t.Errorf(`"stopped" order %v, want %v`, got, want)
	}
	if code := d.wait(exitGuard); code != 0 {
		t.Fatalf("daemon exit status %d, want 0", code)
	}
	for n, pid := range pids {
		requireDead(t, pid, n+"'s daemon")
	}
	requireDead(t, w.pid, "w")
	for _, n := range []string{"s1", "s2"} {
		svcRequireVerbs(t, k, n, "start", "stop")
	}
	ws.requireAllDead()
}

// TestSIGTERMWithHungStatus: SIGTERM while a status command hangs (long
// timeout) still stops the tree, and the daemon leaves no process of that
// status command behind when it exits: not for a service worker, not for
// a process worker's liveness check.
func TestSIGTERMWithHungStatus(t *testing.T) {
	begin(t)
	t.Run("service", func(t *testing.T) {
		t.Parallel()
		ws := newWorkspace(t)
		k := newInitd(ws)
		d := ws.startDaemon(svcConfig(ws, "300ms", fmt.Sprintf(`tree:
  name: site
  children:
    - name: h
      control: %s
      timeout: 20s
`, k.control("h"))))
		waitFor(t, d.events, is("started", "node", "site/h"))
		pid := k.waitPid(d, "h", 0)
		k.waitRun(d, "h", 1)
		k.set("h", "hang", "")
		hg := k.waitHung(d, "h")
		d.stop()
		requireDead(t, pid, "h's daemon")
		requireGroupEmpty(t, hg.pgid)
		ws.requireAllDead()
	})
	t.Run("process", func(t *testing.T) {
		t.Parallel()
		ws := newWorkspace(t)
		newInitd(ws) // its cleanup kills a leaked status command
		alive := ws.file("alive", "")
		// In config values "$$" is one literal "$": the script writes the
		// shell's pid ($$), its process group's id.
		d := ws.startDaemon(svcConfig(ws, "300ms", fmt.Sprintf(`tree:
  name: site
  children:
    - name: w
      command: %s
      status: %s
      timeout: 20s
`, ws.cmd("w"), svcArgv("/bin/sh", "-c", `test -e "$0" && exit 0; echo $$$$ >"$0.hung"; sleep 3600`, alive))))
		waitFor(t, d.events, is("ready", "node", "site/w"))
		w := d.waitReady("w", 1)
		if err := os.Remove(alive); err != nil {
			t.Fatal(err)
		}
		var pgid int
		for deadline := time.Now().Add(readyGuard); pgid == 0; time.Sleep(10 * time.Millisecond) {
			if data, err := os.ReadFile(alive + ".hung"); err == nil && len(data) > 0 && data[len(data)-1] == '\n' {
				if _, err := fmt.Sscan(string(data), &pgid); err != nil {
					t.Fatalf("%s: %q: %v", alive+".hung", data, err)
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("the liveness check never hung")
			}
		}
		d.stop()
		requireDead(t, w.pid, "w")
		requireGroupEmpty(t, pgid)
		ws.requireAllDead()
	})
}

// TestSecondSIGTERMWhileServiceStarting: a second SIGTERM skips every
// remaining wait (docs/supervision.md, "Signals to the daemon"), so the
// daemon exits soon even while a service's start is still waiting (up to
// its 20s timeout) for its status to report running.
func TestSecondSIGTERMWhileServiceStarting(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	k := newInitd(ws)
	k.set("n", "never-running", "")
	d := ws.startDaemon(svcConfig(ws, "300ms", fmt.Sprintf(`tree:
  name: site
  children:
    - name: n
      control: %s
      timeout: 20s
`, k.control("n"))))
	// The start command has run: the start is in flight, waiting for
	// running.
	for deadline := time.Now().Add(readyGuard); !slices.Contains(k.verbs("n"), "start-nothing"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("n's start command did not run within %v", readyGuard)
		}
	}
	d.signal(syscall.SIGTERM)
	waitFor(t, d.events, is("stopping tree"))
	d.signal(syscall.SIGTERM)
	// The bound: far below the 20s the start may still wait.
	if code := d.wait(5 * time.Second); code != 0 {
		t.Errorf("daemon exit status %d, want 0", code)
	}
}
