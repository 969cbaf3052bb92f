package test

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A state_dir removed under a running daemon (an operator's mistake, or a
// clean-up script) must not keep SIGTERM from stopping the tree and the
// daemon: Badger's close would wait forever for a flush to the missing
// directory.
func TestSIGTERMAfterStateDirRemoved(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	d := ws.startDaemon(ws.config(`tree:
  name: site
  children:
    - name: a
      command: ` + ws.cmd("a") + "\n"))
	// Started in full (its control socket too, made after the tree):
	// removing the state_dir earlier is a start-up failure, not this case.
	ctlWaitAll(t, d.events, is("tree started"), is("daemon started"))
	a := d.waitReady("a", 1)
	if err := os.RemoveAll(ws.stateDir); err != nil {
		t.Fatal(err)
	}
	d.signal(syscall.SIGTERM)
	if code := d.wait(60 * time.Second); code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
	requireDead(t, a.pid, "worker a")
	// What happened is said, not swallowed.
	if !strings.Contains(d.stderrText(), "closing the state store") {
		t.Errorf("no error about the store on stderr: %s", d.stderrText())
	}
}
