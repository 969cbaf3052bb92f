package test

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestStartOrderDepthFirst: the tree starts depth first in list order,
// every process worker in a process group of its own, and the pids the
// daemon reports are the processes that run.
func TestStartOrderDepthFirst(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	cfg := ws.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: a
      command: %s
    - name: sub1
      children:
        - name: b
          command: %s
        - name: sub2
          strategy: one_for_all
          children:
            - name: c
              command: %s
            - name: c2
              command: %s
        - name: d
          command: %s
    - name: e
      command: %s
`, ws.cmd("a"), ws.cmd("b"), ws.cmd("c"), ws.cmd("c2"), ws.cmd("d"), ws.cmd("e")))
	d := ws.startDaemon(cfg)

	evs := until(t, d.events, is("tree started"))
	if got := evs[len(evs)-1].str("root"); got != "site" {
		t.Errorf(`"tree started" root = %q, want "site"`, got)
	}
	started := only(evs, is("started"))
	want := []string{"site/a", "site/sub1/b", "site/sub1/sub2/c", "site/sub1/sub2/c2", "site/sub1/d", "site/e"}
	if got := field(started, "node"); !slices.Equal(got, want) {
		t.Fatalf(`"started" order = %v, want %v`, got, want)
	}
	for _, e := range started {
		name := path.Base(e.str("node"))
		r := d.waitReady(name, 1)
		if r.pid != e.num("pid") {
			t.Errorf("%s: ready file pid %d, \"started\" pid %d", name, r.pid, e.num("pid"))
		}
		if r.pgid != r.pid {
			t.Errorf("%s: pgid %d, want its own process group %d", name, r.pgid, r.pid)
		}
	}
	d.stop()
	for _, name := range []string{"a", "b", "c", "c2", "d", "e"} {
		if n := len(ws.runs(name)); n != 1 {
			t.Errorf("%s started %d times, want 1", name, n)
		}
	}
	ws.requireAllDead()
}

// flatTree writes a config: root "site" with these fixture workers under
// strategy, intensity 5 in 60s.
func (w *workspace) flatTree(strategy string, names ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "tree:\n  name: site\n  strategy: %s\n  intensity: 5\n  period: 60s\n  children:\n", strategy)
	for _, n := range names {
		fmt.Fprintf(&b, "    - name: %s\n      command: %s\n", n, w.cmd(n))
	}
	return w.config(b.String())
}

// killChild kills a worker with SIGKILL by the pid in its ready file and
// returns the events up to the restarted worker's "started", checking the
// "exited" and "restarting" events on the way.
func killChild(t *testing.T, d *daemon, victim readyLine, wantRestart []string) []event {
	t.Helper()
	if err := syscall.Kill(victim.pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", victim.name, err)
	}
	node := "site/" + victim.name
	evs := until(t, d.events, is("started", "node", node))
	ex := only(evs, is("exited", "node", node))
	if len(ex) != 1 {
		t.Fatalf(`%d "exited" events for %s, want 1: %v`, len(ex), node, ex)
	}
	if ex[0].num("pid") != victim.pid || !strings.Contains(ex[0].str("status"), "KILL") {
		t.Errorf(`"exited" = %v, want pid %d killed by signal KILL`, ex[0], victim.pid)
	}
	rs := only(evs, is("restarting"))
	if len(rs) != 1 {
		t.Fatalf(`%d "restarting" events, want 1: %v`, len(rs), rs)
	}
	if rs[0].str("supervisor") != "site" || rs[0].str("failed") != node || !slices.Equal(rs[0].list("restart"), wantRestart) {
		t.Errorf(`"restarting" = %v, want supervisor site, failed %s, restart %v`, rs[0], node, wantRestart)
	}
	return evs
}

// TestOneForOne: only the killed child restarts; its siblings keep their
// processes.
func TestOneForOne(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	d := ws.startDaemon(ws.flatTree("one_for_one", "a", "b", "c"))
	waitFor(t, d.events, is("tree started"))
	a, b, c := d.waitReady("a", 1), d.waitReady("b", 1), d.waitReady("c", 1)

	evs := killChild(t, d, b, []string{"b"})
	for _, sib := range []string{"site/a", "site/c"} {
		if e := nodeEvents(evs, sib); len(e) > 0 {
			t.Errorf("events about sibling %s during b's restart: %v", sib, e)
		}
	}
	b2 := d.waitReady("b", 2)
	if b2.pid == b.pid {
		t.Fatalf("b restarted with the same pid %d", b.pid)
	}
	if got := only(evs, is("started"))[0].num("pid"); got != b2.pid {
		t.Errorf(`"started" pid %d, ready file pid %d`, got, b2.pid)
	}
	requireDead(t, b.pid, "the killed b")
	requireAlive(t, a.pid, "sibling a")
	requireAlive(t, c.pid, "sibling c")

	// Stopping is the sync point: the siblings are stopped with the pids
	// they started with, and were never started again.
	d.signal(syscall.SIGTERM)
	stopped := until(t, d.events, is("daemon stopped"))
	if code := d.wait(exitGuard); code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
	pidOf := map[string]int{}
	for _, e := range only(stopped, is("stopped")) {
		pidOf[e.str("node")] = e.num("pid")
	}
	if pidOf["site/a"] != a.pid || pidOf["site/c"] != c.pid || pidOf["site/b"] != b2.pid {
		t.Errorf(`"stopped" pids %v, want a=%d b=%d c=%d`, pidOf, a.pid, b2.pid, c.pid)
	}
	if n, m := len(ws.runs("a")), len(ws.runs("c")); n != 1 || m != 1 {
		t.Errorf("a started %d times, c %d times, want 1 each", n, m)
	}
	ws.requireAllDead()
}

// checkRestartRound checks the events of a one_for_all/rest_for_one
// restart: the running ones of stop are stopped in that (reverse) order,
// then start are started in that (list) order with new pids.
func checkRestartRound(t *testing.T, d *daemon, evs []event, stop, start []string, old map[string]readyLine) {
	t.Helper()
	failed := ""
	if rs := only(evs, is("restarting")); len(rs) > 0 {
		failed = rs[0].str("failed")
	}
	var stopped, started []string
	for _, e := range evs {
		switch e.msg() {
		case "stopped":
			// The failed child is dead already: whether a "stopped" is
			// logged for it is not part of the contract.
			if e.str("node") == failed {
				continue
			}
			if len(started) > 0 {
				t.Errorf("%s stopped after the restart began: %v", e.str("node"), evs)
			}
			stopped = append(stopped, e.str("node"))
			if o, ok := old[e.str("node")]; ok && e.num("pid") != o.pid {
				t.Errorf(`"stopped" %s pid %d, want %d`, e.str("node"), e.num("pid"), o.pid)
			}
		case "started":
			started = append(started, e.str("node"))
		}
	}
	if !slices.Equal(stopped, stop) {
		t.Errorf(`"stopped" order %v, want %v`, stopped, stop)
	}
	if !slices.Equal(started, start) {
		t.Errorf(`"started" order %v, want %v`, started, start)
	}
	for _, node := range start {
		name := strings.TrimPrefix(node, "site/")
		r := d.waitReady(name, 2)
		if r.pid == old[node].pid {
			t.Errorf("%s restarted with its old pid %d", name, r.pid)
		}
		requireDead(t, old[node].pid, "old "+name)
	}
}

// TestOneForAll: one child dies, the others are stopped in reverse order
// and all start again in list order.
func TestOneForAll(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	d := ws.startDaemon(ws.flatTree("one_for_all", "a", "b", "c"))
	waitFor(t, d.events, is("tree started"))
	old := map[string]readyLine{}
	for _, n := range []string{"a", "b", "c"} {
		old["site/"+n] = d.waitReady(n, 1)
	}
	if err := syscall.Kill(old["site/b"].pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	evs := until(t, d.events, is("started", "node", "site/c"))
	rs := only(evs, is("restarting"))
	if len(rs) != 1 || rs[0].str("failed") != "site/b" || !slices.Equal(rs[0].list("restart"), []string{"a", "b", "c"}) {
		t.Fatalf(`"restarting" events %v, want one with failed site/b, restart [a b c]`, rs)
	}
	checkRestartRound(t, d, evs, []string{"site/c", "site/a"}, []string{"site/a", "site/b", "site/c"}, old)
	d.stop()
	ws.requireAllDead()
}

// TestRestForOne: the middle of four dies; it and the later ones restart,
// the earlier one keeps its process.
func TestRestForOne(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	d := ws.startDaemon(ws.flatTree("rest_for_one", "a", "b", "c", "d"))
	waitFor(t, d.events, is("tree started"))
	old := map[string]readyLine{}
	for _, n := range []string{"a", "b", "c", "d"} {
		old["site/"+n] = d.waitReady(n, 1)
	}
	if err := syscall.Kill(old["site/b"].pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	evs := until(t, d.events, is("started", "node", "site/d"))
	rs := only(evs, is("restarting"))
	if len(rs) != 1 || rs[0].str("failed") != "site/b" || !slices.Equal(rs[0].list("restart"), []string{"b", "c", "d"}) {
		t.Fatalf(`"restarting" events %v, want one with failed site/b, restart [b c d]`, rs)
	}
	if e := nodeEvents(evs, "site/a"); len(e) > 0 {
		t.Errorf("events about a, which comes before b: %v", e)
	}
	checkRestartRound(t, d, evs, []string{"site/d", "site/c"}, []string{"site/b", "site/c", "site/d"}, old)
	requireAlive(t, old["site/a"].pid, "a")
	d.stop()
	if n := len(ws.runs("a")); n != 1 {
		t.Errorf("a started %d times, want 1", n)
	}
	ws.requireAllDead()
}
