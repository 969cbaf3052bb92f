package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SPEC §8: otpsv as PID 1 (a container's entrypoint), and `--init`.

// startPID1 runs `otpsv daemon` as PID 1 of a new PID namespace
// (`unshare --pid --fork --mount-proc`, as a container runtime would) and
// returns the daemon and otpsv's pid as seen from here.
func startPID1(t *testing.T, w *workspace, cfg string, extra ...string) (*daemon, int) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root for a PID namespace")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare")
	}
	args := append([]string{"--pid", "--fork", "--mount-proc", otpsvBin, "daemon", "--log-format", "json", "-c", cfg}, extra...)
	cmd := exec.Command(unshare, args...)
	cmd.Dir = w.dir
	cmd.Env = testEnv()
	d := w.runDaemon(cmd)
	deadline := time.Now().Add(readyGuard)
	for time.Now().Before(deadline) {
		for _, p := range procTable() {
			if p.ppid == d.pid() {
				return d, p.pid
			}
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
	t.Fatalf("no child of unshare %d within %v", d.pid(), readyGuard)
	return nil, 0
}

// waitFile waits for path to exist (with content), and returns it.
func waitFile(t *testing.T, path string, guard time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(guard)
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not written within %v", path, guard)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

// zombiesOf lists the zombie children of pid.
func zombiesOf(pid int) []int {
	var out []int
	for _, p := range procTable() {
		if p.ppid == pid && p.zombie() {
			out = append(out, p.pid)
		}
	}
	return out
}

// TestPID1: as PID 1, otpsv reaps an orphan a worker left (no zombie);
// on SIGTERM it stops the tree, then sends SIGTERM to what is left in its
// namespace (a process that escaped its worker's group hears it) and
// SIGKILL after 5 s to what ignores it, and exits 0.
func TestPID1(t *testing.T) {
	begin(t)
	w := newWorkspace(t)
	orphanDone := filepath.Join(w.dir, "orphan.done")
	termed := filepath.Join(w.dir, "termed")
	deafStarted := filepath.Join(w.dir, "deaf.started")
	cfg := w.config(fmt.Sprintf(`tree:
  name: box
  children:
    - name: main
      command: %s
    # a double fork: the subshell exits, its child is orphaned (to PID 1)
    - name: orphaner
      command: [sh, -c, "(sh -c 'sleep 0.3; echo done > %s' &); exec sleep 1000"]
    # escapes its group: only the init's last sweep reaches it
    - name: escaper
      command: [sh, -c, "setsid sh -c 'trap \"echo term > %s; exit 0\" TERM; while :; do sleep 0.05; done' & exec sleep 1000"]
    - name: deaf
      command: [sh, -c, "setsid sh -c 'trap \"\" TERM; echo up > %s; while :; do sleep 0.05; done' & exec sleep 1000"]
`, w.cmd("main"), orphanDone, termed, deafStarted))
	d, otpsvPid := startPID1(t, w, cfg)
	d.waitReady("main", 1)
	waitFor(t, d.events, is("tree started"))
	waitFile(t, orphanDone, readyGuard)
	// The orphan exited as PID 1's child: it must be reaped.
	deadline := time.Now().Add(reapGrace)
	for len(zombiesOf(otpsvPid)) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	if z := zombiesOf(otpsvPid); len(z) > 0 {
		t.Errorf("zombies left under PID 1: %v", z)
	}
	waitFile(t, deafStarted, readyGuard)
	if err := syscall.Kill(otpsvPid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := d.wait(exitGuard); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0; stderr %s", code, d.plainStderr())
	}
	if got := waitFile(t, termed, time.Second); !strings.Contains(got, "term") {
		t.Errorf("the escaped process heard %q, want SIGTERM", got)
	}
	var swept event
	for e := range d.events {
		if e.msg() == "init: ended the processes left after the tree stopped" {
			swept = e
		}
	}
	if swept == nil || swept.num("count") < 2 {
		t.Errorf("no sweep of the two escaped processes logged (%v)", swept)
	}
}

// TestPID1ExitStatus: a container's main job decides its exit status,
// through PID 1.
func TestPID1ExitStatus(t *testing.T) {
	begin(t)
	w := newWorkspace(t)
	cfg := w.config(fmt.Sprintf(`tree:
  name: box
  auto_shutdown: any_significant
  children:
    - name: db
      command: %s
    - name: job
      restart: temporary
      significant: true
      command: [sh, -c, "sleep 0.2; exit 7"]
`, w.cmd("db")))
	d, _ := startPID1(t, w, cfg)
	db := d.waitReady("db", 1)
	if code := d.wait(exitGuard); code != 7 {
		t.Fatalf("exit status %d, want 7 (the job's); stderr %s", code, d.plainStderr())
	}
	requireGroupEmpty(t, db.pgid)
}

// TestInitFlagUnprivileged: `otpsv daemon --init` run by an ordinary user
// (outside PID 1, as a subreaper) ends the orphans it adopted once the
// tree has stopped.
func TestInitFlagUnprivileged(t *testing.T) {
	begin(t)
	u := newUnprivBase(t)
	w := u.workspace("init")
	termed := filepath.Join(w.dir, "termed")
	up := filepath.Join(w.dir, "up")
	cfg := w.config(fmt.Sprintf(`tree:
  name: box
  children:
    - name: escaper
      command: [sh, -c, "setsid sh -c 'trap \"echo term > %s; exit 0\" TERM; echo up > %s; while :; do sleep 0.05; done' & exec sleep 1000"]
`, termed, up))
	cmd := exec.Command(u.setpriv, fmt.Sprintf("--reuid=%d", nobody), fmt.Sprintf("--regid=%d", nobody), "--clear-groups",
		u.otpsv, "daemon", "--init", "--log-format", "json", "-c", cfg)
	cmd.Dir = w.dir
	cmd.Env = testEnv()
	d := w.runDaemon(cmd)
	waitFor(t, d.events, is("tree started"))
	waitFile(t, up, readyGuard)
	d.stop()
	if got := waitFile(t, termed, time.Second); !strings.Contains(got, "term") {
		t.Errorf("the escaped process heard %q, want SIGTERM", got)
	}
}
