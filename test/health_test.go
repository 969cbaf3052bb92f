package test

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Health (SPEC §6): readiness signals (sd_notify, notification fd),
// readiness and liveness probes, the watchdog and restart backoff, with
// test/testdata/healthfix as the worker.

// TestHealthNotifyGatesRestForOne: under rest_for_one a sibling starts
// only once the previous one is ready. a is ready when a child in its
// process group sends READY=1 (with STATUS=), b when it sends READY=1
// itself; c is ready once spawned. Until then a is "starting", not ready.
func TestHealthNotifyGatesRestForOne(t *testing.T) {
	begin(t)
	h := newHealthWS(t)
	d := h.startDaemon(h.config(fmt.Sprintf(`tree:
  name: site
  strategy: rest_for_one
  intensity: 5
  period: 60s
  children:
    - name: a
      ready: notify
      ready_timeout: 60s
      command: %s
    - name: b
      ready: notify
      command: %s
    - name: c
      command: %s
`, h.cmd("a", "-notify-on", h.path("go-a"), "-notify-from-child", "-status", "warmed up"),
		h.cmd("b", "-notify-after", "0"), h.cmd("c"))))
	ctlWaitAll(t, d.events, is("daemon started"), is("started", "node", "site/a"))
	a := h.wait(d, "a", 1)
	if n := h.node("site/a"); n.State != "starting" || n.ready() != "false" || n.pid() != a.pid {
		t.Errorf("a before READY=1: %v, want state starting, ready false, pid %d", n, a.pid)
	}
	if n := h.node("site/b"); n.pid() != 0 || len(h.runs("b")) != 0 {
		t.Errorf("b started before a was ready: %v, lines %v", n, h.runs("b"))
	}

	h.touch("go-a")
	evs := until(t, d.events, is("started", "node", "site/c"))
	var order []string
	for _, e := range only(evs, oneOf("ready", "started")) {
		order = append(order, e.msg()+" "+e.str("node"))
	}
	want := []string{"ready site/a", "started site/b", "ready site/b", "started site/c"}
	if strings.Join(order, ", ") != strings.Join(want, ", ") {
		t.Errorf("events %v, want %v", order, want)
	}
	if r := only(evs, is("ready", "node", "site/a")); len(r) == 1 && r[0].num("pid") != a.pid {
		t.Errorf(`"ready" of a: %v, want pid %d (the worker, not the child that sent READY=1)`, r[0], a.pid)
	}
	aNotify, b := h.wait(d, "a.notify", 1), h.wait(d, "b", 1)
	bNotify, c := h.wait(d, "b.notify", 1), h.wait(d, "c", 1)
	if aNotify.pgid != a.pgid || aNotify.pid == a.pid {
		t.Errorf("a's READY=1 came from %+v, want a child in a's group %d", aNotify, a.pgid)
	}
	if !b.at.After(aNotify.at) || !c.at.After(bNotify.at) {
		t.Errorf("start order: a sent READY=1 at %v, b started %v, b sent READY=1 %v, c started %v",
			aNotify.at, b.at, bNotify.at, c.at)
	}
	na := h.cliNode("site/a")
	if na.State != "running" || na.ready() != "true" || na.Message != "warmed up" || na.pid() != a.pid {
		t.Errorf("a after READY=1: %v, want running, ready, message \"warmed up\", pid %d", na, a.pid)
	}
	for _, p := range []string{"site/b", "site/c"} {
		if n := h.node(p); n.State != "running" || n.ready() != "true" {
			t.Errorf("%s: %v, want running and ready", p, n)
		}
	}
	d.stop()
	h.requireAllDead()
}

// TestHealthSystemdNotify: a program written for systemd runs unchanged:
// `systemd-notify --ready --status=up` from the worker's shell makes it
// ready with that status.
func TestHealthSystemdNotify(t *testing.T) {
	begin(t)
	const tool = "/usr/bin/systemd-notify"
	if _, err := os.Stat(tool); err != nil {
		t.Skipf("needs %s", tool)
	}
	h := newHealthWS(t)
	script := tool + ` --ready --status=up && exec "$0" -name w -ready "$1" -env-file "$2"`
	d := h.startDaemon(h.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: w
      ready: notify
      command: %s
`, yamlArgv([]string{"/bin/sh", "-c", script, h.bin, h.hready, h.envFile("w")}))))
	ctlWaitAll(t, d.events, is("daemon started"), is("ready", "node", "site/w"))
	w := h.wait(d, "w", 1)
	if n := h.cliNode("site/w"); n.State != "running" || n.ready() != "true" || n.Message != "up" || n.pid() != w.pid {
		t.Errorf("w: %v, want running, ready, message \"up\", pid %d", n, w.pid)
	}
	d.stop()
	h.requireAllDead()
}

// TestHealthNotifyForeignSender: READY=1 and STATUS= sent to a worker's
// NOTIFY_SOCKET by a process outside its process group (the test) are
// ignored, and the worker, which never says READY=1 itself, fails with
// "not ready within 5s": its process group is killed.
func TestHealthNotifyForeignSender(t *testing.T) {
	begin(t)
	h := newHealthWS(t)
	d := h.startDaemon(h.config(fmt.Sprintf(`tree:
  name: site
  intensity: 5
  period: 60s
  children:
    - name: w
      ready: notify
      ready_timeout: 5s
      command: %s
`, h.cmd("w", "-child", "-status", "mine", "-status-on", h.path("status-w")))))
	ctlWaitAll(t, d.events, is("daemon started"), is("started", "node", "site/w"))
	w, gc := h.wait(d, "w", 1), h.wait(d, "w.gc", 1)
	sock := h.env("w", w.pid).Env["NOTIFY_SOCKET"]
	if sock == "" {
		t.Fatal("the worker has no NOTIFY_SOCKET")
	}
	sendNotify(t, sock, "READY=1\nSTATUS=hijacked")
	// Sync point: the worker's own STATUS= arrives on the same socket
	// after the foreign datagram.
	h.touch("status-w")
	n := h.waitNode("site/w", `message "mine"`, func(n *hNode) bool {
		if n.Message == "hijacked" || n.ready() == "true" {
			t.Fatalf("the foreign datagram was heeded: %v", n)
		}
		return n.Message == "mine"
	})
	if n.State != "starting" || n.ready() != "false" {
		t.Errorf("w after a foreign READY=1: %v, want starting, not ready", n)
	}

	evs := until(t, d.events, about("site/w", "not ready within 5s"))
	if r := only(evs, is("ready", "node", "site/w")); len(r) > 0 {
		t.Errorf("w became ready: %v", r)
	}
	requireDead(t, w.pid, "w not ready in time")
	requireDead(t, gc.pid, "w's grandchild")
	requireGroupEmpty(t, w.pgid)
	waitFor(t, d.events, is("started", "node", "site/w"))
	if why := h.whyDetails("site/w"); !anyContains(why, "not ready within 5s") {
		t.Errorf("why site/w: %q, want the reason \"not ready within 5s\"", why)
	}
	d.stop()
	h.requireAllDead()
}

// TestHealthNotifySocketRemoved: NOTIFY_SOCKET is a unix socket file while
// the worker runs, gone once it is stopped; a restart does not leave the
// old one behind.
func TestHealthNotifySocketRemoved(t *testing.T) {
	begin(t)
	h := newHealthWS(t)
	d := h.startDaemon(h.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: w
      ready: notify
      command: %s
`, h.cmd("w", "-notify-after", "0"))))
	ctlWaitAll(t, d.events, is("daemon started"), is("ready", "node", "site/w"))
	w1 := h.wait(d, "w", 1)
	sock1 := h.env("w", w1.pid).Env["NOTIFY_SOCKET"]
	requireSocket(t, sock1)

	if err := syscall.Kill(w1.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, d.events, is("ready", "node", "site/w"))
	w2 := h.wait(d, "w", 2)
	sock2 := h.env("w", w2.pid).Env["NOTIFY_SOCKET"]
	requireSocket(t, sock2)
	if sock2 != sock1 {
		requireGone(t, sock1, "the killed worker's socket")
	}

	h.mustCtl("stop", "site/w")
	requireDead(t, w2.pid, "w after stop")
	requireGone(t, sock2, "the stopped worker's socket")
	d.stop()
	h.requireAllDead()
}

// requireSocket fails unless path names a unix socket in the file system
// (not an abstract one: it must be removed when the worker stops).
func requireSocket(t *testing.T, path string) {
	t.Helper()
	if !filepath.IsAbs(path) {
		t.Fatalf("NOTIFY_SOCKET %q, want an absolute file system path", path)
	}
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("NOTIFY_SOCKET %s: %v, %v; want a socket", path, fi, err)
	}
}

// requireGone waits until path no longer exists (removing it is part of
// stopping, so a short deadline).
func requireGone(t *testing.T, path, what string) {
	t.Helper()
	deadline := time.Now().Add(reapGrace)
	for {
		_, err := os.Lstat(path)
		if errors.Is(err, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s still exists (%v)", what, path, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHealthFDReady: `ready: fd:5` (s6's notification-fd): the worker is
// ready when it writes a newline on fd 5, and one_for_all starts the next
// sibling only then.
func TestHealthFDReady(t *testing.T) {
	begin(t)
	h := newHealthWS(t)
	d := h.startDaemon(h.config(fmt.Sprintf(`tree:
  name: site
  strategy: one_for_all
  children:
    - name: a
      ready: "fd:5"
      command: %s
    - name: b
      command: %s
`, h.cmd("a", "-fd", "5", "-fd-on", h.path("go-a")), h.cmd("b"))))
	ctlWaitAll(t, d.events, is("daemon started"), is("started", "node", "site/a"))
	a := h.wait(d, "a", 1)
	if n := h.node("site/a"); n.State != "starting" || n.ready() != "false" {
		t.Errorf("a before its newline: %v, want starting, not ready", n)
	}
	if len(h.runs("b")) != 0 {
		t.Errorf("b started before a was ready: %v", h.runs("b"))
	}
	h.touch("go-a")
	evs := until(t, d.events, is("started", "node", "site/b"))
	if r := only(evs, is("ready", "node", "site/a")); len(r) != 1 {
		t.Errorf(`"ready" events of a before b started: %v, want 1`, r)
	}
	aFD, b := h.wait(d, "a.fd", 1), h.wait(d, "b", 1)
	if !b.at.After(aFD.at) {
		t.Errorf("b started at %v, before a wrote its newline at %v", b.at, aFD.at)
	}
	if n := h.node("site/a"); n.State != "running" || n.ready() != "true" || n.pid() != a.pid {
		t.Errorf("a after its newline: %v, want running, ready, pid %d", n, a.pid)
	}
	d.stop()
	h.requireAllDead()
}

// TestHealthReadinessProbe: an HTTP readiness probe must succeed before
// the worker is ready; failing later (failure_threshold 2) makes it not
// ready (check WARNING) without restarting it; success_threshold 2
// successes make it ready again.
func TestHealthReadinessProbe(t *testing.T) {
	begin(t)
	h := newHealthWS(t)
	port := freePort(t)
	modes := h.path("modes")
	h.setMode(modes, "ready", 0, "fail")
	d := h.startDaemon(h.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: w
      command: %s
      probes:
        readiness: {http: "http://127.0.0.1:%d/ready", period: 200ms, failure_threshold: 2, success_threshold: 2}
`, h.cmd("w", "-http", fmt.Sprintf("127.0.0.1:%d", port), "-mode-dir", modes), port)))
	ctlWaitAll(t, d.events, is("daemon started"), is("started", "node", "site/w"))
	w := h.wait(d, "w", 1)
	if n := h.node("site/w"); n.State != "starting" || n.ready() != "false" {
		t.Errorf("w while its readiness probe fails: %v, want starting, not ready", n)
	}

	h.setMode(modes, "ready", 0, "ok")
	evs := until(t, d.events, is("ready", "node", "site/w"))
	if n := h.node("site/w"); n.State != "running" || n.ready() != "true" {
		t.Errorf("w once its probe succeeds: %v, want running, ready", n)
	}
	if r := h.ctl("check"); r.code != 0 {
		t.Errorf("check with w ready: exit status %d, want 0:\n%s", r.code, r.stdout)
	}

	h.setMode(modes, "ready", 0, "fail")
	evs = append(evs, until(t, d.events, is("not ready", "node", "site/w"))...)
	n := h.cliNode("site/w")
	if n.State != "running" || n.ready() != "false" || n.pid() != w.pid {
		t.Errorf("w after its probe failed: %v, want running, not ready, pid %d", n, w.pid)
	}
	r := h.ctl("check")
	if r.code != 1 || !strings.HasPrefix(r.stdout, "WARNING") || !strings.Contains(r.stdout, "site/w") {
		t.Errorf("check with w not ready: exit status %d, want 1, WARNING naming site/w:\n%s", r.code, r.stdout)
	}

	h.setMode(modes, "ready", 0, "ok")
	h.waitNode("site/w", "ready again", func(n *hNode) bool { return n.ready() == "true" })
	if r := h.ctl("check"); r.code != 0 {
		t.Errorf("check with w ready again: exit status %d, want 0:\n%s", r.code, r.stdout)
	}
	d.signal(syscall.SIGTERM)
	evs = append(evs, until(t, d.events, is("daemon stopped"))...)
	if e := only(nodeEvents(evs, "site/w"), oneOf(hung, "restarting", "restart delayed")); len(e) > 0 {
		t.Errorf("w was restarted by its readiness probe: %v", e)
	}
	if code := d.wait(exitGuard); code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
	if runs := h.runs("w"); len(runs) != 1 {
		t.Errorf("w ran %d times, want 1 (a readiness failure never restarts)", len(runs))
	}
	h.requireAllDead()
}

// TestHealthLivenessHTTP: failure_threshold consecutive 503s from an HTTP
// liveness probe kill the worker's whole process group (its grandchild
// too), count as a failure and restart it; `why` shows the probe's
// reason.
func TestHealthLivenessHTTP(t *testing.T) {
	begin(t)
	h := newHealthWS(t)
	port := freePort(t)
	modes := h.path("modes")
	url := fmt.Sprintf("http://127.0.0.1:%d/live", port)
	d := h.startDaemon(h.config(fmt.Sprintf(`tree:
  name: site
  intensity: 5
  period: 60s
  children:
    - name: w
      command: %s
      probes:
        # Liveness is probed once the worker is ready: not while it starts
        # listening.
        readiness: {http: "http://127.0.0.1:%d/ready", period: 200ms}
        liveness: {http: %q, period: 200ms, timeout: 1s, failure_threshold: 2}
`, h.cmd("w", "-child", "-http", fmt.Sprintf("127.0.0.1:%d", port), "-mode-dir", modes), port, url)))
	ctlWaitAll(t, d.events, is("daemon started"), is("ready", "node", "site/w"))
	w, gc := h.wait(d, "w", 1), h.wait(d, "w.gc", 1)

	// Only this process fails: its successor answers ok.
	h.setMode(modes, "live", w.pid, "fail")
	evs := until(t, d.events, is("started", "node", "site/w"))
	reason := "liveness probe: "
	detail := fmt.Sprintf("GET %s: 503", url)
	if pf := only(evs, is("probe failed", "node", "site/w", "probe", "liveness")); len(pf) == 0 || !strings.Contains(pf[0].str("reason"), detail) {
		t.Errorf(`"probe failed" events %v, want liveness ones with reason containing %q`, pf, detail)
	}
	hg := only(evs, is(hung, "node", "site/w"))
	if len(hg) != 1 || !strings.HasPrefix(hg[0].str("reason"), reason) || !strings.Contains(hg[0].str("reason"), detail) {
		t.Fatalf("%q events %v, want one with reason %q...%q", hung, hg, reason, detail)
	}
	// The failure counts like an exit: the supervisor restarts w.
	if rs := only(evs, is("restarting", "failed", "site/w")); len(rs) != 1 || !strings.HasPrefix(rs[0].str("reason"), reason) {
		t.Errorf(`"restarting" events %v, want one for site/w with reason %q...`, rs, reason)
	}
	requireDead(t, w.pid, "the hung worker")
	requireDead(t, gc.pid, "the hung worker's grandchild")
	requireGroupEmpty(t, w.pgid)
	w2 := h.wait(d, "w", 2)
	if w2.pid == w.pid {
		t.Fatalf("w restarted with its old pid %d", w.pid)
	}
	why := h.whyDetails("site/w")
	found := false
	for _, s := range why {
		found = found || strings.Contains(s, reason) && strings.Contains(s, detail)
	}
	if !found {
		t.Errorf("why site/w: %q, want a failure %q...%q", why, reason, detail)
	}
	if n := h.node("site/w"); n.Restarts != 1 || n.pid() != w2.pid {
		t.Errorf("w after the restart: %v, want restarts 1, pid %d", n, w2.pid)
	}
	d.stop()
	h.requireAllDead()
}

// TestHealthLivenessTCP: a TCP liveness probe fails once the worker stops
// accepting connections; the worker is killed and restarted.
func TestHealthLivenessTCP(t *testing.T) {
	begin(t)
	h := newHealthWS(t)
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	d := h.startDaemon(h.config(fmt.Sprintf(`tree:
  name: site
  intensity: 5
  period: 60s
  children:
    - name: w
      command: %s
      probes:
        readiness: {tcp: %q, period: 200ms}
        liveness: {tcp: %q, period: 200ms, timeout: 1s, failure_threshold: 2}
`, h.cmd("w", "-http", addr), addr, addr)))
	ctlWaitAll(t, d.events, is("daemon started"), is("ready", "node", "site/w"))
	w := h.wait(d, "w", 1)

	closeListener(t, addr)
	evs := until(t, d.events, is("started", "node", "site/w"))
	hg := only(evs, is(hung, "node", "site/w"))
	if len(hg) != 1 || !strings.HasPrefix(hg[0].str("reason"), "liveness probe: ") || !strings.Contains(hg[0].str("reason"), addr) {
		t.Fatalf("%q events %v, want one with reason \"liveness probe: \"...%q", hung, hg, addr)
	}
	requireDead(t, w.pid, "the worker that stopped accepting")
	requireGroupEmpty(t, w.pgid)
	w2 := h.wait(d, "w", 2)
	if w2.pid == w.pid {
		t.Fatalf("w restarted with its old pid %d", w.pid)
	}
	d.stop()
	h.requireAllDead()
}

// closeListener asks healthfix at addr to close its listener.
func closeListener(t *testing.T, addr string) {
	t.Helper()
	c := &http.Client{Timeout: commandGuard}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://" + addr + "/close")
	if err != nil {
		t.Fatalf("GET /close: %v", err)
	}
	_ = resp.Body.Close()
}

// TestHealthExecProbeTimeout: an exec probe that hangs is killed whole
// when its timeout expires: its process and its grandchild, in a process
// group of its own, are gone once the failure is reported.
func TestHealthExecProbeTimeout(t *testing.T) {
	begin(t)
	h := newHealthWS(t)
	probe := yamlArgv([]string{h.bin, "-name", "probe", "-ready", h.hready, "-child"})
	d := h.startDaemon(h.config(fmt.Sprintf(`tree:
  name: site
  intensity: 5
  period: 60s
  children:
    - name: w
      command: %s
      probes:
        liveness: {exec: %s, period: 1s, timeout: 500ms, failure_threshold: 3}
`, h.cmd("w"), probe)))
	ctlWaitAll(t, d.events, is("daemon started"), is("started", "node", "site/w"))
	w := h.wait(d, "w", 1)
	pf := waitFor(t, d.events, is("probe failed", "node", "site/w", "probe", "liveness"))
	p, gc := h.wait(d, "probe", 1), h.wait(d, "probe.gc", 1)
	if p.pgid != p.pid || p.pgid == w.pgid || p.pgid == d.pid() {
		t.Errorf("exec probe pid %d in group %d, want a group of its own (worker's %d, daemon's %d)", p.pid, p.pgid, w.pgid, d.pid())
	}
	requireDead(t, p.pid, "the timed-out exec probe")
	requireDead(t, gc.pid, "the timed-out exec probe's grandchild")
	requireGroupEmpty(t, p.pgid)
	if !strings.Contains(pf.str("reason"), "exec") {
		t.Errorf(`"probe failed" %v: reason does not name the exec probe`, pf)
	}
	requireAlive(t, w.pid, "w after one probe failure of three")
	d.stop()
	h.requireAllDead()
}

// TestHealthWatchdog: with `watchdog:` the worker gets WATCHDOG_USEC and
// WATCHDOG_PID; keep-alives keep it running; a missed keep-alive or
// WATCHDOG=trigger is a failure with reason "watchdog".
func TestHealthWatchdog(t *testing.T) {
	begin(t)
	t.Run("keep-alives", func(t *testing.T) {
		t.Parallel()
		h := newHealthWS(t)
		d := h.startDaemon(h.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: w
      ready: notify
      watchdog: 1s
      command: %s
    - name: plain
      ready: notify
      command: %s
`, h.cmd("w", "-notify-after", "0", "-watchdog"), h.cmd("plain", "-notify-after", "0"))))
		ctlWaitAll(t, d.events, is("daemon started"), is("ready", "node", "site/w"), is("ready", "node", "site/plain"))
		w, plain := h.wait(d, "w", 1), h.wait(d, "plain", 1)
		env := h.env("w", w.pid).Env
		if env["NOTIFY_SOCKET"] == "" || env["WATCHDOG_USEC"] != "1000000" || env["WATCHDOG_PID"] != strconv.Itoa(w.pid) {
			t.Errorf("w's environment %v, want NOTIFY_SOCKET, WATCHDOG_USEC=1000000, WATCHDOG_PID=%d", env, w.pid)
		}
		penv := h.env("plain", plain.pid).Env
		_, usec := penv["WATCHDOG_USEC"]
		_, wpid := penv["WATCHDOG_PID"]
		if penv["NOTIFY_SOCKET"] == "" || usec || wpid {
			t.Errorf("plain's environment %v, want NOTIFY_SOCKET and no WATCHDOG_*", penv)
		}
		// The worker itself says it has lived through three watchdog
		// periods, sending a keep-alive every third of one.
		h.wait(d, "w.wd", 10)
		d.signal(syscall.SIGTERM)
		evs := until(t, d.events, is("daemon stopped"))
		if e := only(evs, oneOf(hung, "restarting")); len(e) > 0 {
			t.Errorf("a worker sending keep-alives was killed: %v", e)
		}
		if code := d.wait(exitGuard); code != 0 {
			t.Fatalf("exit status %d, want 0", code)
		}
		if n := len(h.runs("w")); n != 1 {
			t.Errorf("w ran %d times, want 1", n)
		}
		h.requireAllDead()
	})
	t.Run("miss", func(t *testing.T) {
		t.Parallel()
		h := newHealthWS(t)
		d := h.startDaemon(h.config(fmt.Sprintf(`tree:
  name: site
  intensity: 5
  period: 60s
  children:
    - name: w
      ready: notify
      watchdog: 1s
      command: %s
`, h.cmd("w", "-notify-after", "0", "-watchdog", "-watchdog-stop-after", "1500ms", "-child"))))
		ctlWaitAll(t, d.events, is("daemon started"), is("ready", "node", "site/w"))
		w, gc := h.wait(d, "w", 1), h.wait(d, "w.gc", 1)
		evs := until(t, d.events, is("started", "node", "site/w"))
		hg := only(evs, is(hung, "node", "site/w"))
		if len(hg) != 1 || !strings.Contains(hg[0].str("reason"), "watchdog") {
			t.Fatalf("%q events %v, want one with reason watchdog", hung, hg)
		}
		// Not before a whole period after the last keep-alive was sent.
		var last time.Time
		for _, l := range h.runs("w.wd") {
			if l.pid == w.pid {
				last = l.at
			}
		}
		if at := hg[0].at(t); at.Before(last.Add(time.Second)) {
			t.Errorf("killed at %v, less than the watchdog's 1s after the last keep-alive at %v", at, last)
		}
		requireDead(t, w.pid, "the worker that missed its keep-alive")
		requireDead(t, gc.pid, "its grandchild")
		requireGroupEmpty(t, w.pgid)
		if why := h.whyDetails("site/w"); !anyContains(why, "watchdog") {
			t.Errorf("why site/w: %q, want the reason watchdog", why)
		}
		d.stop()
		h.requireAllDead()
	})
	t.Run("trigger", func(t *testing.T) {
		t.Parallel()
		h := newHealthWS(t)
		d := h.startDaemon(h.config(fmt.Sprintf(`tree:
  name: site
  intensity: 5
  period: 60s
  children:
    - name: w
      ready: notify
      watchdog: 10s
      command: %s
`, h.cmd("w", "-notify-after", "0", "-watchdog", "-watchdog-trigger-after", "500ms"))))
		ctlWaitAll(t, d.events, is("daemon started"), is("ready", "node", "site/w"))
		w := h.wait(d, "w", 1)
		evs := until(t, d.events, is("started", "node", "site/w"))
		hg := only(evs, is(hung, "node", "site/w"))
		if len(hg) != 1 || !strings.Contains(hg[0].str("reason"), "watchdog") {
			t.Fatalf("%q events %v, want one with reason watchdog", hung, hg)
		}
		// Keep-alives kept coming: the trigger, not a miss, killed it.
		if at := hg[0].at(t); !at.Before(w.at.Add(10 * time.Second)) {
			t.Errorf("killed at %v, not before the 10s watchdog could miss (started %v)", at, w.at)
		}
		requireDead(t, w.pid, "the worker that sent WATCHDOG=trigger")
		requireGroupEmpty(t, w.pgid)
		d.stop()
		h.requireAllDead()
	})
}

// TestHealthBackoff: restarts of a crashing worker wait
// initial*factor^(n-1), capped at max (jitter 0), the worker showing state
// "backoff" meanwhile; `backoff: none` on a child of a supervisor with a
// backoff restarts it at once.
func TestHealthBackoff(t *testing.T) {
	begin(t)
	h := newHealthWS(t)
	d := h.startDaemon(h.config(fmt.Sprintf(`tree:
  name: site
  intensity: 100
  period: 60s
  backoff: {initial: 200ms, max: 800ms, factor: 4, jitter: 0, reset_after: 60s}
  children:
    - name: w
      command: %s
    - name: quick
      backoff: none
      command: %s
`, h.cmd("w", "-exit-after", "100ms", "-code", "3"), h.cmd("quick"))))
	// The events stay queued while the tree is polled.
	n := h.waitNode("site/w", "state backoff", func(n *hNode) bool { return n.State == "backoff" })
	if n.pid() != 0 {
		t.Errorf("w in backoff: %v, want no pid", n)
	}

	const runs = 5
	var evs []event
	for len(only(evs, is("started", "node", "site/w"))) < runs {
		evs = append(evs, until(t, d.events, is("started", "node", "site/w"))...)
	}
	delays := []time.Duration{200 * time.Millisecond, 800 * time.Millisecond, 800 * time.Millisecond, 800 * time.Millisecond}
	rd := only(evs, is("restart delayed", "node", "site/w"))
	if len(rd) < len(delays) {
		t.Fatalf(`"restart delayed" events of w: %v, want %d`, rd, len(delays))
	}
	for i, want := range delays {
		if got := rd[i].duration(t, "delay"); got != want || rd[i].num("failures") != i+1 {
			t.Errorf(`"restart delayed" %d: %v, want delay %v after %d failures`, i+1, rd[i], want, i+1)
		}
	}
	ls := make([]hLine, runs)
	for i := range ls {
		ls[i] = h.wait(d, "w", i+1)
	}
	for i, delay := range delays {
		gap := ls[i+1].at.Sub(ls[i].at)
		// Each run lives 100ms (from its line) and waits delay before the
		// next; 5s above that would mean the cap was not applied.
		if min := 100*time.Millisecond + delay; gap < min || gap > min+5*time.Second {
			t.Errorf("run %d started %v after run %d, want at least %v (and not far more)", i+2, gap, i+1, min)
		}
	}
	if ex := only(evs, is("exited", "node", "site/w")); len(ex) == 0 || !about("site/w", "exit 3")(ex[0]) {
		t.Errorf(`"exited" events of w %v, want them to say "exit 3"`, ex)
	}

	quick := h.wait(d, "quick", 1)
	if err := syscall.Kill(quick.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	qevs := nodeEvents(until(t, d.events, is("started", "node", "site/quick")), "site/quick")
	if rd := only(qevs, is("restart delayed")); len(rd) > 0 {
		t.Errorf("quick (backoff: none) was delayed: %v", rd)
	}
	d.stop()
	h.requireAllDead()
}

// TestHealthBackoffStopCancels: `otpsv stop` during the backoff wait
// cancels the restart: no new process, the worker stays stopped, and the
// restart that was not performed does not count towards intensity. The
// sync point is a sibling with a longer delay, restarted after w's timer
// would have fired.
func TestHealthBackoffStopCancels(t *testing.T) {
	begin(t)
	h := newHealthWS(t)
	d := h.startDaemon(h.config(fmt.Sprintf(`tree:
  name: site
  intensity: 100
  period: 60s
  children:
    - name: sub
      intensity: 1
      period: 60s
      backoff: {initial: 2s, max: 2s, jitter: 0}
      children:
        - name: w
          command: %s
    - name: t
      backoff: {initial: 3s, max: 3s, jitter: 0}
      command: %s
`, h.cmd("w", "-exit-after", "100ms", "-code", "3"), h.cmd("t", "-exit-after", "100ms", "-code", "3"))))
	ctlWaitAll(t, d.events, is("daemon started"), is("restart delayed", "node", "site/sub/w"))
	h.mustCtl("stop", "site/sub/w")
	if n := len(h.runs("w")); n != 1 {
		t.Fatalf("w ran %d times before the stop, want 1 (its 2s delay should still run)", n)
	}
	t1 := h.wait(d, "t", 1)
	var evs []event
	for len(only(evs, func(e event) bool { return is("started", "node", "site/t")(e) && e.num("pid") != t1.pid })) == 0 {
		evs = append(evs, until(t, d.events, is("started", "node", "site/t"))...)
	}
	t2 := h.wait(d, "t", 2)
	if gap := t2.at.Sub(t1.at); gap < 3100*time.Millisecond {
		t.Errorf("t restarted %v after it started, want at least 100ms + its 3s delay", gap)
	}
	if s := only(evs, is("started", "node", "site/sub/w")); len(s) > 0 || len(h.runs("w")) != 1 {
		t.Errorf("w started again after the stop: %v, runs %v", s, h.runs("w"))
	}
	if n := h.node("site/sub/w"); n.State != "stopped" || !n.AdminStopped || n.pid() != 0 {
		t.Errorf("w: %v, want stopped by the operator, no pid", n)
	}
	if why := h.ctlWhyOf("site/sub/w"); why.Used != 0 {
		t.Errorf("why site/sub/w: %d restarts used of sub's intensity, want 0 (none was performed)", why.Used)
	}
	d.stop()
	h.requireAllDead()
}

// TestHealthValidateErrors: validate rejects bad health keys with
// FILE:LINE and exit status 2, and accepts every key used well.
func TestHealthValidateErrors(t *testing.T) {
	begin(t)
	const head = "tree:\n  name: site\n  children:\n    - name: w\n      command: [/bin/true]\n"
	for _, tc := range []struct {
		name, body string
		line       int // 0: valid
	}{
		{"valid", `      ready: notify
      ready_timeout: 5s
      watchdog: 2s
      backoff: {initial: 100ms, max: 30s, factor: 2, jitter: 0.2, reset_after: 60s}
      probes:
        readiness: {http: "http://127.0.0.1:8080/ready", period: 2s, timeout: 1s, initial_delay: 1s, failure_threshold: 3, success_threshold: 2}
        liveness: {tcp: "127.0.0.1:8080", period: 5s}
    - name: x
      command: [/bin/true]
      ready: "fd:5"
      backoff: none
      probes: {liveness: {exec: [/bin/true], timeout: 2s}}
`, 0},
		{"two kinds", "      probes: {liveness: {http: \"http://127.0.0.1:1/\", tcp: \"127.0.0.1:1\"}}\n", 6},
		{"bad URL", "      probes: {readiness: {http: \"http//nohost/ready\"}}\n", 6},
		{"tcp without port", "      probes: {liveness: {tcp: \"127.0.0.1\"}}\n", 6},
		{"watchdog without notify", "      ready: spawn\n      watchdog: 1s\n", 7},
		{"threshold 0", "      probes: {readiness: {tcp: \"127.0.0.1:80\", failure_threshold: 0}}\n", 6},
		{"no kind", "      probes: {liveness: {period: 1s}}\n", 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ws := newWorkspace(t)
			cfg := ws.file("health.yaml", head+tc.body)
			r := otpsv(t, ws.dir, "validate", "-c", cfg)
			if tc.line == 0 {
				if r.code != 0 {
					t.Errorf("validate: exit status %d, want 0; stderr:\n%s", r.code, r.stderr)
				}
				return
			}
			where := fmt.Sprintf("health.yaml:%d", tc.line)
			if r.code != 2 || !strings.Contains(r.stderr, where) {
				t.Errorf("validate: exit status %d, stderr %q; want 2 and %s", r.code, r.stderr, where)
			}
		})
	}
}

// TestHealthUnprivileged: a daemon of an ordinary user runs a notify
// worker with HTTP readiness and liveness probes: its socket belongs to
// that user, the worker becomes ready, a liveness failure kills it, and
// the socket is removed at the end.
func TestHealthUnprivileged(t *testing.T) {
	begin(t)
	u := newUnprivBase(t)
	bin := filepath.Join(u.dir, "healthfix")
	if err := copyExecutable(healthfixBin, bin); err != nil {
		t.Fatal(err)
	}
	h := wrapHealthWS(u.workspace("health"), bin)
	port := freePort(t)
	modes := h.path("modes")
	h.setMode(modes, "live", 0, "ok")
	d := u.startDaemon(h.workspace, h.config(fmt.Sprintf(`tree:
  name: site
  intensity: 5
  period: 60s
  children:
    - name: w
      ready: notify
      command: %s
      probes:
        readiness: {http: "http://127.0.0.1:%d/ready", period: 200ms}
        liveness: {http: "http://127.0.0.1:%d/live", period: 200ms, failure_threshold: 2}
`, h.cmd("w", "-notify-after", "0", "-status", "as nobody", "-http", fmt.Sprintf("127.0.0.1:%d", port), "-mode-dir", modes), port, port)))
	ctlWaitAll(t, d.events, is("daemon started"), is("ready", "node", "site/w"))
	w := h.wait(d, "w", 1)
	if n := h.cliNode("site/w"); n.State != "running" || n.ready() != "true" || n.Message != "as nobody" {
		t.Errorf("w: %v, want running, ready, message \"as nobody\"", n)
	}
	sock := h.env("w", w.pid).Env["NOTIFY_SOCKET"]
	requireSocket(t, sock)
	requireOwner(t, sock, nobody)

	h.setMode(modes, "live", w.pid, "fail")
	evs := until(t, d.events, is("started", "node", "site/w"))
	if hg := only(evs, is(hung, "node", "site/w")); len(hg) != 1 || !strings.HasPrefix(hg[0].str("reason"), "liveness probe: ") {
		t.Errorf("%q events %v, want one liveness probe failure", hung, hg)
	}
	requireDead(t, w.pid, "the hung worker")
	w2 := h.wait(d, "w", 2)
	waitFor(t, d.events, is("ready", "node", "site/w"))
	sock2 := h.env("w", w2.pid).Env["NOTIFY_SOCKET"]
	d.stop()
	requireGone(t, sock2, "the worker's socket after the daemon stopped")
	h.requireAllDead()
}

// TestHealthConcurrentDaemons: three daemons (separate state dirs) start
// at once, each with notify workers: every worker gets a socket of its
// own and becomes ready.
func TestHealthConcurrentDaemons(t *testing.T) {
	begin(t)
	const daemons, workers = 3, 4
	var hs []*healthWS
	var ds []*daemon
	for range daemons {
		h := newHealthWS(t)
		var tree strings.Builder
		tree.WriteString("tree:\n  name: site\n  children:\n")
		for j := range workers {
			name := fmt.Sprintf("w%d", j)
			fmt.Fprintf(&tree, "    - name: %s\n      ready: notify\n      command: %s\n", name, h.cmd(name, "-notify-after", "0", "-status", name))
		}
		hs = append(hs, h)
		ds = append(ds, h.startDaemon(h.config(tree.String())))
	}
	sockets := map[string]string{}
	for i, d := range ds {
		h := hs[i]
		match := []func(event) bool{is("daemon started")}
		for j := range workers {
			match = append(match, is("ready", "node", fmt.Sprintf("site/w%d", j)))
		}
		ctlWaitAll(t, d.events, match...)
		for j := range workers {
			name := fmt.Sprintf("w%d", j)
			l := h.wait(d, name, 1)
			sock := h.env(name, l.pid).Env["NOTIFY_SOCKET"]
			if other, dup := sockets[sock]; dup || sock == "" {
				t.Errorf("daemon %d %s: NOTIFY_SOCKET %q, also %s's", i, name, sock, other)
			}
			sockets[sock] = fmt.Sprintf("daemon %d %s", i, name)
			if n := h.node("site/" + name); n.State != "running" || n.ready() != "true" || n.Message != name {
				t.Errorf("daemon %d: %v, want running, ready, message %q", i, n, name)
			}
		}
	}
	for _, d := range ds {
		d.signal(syscall.SIGTERM)
	}
	for i, d := range ds {
		if code := d.wait(exitGuard); code != 0 {
			t.Errorf("daemon %d: exit status %d, want 0", i, code)
		}
		hs[i].requireAllDead()
	}
	for sock, who := range sockets {
		requireGone(t, sock, who+"'s socket")
	}
}
