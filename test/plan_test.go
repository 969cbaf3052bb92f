package test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// planTree is the tree of TestPlan: changed[name] gives that worker
// another command; gone and added say whether site/gone and site/added
// are in it.
func (w *workspace) planTree(changed map[string]bool, gone, added bool) string {
	cmd := func(name string) string {
		if changed[name] {
			return w.cmd(name, "-log-line", "v2")
		}
		return w.cmd(name)
	}
	var s strings.Builder
	fmt.Fprintf(&s, "tree:\n  name: site\n  children:\n")
	fmt.Fprintf(&s, "    - name: a\n      command: %s\n", cmd("a"))
	if gone {
		fmt.Fprintf(&s, "    - name: gone\n      command: %s\n", cmd("gone"))
	}
	fmt.Fprintf(&s, "    - name: grp\n      strategy: one_for_all\n      children:\n")
	for _, n := range []string{"x", "y", "z"} {
		fmt.Fprintf(&s, "        - name: %s\n          command: %s\n", n, cmd(n))
	}
	fmt.Fprintf(&s, "    - name: seq\n      strategy: rest_for_one\n      children:\n")
	for _, n := range []string{"p", "q", "r"} {
		fmt.Fprintf(&s, "        - name: %s\n          command: %s\n", n, cmd(n))
	}
	if added {
		fmt.Fprintf(&s, "    - name: added\n      command: %s\n", cmd("added"))
	}
	return s.String()
}

// planFile writes a config (with the workspace's state_dir) under another
// name than the daemon's, for plan -c.
func (w *workspace) planFile(name, tree string) string {
	w.t.Helper()
	return w.file(name, fmt.Sprintf("settings:\n  state_dir: %s\n", strconv.Quote(w.stateDir))+tree)
}

// TestPlan: plan tells what a reload would do (add, remove, change, the
// strategies' collateral restarts), exits 0/1/2, refuses a bad config
// with file:line; reload prints the same lines and restarts exactly those
// nodes; without a daemon, plan compares with the definitions saved by
// the last one (those of its last reload).
func TestPlan(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	d := ws.startDaemon(ws.config(ws.planTree(nil, true, false)))
	d.ctlWaitUp()
	workers := []string{"a", "gone", "x", "y", "z", "p", "q", "r"}
	for _, n := range workers {
		d.waitReady(n, 1)
	}

	plan := func(file string, args ...string) result {
		t.Helper()
		return ws.ctl("plan", append(append([]string{}, args...), "-c", file)...)
	}
	expect := func(what string, r result, code int, want ...string) {
		t.Helper()
		if r.code != code || !slices.Equal(ctlLines(r.stdout), want) {
			t.Errorf("plan %s: exit status %d, stdout:\n%s\nwant %d and:\n%s\nstderr: %s", what, r.code, r.stdout, code, strings.Join(want, "\n"), r.stderr)
		}
	}

	// No change: nothing printed, exit 0; -v lists every node.
	expect("of the running config", plan(ws.planFile("same.yaml", ws.planTree(nil, true, false))), 0)
	expect("-v", plan(ws.planFile("same.yaml", ws.planTree(nil, true, false)), "-v"), 0,
		"= site", "= site/a", "= site/gone", "= site/grp", "= site/grp/x", "= site/grp/y", "= site/grp/z",
		"= site/seq", "= site/seq/p", "= site/seq/q", "= site/seq/r")

	expect("add", plan(ws.planFile("add.yaml", ws.planTree(nil, true, true))), 1, "+ site/added start")
	expect("remove", plan(ws.planFile("remove.yaml", ws.planTree(nil, false, false))), 1, "- site/gone stop")
	expect("change", plan(ws.planFile("change.yaml", ws.planTree(map[string]bool{"a": true}, true, false))), 1,
		"~ site/a restart (changed: command)")
	expect("one_for_all", plan(ws.planFile("ofa.yaml", ws.planTree(map[string]bool{"y": true}, true, false))), 1,
		"~ site/grp/x restart (one_for_all with site/grp/y)", "~ site/grp/y restart (changed: command)", "~ site/grp/z restart (one_for_all with site/grp/y)")

	// --json
	r := plan(ws.planFile("change.yaml", ws.planTree(map[string]bool{"a": true}, true, false)), "--json")
	var got struct {
		Changes []struct {
			Path, Action, Reason string
			Fields               []string
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 1 || len(got.Changes) != 1 ||
		got.Changes[0].Path != "site/a" || got.Changes[0].Action != "restart" || got.Changes[0].Reason != "changed: command" ||
		!slices.Equal(got.Changes[0].Fields, []string{"command"}) {
		t.Errorf("plan --json: exit status %d, %v, stdout %s", r.code, err, r.stdout)
	}

	// An invalid config: exit 2, its errors with file and line.
	bad := ws.planFile("bad.yaml", strings.Replace(ws.planTree(nil, true, false), "    - name: a\n", "    - name: a\n      bogus: 1\n", 1))
	line := 0
	for i, l := range ctlLines(readFile(t, bad)) {
		if strings.Contains(l, "bogus:") {
			line = i + 1
		}
	}
	r = plan(bad)
	if want := fmt.Sprintf("bad.yaml:%d", line); r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, want) {
		t.Errorf("plan of a bad config: exit status %d, stdout %q, stderr %q; want 2, nothing, %s", r.code, r.stdout, r.stderr, want)
	}

	// plan, then reload of the same file: the same lines, and exactly
	// those nodes restarted or started.
	before := map[string]int{}
	ws.ctlTreeJSON().walk(func(n *ctlNode, _ int) { before[n.Path] = n.pid() })
	cfg := ws.config(ws.planTree(map[string]bool{"a": true, "y": true, "q": true}, false, true))
	planned := plan(cfg)
	want := []string{
		"~ site/a restart (changed: command)",
		"- site/gone stop",
		"~ site/grp/x restart (one_for_all with site/grp/y)",
		"~ site/grp/y restart (changed: command)",
		"~ site/grp/z restart (one_for_all with site/grp/y)",
		"~ site/seq/q restart (changed: command)",
		"~ site/seq/r restart (rest_for_one with site/seq/q)",
		"+ site/added start",
	}
	expect("of the reload", planned, 1, want...)
	reloaded := ws.mustCtl("reload")
	if reloaded.stdout != planned.stdout {
		t.Errorf("reload printed:\n%s\nplan said:\n%s", reloaded.stdout, planned.stdout)
	}
	touched := map[string]bool{}
	for _, l := range ctlLines(planned.stdout) {
		if f := strings.Fields(l); f[0] == "~" || f[0] == "+" {
			touched[f[1]] = true
		}
	}
	for _, n := range []string{"a", "x", "y", "z", "q", "r"} {
		d.waitReady(n, 2)
	}
	d.waitReady("added", 1)
	requireDead(t, before["site/gone"], "removed node gone")
	root := ws.ctlTreeJSON()
	root.walk(func(n *ctlNode, _ int) {
		if n.Type != "process" {
			return
		}
		name := n.Path[strings.LastIndexByte(n.Path, '/')+1:]
		runs := ws.runs(name)
		switch {
		case n.pid() == 0 || n.pid() != runs[len(runs)-1].pid:
			t.Errorf("%s: tree pid %d, last ready line %v", n.Path, n.pid(), runs)
		case touched[n.Path] && n.pid() == before[n.Path]:
			t.Errorf("%s: planned restarted or started, but pid %d is unchanged", n.Path, n.pid())
		case !touched[n.Path] && (n.pid() != before[n.Path] || len(runs) != 1):
			t.Errorf("%s: not planned, but pid %d (was %d), %d runs", n.Path, n.pid(), before[n.Path], len(runs))
		}
	})
	if n := root.find("site/gone"); n != nil {
		t.Errorf("removed node still in the tree: %+v", n)
	}
	// The daemon's own definitions are now the reloaded ones.
	expect("after the reload", plan(cfg), 0)

	// Without a daemon: the definitions of its last reload.
	d.stop()
	r = plan(cfg)
	expect("without a daemon, unchanged", r, 0)
	if !strings.Contains(r.stderr, "no daemon is running") {
		t.Errorf("plan without a daemon does not say so: stderr %q", r.stderr)
	}
	expect("without a daemon", plan(ws.planFile("next.yaml", ws.planTree(map[string]bool{"a": true, "y": true, "q": true, "p": true}, false, false))), 1,
		"~ site/seq/p restart (changed: command)",
		"~ site/seq/q restart (rest_for_one with site/seq/p)",
		"~ site/seq/r restart (rest_for_one with site/seq/p)",
		"- site/added stop")
	ws.requireAllDead()

	// Nothing to compare with: exit 2.
	other := newWorkspace(t)
	r = otpsv(t, other.dir, "plan", "-c", other.config(other.planTree(nil, false, false)))
	if r.code != 2 || !strings.Contains(r.stderr, "no saved definitions") {
		t.Errorf("plan with neither a daemon nor saved definitions: exit status %d, stderr %q; want 2", r.code, r.stderr)
	}
}
