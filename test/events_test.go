package test

import (
	"fmt"
	"reflect"
	"syscall"
	"testing"
)

// TestJSONEvents: with log_format json every supervision decision is one
// JSON object with event, path and its details (SPEC §9), matched here
// field by field: an exit by signal, the rest_for_one restart it causes,
// the starts that follow, and the supervisor giving up after its budget.
func TestJSONEvents(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	d := ws.startDaemon(ws.config(fmt.Sprintf(`tree:
  name: site
  strategy: rest_for_one
  intensity: 1
  period: 60s
  children:
    - name: a
      command: %s
    - name: b
      command: %s
`, ws.cmd("a"), ws.cmd("b"))))
	waitFor(t, d.events, is("tree started"))
	a1, b1 := d.waitReady("a", 1), d.waitReady("b", 1)

	if err := syscall.Kill(a1.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ex := waitFor(t, d.events, is("exited", "node", "site/a"))
	want := map[string]any{"event": "exited", "path": "site/a", "reason": "killed by signal KILL", "cause": "signal", "signal": "KILL"}
	for k, v := range want {
		if ex[k] != v {
			t.Errorf("exited: %s = %v, want %v (%v)", k, ex[k], v, ex)
		}
	}
	if _, ok := ex["exit_code"]; ok {
		t.Errorf("exited by a signal has an exit_code: %v", ex)
	}
	rs := waitFor(t, d.events, is("restarting"))
	want = map[string]any{"event": "restarting", "path": "site/a", "strategy": "rest_for_one", "reason": "killed by signal KILL",
		"cause": "signal", "budget_left": float64(0)}
	for k, v := range want {
		if rs[k] != v {
			t.Errorf("restarting: %s = %v, want %v (%v)", k, rs[k], v, rs)
		}
	}
	if got := rs.list("restarted"); !reflect.DeepEqual(got, []string{"site/a", "site/b"}) {
		t.Errorf("restarting: restarted = %v, want [site/a site/b]", got)
	}
	st := waitFor(t, d.events, is("started", "node", "site/b"))
	b2 := d.waitReady("b", 2)
	if st.str("event") != "started" || st.str("path") != "site/b" || st.num("pid") != b2.pid || b2.pid == b1.pid {
		t.Errorf("started: %v, want event started, path site/b, the new pid %d", st, b2.pid)
	}

	// One restart was the whole budget: the next failure makes site give up.
	if err := syscall.Kill(b2.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	gu := waitFor(t, d.events, is("giving up"))
	want = map[string]any{"event": "gave_up", "path": "site", "cause": "signal", "budget_left": float64(0)}
	for k, v := range want {
		if gu[k] != v {
			t.Errorf("gave_up: %s = %v, want %v (%v)", k, gu[k], v, gu)
		}
	}
	if code := d.wait(exitGuard); code != 1 {
		t.Errorf("daemon exit status %d after the root gave up, want 1", code)
	}
	ws.requireAllDead()
}
