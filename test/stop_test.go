package test

import (
	"fmt"
	"path"
	"slices"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMStopsInReverseOrder: SIGTERM stops the tree in reverse list
// order, depth first, and the daemon exits 0 leaving no process behind,
// not even a worker's grandchild.
func TestSIGTERMStopsInReverseOrder(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	d := ws.startDaemon(ws.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: a
      command: %s
    - name: sub
      strategy: one_for_all
      children:
        - name: b
          command: %s
        - name: c
          command: %s
    - name: d
      command: %s
`, ws.cmd("a"), ws.cmd("b", "-child"), ws.cmd("c"), ws.cmd("d"))))
	waitFor(t, d.events, is("tree started"))
	pid := map[string]int{}
	for _, n := range []string{"a", "b.gc", "b", "c", "d"} {
		r := d.waitReady(n, 1)
		pid[n] = r.pid
	}
	if gc, b := ws.runs("b.gc")[0], ws.runs("b")[0]; gc.pgid != b.pgid {
		t.Fatalf("grandchild in group %d, worker b in group %d: the fixture should share it", gc.pgid, b.pgid)
	}
	// The check used below sees both processes of b's group while they run.
	if m := groupMembers(ws.runs("b")[0].pgid); len(m) != 2 {
		t.Fatalf("b's process group has live processes %v, want b and its grandchild", m)
	}

	d.signal(syscall.SIGTERM)
	waitFor(t, d.events, is("stopping tree"))
	evs := until(t, d.events, is("daemon stopped"))
	stopped := only(evs, is("stopped"))
	want := []string{"site/d", "site/sub/c", "site/sub/b", "site/a"}
	if got := field(stopped, "node"); !slices.Equal(got, want) {
		t.Fatalf(`"stopped" order %v, want %v`, got, want)
	}
	for _, e := range stopped {
		name := path.Base(e.str("node"))
		if e.num("pid") != pid[name] {
			t.Errorf(`"stopped" %s pid %d, want %d`, e.str("node"), e.num("pid"), pid[name])
		}
	}
	if code := d.wait(exitGuard); code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
	ws.requireAllDead()
}

// stopTree has workers that resist SIGTERM: w ignores it (and so does its
// grandchild), g dies of it but leaves a grandchild that ignores it.
func (w *workspace) stopTree(stopTimeout string) string {
	return w.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: w
      stop_timeout: %s
      command: %s
    - name: g
      stop_timeout: %s
      command: %s
    - name: x
      command: %s
`, stopTimeout, w.cmd("w", "-ignore-term", "-child"), stopTimeout, w.cmd("g", "-child", "-child-ignore-term"), w.cmd("x")))
}

func (d *daemon) waitStopTree() {
	for _, n := range []string{"w.gc", "w", "g.gc", "g", "x"} {
		d.waitReady(n, 1)
	}
}

// TestStopTimeoutKills: a worker that ignores SIGTERM is killed with
// SIGKILL after stop_timeout, with its whole process group; so is the
// grandchild of a worker that did die of SIGTERM.
func TestStopTimeoutKills(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	d := ws.startDaemon(ws.stopTree("1s"))
	waitFor(t, d.events, is("tree started"))
	d.waitStopTree()
	begun := time.Now()
	d.signal(syscall.SIGTERM)
	evs := until(t, d.events, is("daemon stopped"))
	if got := field(only(evs, is("stopped")), "node"); !slices.Equal(got, []string{"site/x", "site/g", "site/w"}) {
		t.Errorf(`"stopped" order %v, want [site/x site/g site/w]`, got)
	}
	if code := d.wait(exitGuard); code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
	ws.requireAllDead()
	// Sanity, not the success condition: w got its second of grace.
	if took := time.Since(begun); took < 900*time.Millisecond {
		t.Errorf("the stop took %v: less than w's stop_timeout of 1s", took)
	}
}

// TestSecondSIGTERMSkipsGrace: with stop_timeout 60s, a second SIGTERM
// cuts the grace short: the daemon exits 0 long before 60s and nothing
// survives.
func TestSecondSIGTERMSkipsGrace(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	d := ws.startDaemon(ws.stopTree("60s"))
	waitFor(t, d.events, is("tree started"))
	d.waitStopTree()
	d.signal(syscall.SIGTERM)
	waitFor(t, d.events, is("stopping tree"))
	d.signal(syscall.SIGTERM)
	waitFor(t, d.events, is("daemon stopped"))
	if code := d.wait(20 * time.Second); code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
	ws.requireAllDead()
}
