package test

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestHealthServiceProbes: a service worker (a daemonizing start command
// and a pidfile) with HTTP probes is ready only once its readiness probe
// succeeds, and a failing liveness probe makes it hung: stopped with its
// stop command and started again, the reason in the log and in why.
func TestHealthServiceProbes(t *testing.T) {
	begin(t)
	h := newHealthWS(t)
	port := freePort(t)
	modes := h.path("modes")
	pidfile := filepath.Join(h.dir, "svc.pid")
	argv := []string{h.bin, "-name", "svc", "-ready", h.hready, "-env-file", h.envFile("svc"),
		"-http", fmt.Sprintf("127.0.0.1:%d", port), "-mode-dir", modes}
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = strconv.Quote(a)
	}
	start := fmt.Sprintf("%s > /dev/null 2>&1 & echo $! > %s", strings.Join(q, " "), pidfile)
	// Not ready until the test says so: its successor answers ok.
	h.setMode(modes, "ready", 0, "fail")
	url := fmt.Sprintf("http://127.0.0.1:%d/live", port)
	d := h.startDaemon(h.config(fmt.Sprintf(`tree:
  name: site
  strategy: rest_for_one
  children:
    - name: svc
      start: [sh, -c, %q]
      # LSB: stopping a stopped service succeeds, and leaves no pidfile
      stop: [sh, -c, 'kill $(cat %s) 2>/dev/null; rm -f %s; exit 0']
      pidfile: %s
      probes:
        readiness: {http: "http://127.0.0.1:%d/ready", period: 100ms}
        liveness: {http: %q, period: 100ms, failure_threshold: 2}
    - name: after
      command: [sleep, "1000"]
`, start, pidfile, pidfile, pidfile, port, url)))
	defer h.killLeftovers()
	first := h.wait(d, "svc", 1)
	// rest_for_one: "after" waits for svc's readiness probe.
	waitFor(t, d.events, is("probe failed", "node", "site/svc", "probe", "readiness"))
	if n := h.node("site/after"); n.State != "stopped" {
		t.Fatalf("site/after is %s while svc is not ready, want stopped", n.State)
	}
	if n := h.node("site/svc"); n.ready() != "false" {
		t.Errorf("site/svc ready = %s before its readiness probe succeeded, want false", n.ready())
	}
	h.setMode(modes, "ready", 0, "ok")
	waitFor(t, d.events, is("ready", "node", "site/svc"))
	waitFor(t, d.events, is("started", "node", "site/after"))

	h.setMode(modes, "live", first.pid, "fail")
	f := waitFor(t, d.events, is("service failed", "node", "site/svc"))
	if r := f.str("reason"); !strings.HasPrefix(r, "liveness probe: ") || !strings.Contains(r, url+": 503") {
		t.Errorf("service failed with reason %q, want liveness probe: GET %s: 503...", r, url)
	}
	second := h.wait(d, "svc", 2)
	requireDead(t, first.pid, "the hung service")
	if second.pid == first.pid {
		t.Fatalf("svc restarted with its old pid %d", first.pid)
	}
	if !anyContains(h.whyDetails("site/svc"), "liveness probe: ") {
		t.Errorf("why site/svc: %q, want the liveness failure", h.whyDetails("site/svc"))
	}
	d.stop()
	requireDead(t, second.pid, "the service after the daemon stopped")
}
