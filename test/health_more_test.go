package test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestHealthBackoffReloadCancels: a reload during a backoff wait cancels
// it: the worker, held for a 30 s delay, starts at once with its new
// definition.
func TestHealthBackoffReloadCancels(t *testing.T) {
	begin(t)
	h := newHealthWS(t)
	tree := func(code int) string {
		return fmt.Sprintf(`tree:
  name: site
  intensity: 10
  period: 60s
  children:
    - name: w
      backoff: {initial: 30s, max: 30s, jitter: 0}
      command: %s
`, h.cmd("w", "-exit-after", "100ms", "-code", fmt.Sprint(code)))
	}
	d := h.startDaemon(h.config(tree(3)))
	ctlWaitAll(t, d.events, is("daemon started"), is("restart delayed", "node", "site/w"))
	// The state turns backoff once the failed process's actor is gone,
	// just after the event.
	h.waitNode("site/w", "state backoff", func(n *hNode) bool { return n.State == "backoff" })
	h.config(tree(4)) // a changed definition
	asked := time.Now()
	h.mustCtl("reload")
	w2 := h.wait(d, "w", 2)
	if gap := w2.at.Sub(asked); gap > 20*time.Second {
		t.Fatalf("w started %v after the reload: its 30s backoff was not cancelled", gap)
	}
	ev := waitFor(t, d.events, is("exited", "node", "site/w"))
	if ev.num("exit_code") != 4 {
		t.Errorf("w after the reload exited with %v, want its new code 4", ev)
	}
	d.stop()
	h.requireAllDead()
}

// TestHealthReadinessSuccessThreshold: once not ready, a readiness probe
// with success_threshold 3 makes the worker ready again only after three
// successes in a row.
func TestHealthReadinessSuccessThreshold(t *testing.T) {
	begin(t)
	h := newHealthWS(t)
	port := freePort(t)
	modes := h.path("modes")
	d := h.startDaemon(h.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: w
      command: %s
      probes:
        readiness: {http: "http://127.0.0.1:%d/ready", period: 100ms, failure_threshold: 1, success_threshold: 3}
`, h.cmd("w", "-http", fmt.Sprintf("127.0.0.1:%d", port), "-mode-dir", modes), port)))
	ctlWaitAll(t, d.events, is("daemon started"), is("ready", "node", "site/w"))
	h.setMode(modes, "ready", 0, "fail")
	waitFor(t, d.events, is("not ready", "node", "site/w"))
	okAt := time.Now()
	h.setMode(modes, "ready", 0, "ok")
	// Ready again only after 3 successful runs 100 ms apart: at least
	// 200 ms after the mode changed (runs move by at most 5 ms on their
	// grid); with one success it would be within about 100 ms.
	evs := until(t, d.events, is("ready", "node", "site/w"))
	back := svcEventTime(t, evs[len(evs)-1])
	if gap := back.Sub(okAt); gap < 180*time.Millisecond {
		t.Errorf("ready again %v after the probe turned ok, want at least 3 runs (200ms)", gap)
	}
	if n := h.node("site/w"); n.ready() != "true" || n.Restarts != 0 {
		t.Errorf("w after the successes: %v, want ready, not restarted", n)
	}
	d.stop()
	h.requireAllDead()
}

// TestHealthOneshotNotify: a oneshot pass waits for a `ready: notify`
// worker's READY=1 before starting its rest_for_one sibling, and leaves no
// notify socket behind.
func TestHealthOneshotNotify(t *testing.T) {
	begin(t)
	h := newHealthWS(t)
	t.Cleanup(h.killDetached)
	cfg := h.config(fmt.Sprintf(`tree:
  name: site
  strategy: rest_for_one
  children:
    - name: a
      ready: notify
      command: %s
    - name: b
      command: %s
`, h.cmd("a", "-notify-after", "300ms", "-status", "warm"), h.cmd("b")))
	r := otpsv(t, h.dir, "oneshot", "-c", cfg)
	if r.code != 0 {
		t.Fatalf("oneshot: exit %d; stderr: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "site/a: started") || !strings.HasPrefix(lines[1], "site/b: started") {
		t.Fatalf("oneshot printed %q, want site/a started then site/b", r.stdout)
	}
	a, b := h.runs("a"), h.runs("b")
	notified := h.runs("a.notify")
	if len(a) != 1 || len(b) != 1 || len(notified) != 1 {
		t.Fatalf("runs: a %v, b %v, a's notify %v; want one each", a, b, notified)
	}
	if !b[0].at.After(notified[0].at) {
		t.Errorf("b started at %v, before a sent READY=1 at %v", b[0].at, notified[0].at)
	}
	if ents, _ := os.ReadDir(h.stateDir + "/notify"); len(ents) != 0 {
		t.Errorf("the pass left notify sockets behind: %v", ents)
	}
}

// TestHealthBackoffResetAfter: a worker that stayed ready for reset_after
// before it failed starts its backoff over (failures 1, the initial
// delay), while one that fails at once climbs (1, 2, 3).
func TestHealthBackoffResetAfter(t *testing.T) {
	begin(t)
	h := newHealthWS(t)
	d := h.startDaemon(h.config(fmt.Sprintf(`tree:
  name: site
  intensity: 100
  period: 60s
  children:
    - name: steady
      backoff: {initial: 100ms, max: 10s, factor: 4, jitter: 0, reset_after: 300ms}
      command: %s
    - name: flaky
      backoff: {initial: 100ms, max: 10s, factor: 4, jitter: 0, reset_after: 300ms}
      command: %s
`, h.cmd("steady", "-exit-after", "600ms", "-code", "3"), h.cmd("flaky", "-exit-after", "50ms", "-code", "3"))))
	var steady, flaky []event
	for len(steady) < 3 || len(flaky) < 3 {
		e := waitFor(t, d.events, is("restart delayed"))
		switch e.str("node") {
		case "site/steady":
			steady = append(steady, e)
		case "site/flaky":
			flaky = append(flaky, e)
		}
	}
	for i, e := range steady[:3] {
		if e.num("failures") != 1 || e.str("delay") != "100ms" {
			t.Errorf("steady's delay %d: %v, want failures 1, delay 100ms (it stayed ready 600ms > reset_after)", i+1, e)
		}
	}
	for i, want := range []string{"100ms", "400ms", "1.6s"} {
		if e := flaky[i]; e.num("failures") != i+1 || e.str("delay") != want {
			t.Errorf("flaky's delay %d: %v, want failures %d, delay %s", i+1, e, i+1, want)
		}
	}
	d.stop()
	h.requireAllDead()
}
