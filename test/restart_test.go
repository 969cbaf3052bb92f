package test

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestRestartTypes: transient restarts after a non-zero exit or a death by
// signal but not after exit 0; temporary never restarts; permanent
// restarts even after exit 0. One daemon per row, the worker alone under
// the root, so that rows cannot disturb each other.
func TestRestartTypes(t *testing.T) {
	begin(t)
	for _, tc := range []struct {
		restart string
		code    string // exit code after 200ms; "kill": killed with SIGKILL by the test
		status  string // in the "exited" event
		again   bool   // restarted
	}{
		{"transient", "0", "exit 0", false},
		{"transient", "3", "exit 3", true},
		{"transient", "kill", "killed by signal KILL", true},
		{"temporary", "0", "exit 0", false},
		{"temporary", "1", "exit 1", false},
		{"temporary", "kill", "killed by signal KILL", false},
		{"permanent", "0", "exit 0", true},
		{"permanent", "1", "exit 1", true},
	} {
		t.Run(tc.restart+"/"+tc.code, func(t *testing.T) {
			t.Parallel()
			ws := newWorkspace(t)
			args := []string{"-exit-after", "200ms", "-code", tc.code, "-exit-runs", "1"}
			if tc.code == "kill" {
				args = nil
			}
			d := ws.startDaemon(ws.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: w
      restart: %s
      command: %s
`, tc.restart, ws.cmd("w", args...))))
			waitFor(t, d.events, is("tree started"))
			first := d.waitReady("w", 1)
			if tc.code == "kill" {
				if err := syscall.Kill(first.pid, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
			ex := waitFor(t, d.events, is("exited", "node", "site/w"))
			if ex.num("pid") != first.pid || !strings.Contains(ex.str("status"), tc.status) || ex.str("restart") != tc.restart {
				t.Errorf(`"exited" = %v, want pid %d, status %q, restart %q`, ex, first.pid, tc.status, tc.restart)
			}
			decision := waitFor(t, d.events, oneOf("restarting", "not restarting", "giving up"))
			runs := 1
			if tc.again {
				runs = 2
				if decision.msg() != "restarting" || !slices.Equal(decision.list("restart"), []string{"w"}) {
					t.Fatalf("decision %v, want restarting [w]", decision)
				}
				started := waitFor(t, d.events, is("started", "node", "site/w"))
				if second := d.waitReady("w", 2); second.pid != started.num("pid") || second.pid == first.pid {
					t.Errorf("restarted pid %d (event %d), first pid %d", second.pid, started.num("pid"), first.pid)
				}
			} else if decision.msg() != "not restarting" || decision.str("child") != "site/w" || decision.str("restart") != tc.restart {
				t.Fatalf(`decision %v, want "not restarting" child site/w restart %s`, decision, tc.restart)
			}
			// Sync point: once the daemon has stopped nothing can start.
			d.stop()
			if got := len(ws.runs("w")); got != runs {
				t.Errorf("w ran %d times, want %d", got, runs)
			}
			ws.requireAllDead()
		})
	}
}

// TestSiblingFailsAfterChildNotRestarted: a temporary child that ended
// (and was rightly not restarted) must not disturb its supervisor: a
// later sibling's failure is an ordinary one_for_one restart.
func TestSiblingFailsAfterChildNotRestarted(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	d := ws.startDaemon(ws.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: once
      restart: temporary
      command: %s
    - name: x
      command: %s
    - name: y
      command: %s
`, ws.cmd("once", "-exit-after", "100ms", "-code", "0"), ws.cmd("x"), ws.cmd("y"))))
	waitFor(t, d.events, is("not restarting", "child", "site/once"))
	x, y := d.waitReady("x", 1), d.waitReady("y", 1)
	evs := killChild(t, d, x, []string{"x"})
	if e := nodeEvents(evs, "site/y"); len(e) > 0 {
		t.Errorf("events about sibling y: %v", e)
	}
	if x2 := d.waitReady("x", 2); x2.pid == x.pid {
		t.Errorf("x restarted with its old pid %d", x.pid)
	}
	requireAlive(t, y.pid, "y")
	d.stop()
	if n := len(ws.runs("once")); n != 1 {
		t.Errorf("once ran %d times, want 1", n)
	}
	ws.requireAllDead()
}

// TestIntensityEscalation: a child crashing under "low" (intensity 2)
// makes low give up on its third failure; "mid" (intensity 1) restarts
// low fresh, which gives up again after three more failures, so mid gives
// up too and the root restarts mid fresh. The crashing child then stays
// up. Siblings outside a restarted subtree keep their processes.
func TestIntensityEscalation(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	cfg := ws.config(fmt.Sprintf(`tree:
  name: site
  strategy: one_for_one
  intensity: 5
  period: 60s
  children:
    - name: steady
      command: %s
    - name: mid
      strategy: one_for_one
      intensity: 1
      period: 60s
      children:
        - name: m1
          command: %s
        - name: low
          strategy: one_for_one
          intensity: 2
          period: 60s
          children:
            - name: crash
              command: %s
            - name: l2
              command: %s
`, ws.cmd("steady"), ws.cmd("m1"), ws.cmd("crash", "-exit-after", "200ms", "-code", "1", "-exit-runs", "6"), ws.cmd("l2")))
	d := ws.startDaemon(cfg)
	waitFor(t, d.events, is("tree started"))
	steady := d.waitReady("steady", 1)

	decisions := oneOf("restarting", "giving up")
	evs := until(t, d.events, is("restarting", "supervisor", "site"))
	got := only(evs, decisions)
	type step struct {
		msg, supervisor, failed string
		restart                 []string
		budget                  int
	}
	const low, crash = "site/mid/low", "site/mid/low/crash"
	want := []step{
		{"restarting", low, crash, []string{"crash"}, 1},
		{"restarting", low, crash, []string{"crash"}, 0},
		{"giving up", low, "", nil, 0},
		{"restarting", "site/mid", low, []string{"low"}, 0},
		// low was restarted fresh: a full budget again.
		{"restarting", low, crash, []string{"crash"}, 1},
		{"restarting", low, crash, []string{"crash"}, 0},
		{"giving up", low, "", nil, 0},
		{"giving up", "site/mid", "", nil, 0},
		{"restarting", "site", "site/mid", []string{"mid"}, 4},
	}
	if len(got) != len(want) {
		t.Fatalf("supervision decisions:\n%s\nwant %d of them", joinEvents(got), len(want))
	}
	for i, w := range want {
		e := got[i]
		ok := e.msg() == w.msg && e.str("supervisor") == w.supervisor
		if w.msg == "restarting" {
			ok = ok && e.str("failed") == w.failed && slices.Equal(e.list("restart"), w.restart) && e.num("budget") == w.budget
		} else {
			ok = ok && strings.Contains(e.str("reason"), "intensity")
		}
		if !ok {
			t.Errorf("decision %d = %v, want %+v", i+1, e, w)
		}
	}

	// The 7th run of crash stays up.
	d.waitReady("crash", 7)
	d.waitReady("m1", 2)
	d.waitReady("l2", 3)
	requireAlive(t, steady.pid, "steady")
	d.signal(syscall.SIGTERM)
	rest := until(t, d.events, is("daemon stopped"))
	if extra := only(rest, decisions); len(extra) > 0 {
		t.Errorf("decisions after the root restarted mid: %v", extra)
	}
	if code := d.wait(exitGuard); code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
	// steady: never restarted; m1: restarted with mid; l2: restarted with
	// low each time; crash: 6 failing runs and the one that stays.
	for name, want := range map[string]int{"steady": 1, "m1": 2, "l2": 3, "crash": 7} {
		if got := len(ws.runs(name)); got != want {
			t.Errorf("%s ran %d times, want %d", name, got, want)
		}
	}
	ws.requireAllDead()
}

// TestRootGivesUp: when the root exceeds its intensity the daemon stops
// every worker, grandchildren included, and exits 1 naming the root, the
// reason and the last failure.
func TestRootGivesUp(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	cfg := ws.config(fmt.Sprintf(`tree:
  name: site
  intensity: 1
  period: 60s
  children:
    - name: a
      stop_timeout: 1s
      command: %s
    - name: crash
      command: %s
    - name: b
      command: %s
`, ws.cmd("a", "-child", "-child-ignore-term"), ws.cmd("crash", "-exit-after", "200ms", "-code", "1"), ws.cmd("b")))
	d := ws.startDaemon(cfg)
	waitFor(t, d.events, is("tree started"))
	d.waitReady("a.gc", 1)
	d.waitReady("a", 1)
	d.waitReady("b", 1)

	gu := waitFor(t, d.events, is("giving up", "supervisor", "site"))
	if r := gu.str("reason"); !strings.Contains(r, "intensity") || !strings.Contains(r, "site/crash") {
		t.Errorf(`"giving up" reason %q, want the intensity and the last failure site/crash`, r)
	}
	waitFor(t, d.events, is("root supervisor gave up", "root", "site"))
	if code := d.wait(exitGuard); code != 1 {
		t.Fatalf("exit status %d, want 1", code)
	}
	msg := d.plainStderr()
	for _, want := range []string{"root supervisor gave up", "site", "restart intensity exceeded", "site/crash", "exit 1"} {
		if !strings.Contains(msg, want) {
			t.Errorf("stderr %q does not contain %q", msg, want)
		}
	}
	if n := len(ws.runs("crash")); n != 2 {
		t.Errorf("crash ran %d times, want 2 (intensity 1: one restart, then give up)", n)
	}
	ws.requireAllDead()
}

func joinEvents(evs []event) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString("  " + e.String() + "\n")
	}
	return b.String()
}
