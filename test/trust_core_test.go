package test

import (
	"fmt"
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
