package test

import (
	"fmt"
	"testing"
)

// TestRootWorker: a tree whose root is a worker, not a supervisor. A
// SIGTERM stops the daemon and its process (it used to be sent the
// supervisor's shutdown message, which a worker ignores, and the daemon
// never exited), and a reload that changes its definition restarts it
// (it used to hang until the reload timed out).
func TestRootWorker(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	tree := func(code int) string {
		return fmt.Sprintf("tree:\n  name: solo\n  command: %s\n", ws.cmd("solo", "-code", fmt.Sprint(code)))
	}
	d := ws.startDaemon(ws.config(tree(0)))
	first := d.waitReady("solo", 1)
	ws.config(tree(1)) // a changed definition
	r := ws.mustCtl("reload")
	if want := "~ solo restart (changed: command)\n"; r.stdout != want {
		t.Errorf("reload printed %q, want %q", r.stdout, want)
	}
	second := d.waitReady("solo", 2)
	requireDead(t, first.pid, "the root worker before the reload")
	ws.mustCtl("reload") // unchanged: nothing to do, and it answers
	d.stop()
	requireDead(t, second.pid, "the root worker after SIGTERM")
	requireGroupEmpty(t, second.pgid)
}
