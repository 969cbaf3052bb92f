package test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
)

// SPEC §7: significant children and auto_shutdown. A job tree ends by
// itself, stopping its other children in reverse order, and the daemon
// exits with the status of the worker whose exit triggered it.

// TestAutoShutdownAny: the first significant child to end as its restart
// type lets it (a transient one, exit 0) shuts the root down; the other
// children are stopped; the daemon exits 0; `why` names the trigger.
func TestAutoShutdownAny(t *testing.T) {
	begin(t)
	w := newWorkspace(t)
	cfg := w.config(fmt.Sprintf(`tree:
  name: site
  strategy: one_for_one
  auto_shutdown: any_significant
  children:
    - name: db
      command: %s
    - name: main
      restart: transient
      significant: true
      command: %s
    - name: side
      command: %s
`, w.cmd("db"), w.cmd("main", "-exit-after", "300ms"), w.cmd("side")))
	d := w.startDaemon(cfg)
	db, side := d.waitReady("db", 1), d.waitReady("side", 1)
	main := d.waitReady("main", 1)
	ev := waitFor(t, d.events, is("automatic shutdown"))
	if ev.str("trigger") != "site/main" || ev.str("event") != "auto_shutdown" || ev.str("path") != "site" {
		t.Errorf("auto_shutdown event %v: want path site, trigger site/main", ev)
	}
	if code := d.wait(exitGuard); code != 0 {
		t.Fatalf("daemon exit status %d after its main job exited 0, want 0; stderr %s", code, d.plainStderr())
	}
	for _, r := range []readyLine{db, side, main} {
		requireGroupEmpty(t, r.pgid)
	}
	if n := len(w.runs("main")); n != 1 {
		t.Errorf("main ran %d times, want once", n)
	}
	// Stopped in reverse order: side before db.
	var order []string
	for e := range d.events { // to the end: the daemon has exited
		if e.msg() == "stopped" {
			order = append(order, e.str("node"))
		}
	}
	if strings.Join(order, " ") != "site/side site/db" {
		t.Errorf("stopped in the order %v, want site/side then site/db", order)
	}
	why := otpsv(t, w.dir, "why", "-c", cfg, "site")
	if !strings.Contains(why.stdout, "auto_shutdown") || !strings.Contains(why.stdout, "site/main") {
		t.Errorf("why site after the shutdown:\n%s\nwant the auto_shutdown and its trigger site/main", why.stdout)
	}
}

// TestAutoShutdownExitStatus: the daemon exits with the triggering
// worker's status: its code, or 128+N for a death by signal N, also
// through a nested supervisor that shut down automatically.
func TestAutoShutdownExitStatus(t *testing.T) {
	begin(t)
	for _, c := range []struct {
		name   string
		worker string
		nested bool
		want   int
	}{
		{"exit code", `command: [sh, -c, "sleep 0.2; exit 3"]`, false, 3},
		// $$ is otpsv's escape of a $
		{"signal", `command: [sh, -c, "sleep 0.2; kill -KILL $$$$"]`, false, 128 + int(syscall.SIGKILL)},
		{"nested", `command: [sh, -c, "sleep 0.2; exit 5"]`, true, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := newWorkspace(t)
			job := fmt.Sprintf(`    - name: job
      restart: temporary
      significant: true
      %s
    - name: helper
      command: %s
`, c.worker, w.cmd("helper"))
			if c.nested {
				job = `    - name: batch
      restart: transient
      significant: true
      auto_shutdown: any_significant
      children:
` + indent(job, "    ")
			}
			d := w.startDaemon(w.config(`tree:
  name: site
  auto_shutdown: any_significant
  children:
` + job))
			helper := d.waitReady("helper", 1)
			if code := d.wait(exitGuard); code != c.want {
				t.Fatalf("daemon exit status %d, want %d; stderr %s", code, c.want, d.plainStderr())
			}
			requireGroupEmpty(t, helper.pgid)
		})
	}
}

func indent(s, by string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = by + l
		}
	}
	return strings.Join(lines, "")
}

// TestAutoShutdownAll: under all_significant the tree ends when the last
// significant child still active ends, not before; the others' ends are
// only ends.
func TestAutoShutdownAll(t *testing.T) {
	begin(t)
	w := newWorkspace(t)
	step := func(name, after string) string {
		return fmt.Sprintf(`    - name: %s
      restart: temporary
      significant: true
      command: %s
`, name, w.cmd(name, "-exit-after", after))
	}
	cfg := w.config(`tree:
  name: site
  auto_shutdown: all_significant
  children:
` + step("one", "100ms") + step("two", "400ms") + step("three", "800ms") + fmt.Sprintf(`    - name: keep
      command: %s
`, w.cmd("keep")))
	d := w.startDaemon(cfg)
	keep := d.waitReady("keep", 1)
	ev := waitFor(t, d.events, is("automatic shutdown"))
	if ev.str("trigger") != "site/three" {
		t.Errorf("shutdown triggered by %q, want site/three (the last significant child)", ev.str("trigger"))
	}
	if code := d.wait(exitGuard); code != 0 {
		t.Fatalf("daemon exit status %d, want 0", code)
	}
	for _, n := range []string{"one", "two", "three"} {
		if r := w.runs(n); len(r) != 1 {
			t.Errorf("%s ran %d times, want once", n, len(r))
		}
	}
	requireGroupEmpty(t, keep.pgid)
}

// TestSignificantNotTriggered: a significant child stopped by its
// supervisor's strategy or by an operator does not shut anything down.
func TestSignificantNotTriggered(t *testing.T) {
	begin(t)
	w := newWorkspace(t)
	cfg := w.config(fmt.Sprintf(`tree:
  name: site
  strategy: one_for_all
  intensity: 10
  auto_shutdown: any_significant
  children:
    - name: sig
      restart: transient
      significant: true
      command: %s
    - name: crasher
      command: %s
`, w.cmd("sig"), w.cmd("crasher", "-exit-after", "200ms", "-code", "1", "-exit-runs", "1")))
	d := w.startDaemon(cfg)
	first := d.waitReady("sig", 1)
	// one_for_all: crasher's failure stops sig and starts both again.
	second := d.waitReady("sig", 2)
	requireDead(t, first.pid, "sig stopped by the strategy")
	if d.exited() {
		t.Fatalf("the daemon exited after a strategy stopped a significant child")
	}
	if r := otpsv(t, w.dir, "stop", "-c", cfg, "site/sig"); r.code != 0 {
		t.Fatalf("otpsv stop site/sig: exit %d: %s", r.code, r.stderr)
	}
	requireDead(t, second.pid, "sig stopped by an operator")
	// The tree goes on: a status query is answered by the daemon.
	if r := otpsv(t, w.dir, "status", "-c", cfg, "site/crasher"); r.code != 0 || d.exited() {
		t.Fatalf("after an operator's stop of a significant child: status exit %d, daemon exited %v", r.code, d.exited())
	}
	for _, e := range only(until(t, d.events, func(e event) bool { return e.msg() == "operator stop" }), is("automatic shutdown")) {
		t.Errorf("unexpected automatic shutdown: %v", e)
	}
	d.stop()
}

// TestSignificantInvalid: validate refuses significant on a permanent
// child and under a supervisor without auto_shutdown, naming file:line.
func TestSignificantInvalid(t *testing.T) {
	begin(t)
	for _, c := range []struct{ name, tree, want string }{
		{"permanent", `tree:
  name: site
  auto_shutdown: any_significant
  children:
    - name: w
      significant: true
      command: [sleep, "1"]
`, ":6"},
		{"never", `tree:
  name: site
  children:
    - name: w
      restart: transient
      significant: true
      command: [sleep, "1"]
`, ":6"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorkspace(t)
			cfg := w.file("otpsv.yaml", c.tree)
			r := otpsv(t, w.dir, "validate", "-c", cfg)
			if r.code != 2 || !strings.Contains(r.stderr, "otpsv.yaml"+c.want) || !strings.Contains(r.stderr, "significant") {
				t.Errorf("validate: exit %d, stderr %q; want 2 and otpsv.yaml%s about significant", r.code, r.stderr, c.want)
			}
		})
	}
}

// TestAutoShutdownUnprivileged: a job tree run by an ordinary user ends
// by itself with its job's exit status, and leaves nothing running.
func TestAutoShutdownUnprivileged(t *testing.T) {
	begin(t)
	u := newUnprivBase(t)
	w := u.workspace("job")
	d := u.startDaemon(w, w.config(fmt.Sprintf(`tree:
  name: site
  auto_shutdown: any_significant
  children:
    - name: helper
      command: %s
    - name: job
      restart: temporary
      significant: true
      command: %s
`, u.cmd(w, "helper"), u.cmd(w, "job", "-exit-after", "200ms", "-code", "4"))))
	helper := d.waitReady("helper", 1)
	job := d.waitReady("job", 1)
	if code := d.wait(exitGuard); code != 4 {
		t.Fatalf("daemon exit status %d, want 4 (the job's); stderr %s", code, d.plainStderr())
	}
	requireGroupEmpty(t, helper.pgid)
	requireGroupEmpty(t, job.pgid)
}
