package test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
)

// TestSupervisorExpectedStoppedReachesServices: a supervisor's `expected:
// stopped` is imposed on its whole subtree (SPEC §2), service workers
// included: a service of that subtree found running is stopped, and one
// started behind otpsv's back later is stopped again.
func TestSupervisorExpectedStoppedReachesServices(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	k := newInitd(ws)
	if code := k.run("svc", "start"); code != 0 {
		t.Fatalf("fake-service start: exit %d", code)
	}
	pre := k.waitPid(nil, "svc", 0)
	d := ws.startDaemon(svcConfig(ws, "300ms", fmt.Sprintf(`tree:
  name: site
  children:
    - name: on
      command: %s
    - name: off
      expected: stopped
      children:
        - name: svc
          control: %s
          timeout: 5s
`, ws.cmd("on"), k.control("svc"))))
	waitFor(t, d.events, is("tree started"))
	requireDead(t, pre, "svc's daemon, running under a supervisor expected stopped")
	svcRequireVerbs(t, k, "svc", "start", "stop")

	if code := k.run("svc", "start"); code != 0 {
		t.Fatalf("fake-service start: exit %d", code)
	}
	again := k.waitPid(d, "svc", pre)
	waitFor(t, d.events, is("stopped", "node", "site/off/svc"))
	requireDead(t, again, "svc's daemon, started again behind otpsv's back")
	n := svcWaitState(t, ws, "site/off/svc", "stopped")
	if n.Expected != "stopped" {
		t.Errorf("site/off/svc expected %q, want stopped", n.Expected)
	}
	if _, code := svcStatus(t, ws); code != 0 {
		t.Errorf("otpsv status: exit %d, want 0 (all as expected)", code)
	}
	d.stop()
}

// TestRestartCountsAgree: one definition of a node's restarts everywhere,
// restarts in its running supervisor's current period: `tree`, `check`
// and `why` agree live, after a daemon restart (a fresh supervisor, a
// fresh count), and from the saved state with no daemon.
func TestRestartCountsAgree(t *testing.T) {
	begin(t)
	ws := newPassWorkspace(t)
	cfg := ws.config(fmt.Sprintf(`tree:
  name: site
  intensity: 10
  period: 1h
  children:
    - name: a
      command: %s
`, ws.cmd("a")))
	agree := func(when string, want int) {
		t.Helper()
		n := ws.ctlTreeJSON().find("site/a")
		why := ws.ctlWhyOf("site/a")
		if n.Restarts != want || why.Used != want || why.Node.Restarts != want {
			t.Errorf("%s: tree says restarts=%d, why says restarts=%d and %d used; want %d everywhere", when, n.Restarts, why.Node.Restarts, why.Used, want)
		}
		if r := ws.ctl("check"); !strings.Contains(r.stdout, fmt.Sprintf("restarts=%d", want)) {
			t.Errorf("%s: check says %q, want restarts=%d in its perfdata", when, r.stdout, want)
		}
	}
	d := ws.startDaemon(cfg)
	pid := d.waitReady("a", 1).pid
	for i := 2; i <= 4; i++ {
		ws.killWorker(pid, "a")
		pid = d.waitReady("a", i).pid
	}
	ws.ctlWaitTree("a running", func(root *ctlNode) bool { return root.find("site/a").Pid != nil && root.find("site/a").pid() == pid })
	agree("live", 3)

	d.signal(syscall.SIGKILL)
	d.wait(exitGuard)
	agree("saved, after a kill -9", 3)
	d = ws.startDaemon(cfg)
	waitFor(t, d.events, is("tree started"))
	agree("after a daemon restart", 0)
	ws.killWorker(pid, "a")
	pid = d.waitReady("a", 5).pid
	ws.ctlWaitTree("a running", func(root *ctlNode) bool { return root.find("site/a").pid() == pid })
	agree("live, after one more kill", 1)
	d.stop()
	agree("saved, after the stop", 1)
}
