package test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Crash safety (SPEC §5): a kill -9 of otpsv at any moment loses nothing
// and duplicates nothing, and what a dead worker left in its process
// group is stopped before the worker runs again.

// crashTree is a tree of n workers; every fourth one keeps a grandchild in
// its process group.
func (w *workspace) crashTree(n int) (cfg string, names []string) {
	var b strings.Builder
	b.WriteString("tree:\n  name: site\n  intensity: 100\n  children:\n")
	for i := range n {
		name := fmt.Sprintf("w%02d", i)
		names = append(names, name)
		var args []string
		if i%4 == 0 {
			args = []string{"-child"}
		}
		fmt.Fprintf(&b, "    - name: %s\n      command: %s\n      stop_timeout: 2s\n", name, w.cmd(name, args...))
	}
	return w.config(b.String()), names
}

// fixtures returns every live fixture process of this workspace (workers
// and grandchildren), found by command line.
func (w *workspace) fixtures() []procStat {
	var out []procStat
	for _, p := range procTable() {
		if !p.zombie() && w.isOurs(p.pid) {
			out = append(out, p)
		}
	}
	return out
}

// requireExactlyOne fails unless each worker runs in exactly one process,
// which is the pid the daemon shows, and every other live fixture process
// of the workspace is a grandchild in the process group of a current
// worker (nothing left over from an earlier run).
func (w *workspace) requireExactlyOne(names []string, shown map[string]int) {
	w.t.Helper()
	groups := map[int]bool{}
	for _, n := range names {
		pids := w.workers(n)
		if len(pids) != 1 {
			w.t.Errorf("worker %s runs in %d processes %v, want exactly 1", n, len(pids), pids)
			continue
		}
		if shown != nil && shown[n] != pids[0] {
			w.t.Errorf("worker %s runs as pid %d, but otpsv shows pid %d", n, pids[0], shown[n])
		}
		groups[pids[0]] = true
	}
	for _, p := range w.fixtures() {
		if !groups[p.pgid] {
			w.t.Errorf("leftover fixture process %d (%v) in group %d, which is no current worker's", p.pid, cmdline(p.pid), p.pgid)
		}
	}
}

// shownPids reads the pid of each worker from `tree --json`.
func (w *workspace) shownPids(cfg string, names []string) map[string]int {
	w.t.Helper()
	nodes := w.treeJSON(cfg)
	out := map[string]int{}
	for _, n := range names {
		if nd, ok := nodes["site/"+n]; ok && nd.Pid != nil {
			out[n] = *nd.Pid
		}
	}
	return out
}

// killWithin starts an otpsv (daemon or pass) and kills it with SIGKILL
// after delay, unless it exited before.
func (w *workspace) killWithin(cfg string, daemon bool, delay time.Duration) {
	w.t.Helper()
	verb := "oneshot"
	if daemon {
		verb = "daemon"
	}
	cmd := execOtpsv(w, verb, "-c", cfg)
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	time.Sleep(delay) // the moment of the crash, not a success condition
	_ = cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(exitGuard):
		w.t.Fatalf("%s (pid %d) did not die of SIGKILL", verb, cmd.Process.Pid)
	}
}

// TestKill9LoopNoDuplicates kills daemons and passes at random moments,
// most of them in their first 50 ms (start-up, adoption, the first
// saves), then lets one daemon run: every worker runs exactly once, as
// the pid otpsv shows, and nothing of an earlier run is left.
func TestKill9LoopNoDuplicates(t *testing.T) {
	begin(t)
	w := newPassWorkspace(t)
	cfg, names := w.crashTree(20)
	d := w.startDaemon(cfg)
	for _, n := range names {
		d.waitReady(n, 1)
	}
	d.signal(syscall.SIGKILL)
	d.wait(exitGuard)
	// live is each worker's process.
	live := func() map[string]int {
		out := map[string]int{}
		for _, n := range names {
			if pids := w.workers(n); len(pids) == 1 {
				out[n] = pids[0]
			}
		}
		return out
	}
	// kept is each worker's process that the saved state records: no
	// later save may lose it while the process runs, whatever moment an
	// otpsv is killed at (item 4). A pid not saved yet is found by its tag.
	// A whole pass first: it saves every pid.
	if r := w.oneshot(cfg); r.code != 0 {
		t.Fatalf("oneshot: exit %d: %s", r.code, r.stderr)
	}
	kept := w.shownPids(cfg, names)
	for i := range 16 {
		delay := time.Duration(rand.IntN(50)) * time.Millisecond
		if i%4 == 3 {
			delay = time.Duration(50+rand.IntN(300)) * time.Millisecond
		}
		if i%5 == 4 {
			// A worker dies meanwhile: the next run restarts it, and its
			// grandchild must not survive that.
			if pids := w.workers(names[0]); len(pids) > 0 {
				_ = syscall.Kill(pids[0], syscall.SIGKILL)
			}
		}
		w.killWithin(cfg, i%2 == 0, delay)
		saved, now := w.shownPids(cfg, names), live()
		for _, n := range names {
			if now[n] != 0 && now[n] == kept[n] && saved[n] != now[n] {
				t.Errorf("kill %d (%s after %v): the saved state lost %s's pid %d (it shows %d)", i, map[bool]string{true: "daemon", false: "pass"}[i%2 == 0], delay, n, now[n], saved[n])
			}
		}
		kept = map[string]int{}
		for _, n := range names {
			if now[n] != 0 && saved[n] == now[n] {
				kept[n] = now[n]
			}
		}
	}
	d = w.startDaemon(cfg)
	waitFor(t, d.events, is("tree started"))
	w.requireExactlyOne(names, w.shownPids(cfg, names))
	d.stop()
	for _, p := range w.fixtures() {
		t.Errorf("fixture process %d (%v) survived the daemon's stop", p.pid, cmdline(p.pid))
	}
}

// TestLeftoverGroupMemberStopped: a worker's main process died while no
// otpsv ran, leaving a grandchild in its process group. The next daemon
// (or pass) stops the grandchild before it starts the worker again.
func TestLeftoverGroupMemberStopped(t *testing.T) {
	for _, mode := range []string{"daemon", "oneshot"} {
		t.Run(mode, func(t *testing.T) {
			begin(t)
			w := newPassWorkspace(t)
			cfg := w.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: a
      command: %s
      stop_timeout: 1s
`, w.cmd("a", "-child", "-child-ignore-term")))
			d := w.startDaemon(cfg)
			first := d.waitReady("a", 1)
			gc := w.runs("a.gc")[0]
			d.signal(syscall.SIGKILL)
			d.wait(exitGuard)
			w.killWorker(first.pid, "worker a")
			requireAlive(t, gc.pid, "grandchild before the restart")

			if mode == "daemon" {
				d = w.startDaemon(cfg)
				waitFor(t, d.events, is("tree started"))
			} else if r := w.oneshot(cfg); r.code != 0 {
				t.Fatalf("oneshot exit %d: %s", r.code, r.stderr)
			}
			second := w.waitRun("a", 2)
			requireDead(t, gc.pid, "the grandchild of the dead worker")
			requireGroupEmpty(t, first.pgid)
			if second.pid == first.pid {
				t.Fatalf("worker a was not started again")
			}
			w.requireExactlyOne([]string{"a"}, nil)
			if mode == "daemon" {
				d.stop()
				w.requireAllDead()
			}
		})
	}
}

// TestWorkersRecognisedWithoutSavedPid closes the fork-to-save window for
// good: the saved state is lost altogether (as if otpsv had been killed
// after forking, before saving), yet the next daemon or pass recognises
// the workers of this state_dir from the process table and adopts them
// rather than starting duplicates.
func TestWorkersRecognisedWithoutSavedPid(t *testing.T) {
	for _, mode := range []string{"daemon", "oneshot"} {
		t.Run(mode, func(t *testing.T) {
			begin(t)
			w := newPassWorkspace(t)
			cfg, names := w.crashTree(6)
			d := w.startDaemon(cfg)
			before := map[string]int{}
			for _, n := range names {
				before[n] = d.waitReady(n, 1).pid
			}
			d.signal(syscall.SIGKILL)
			d.wait(exitGuard)
			w.forgetState()

			if mode == "daemon" {
				d = w.startDaemon(cfg)
				waitFor(t, d.events, is("tree started"))
			} else if r := w.oneshot(cfg); r.code != 0 {
				t.Fatalf("oneshot exit %d: %s", r.code, r.stderr)
			}
			shown := w.shownPids(cfg, names)
			w.requireExactlyOne(names, shown)
			for _, n := range names {
				if shown[n] != before[n] {
					t.Errorf("worker %s: pid %d, want the adopted %d", n, shown[n], before[n])
				}
				if r := w.runs(n); len(r) != 1 {
					t.Errorf("worker %s started %d times, want once", n, len(r))
				}
			}
			if mode == "daemon" {
				d.stop()
				w.requireAllDead()
			}
		})
	}
}

// TestOrphanRecognisedWithoutSavedPid: a tagged worker of a node that is
// no longer in the config, whose pid was never saved, is stopped.
func TestOrphanRecognisedWithoutSavedPid(t *testing.T) {
	begin(t)
	w := newPassWorkspace(t)
	cfg := w.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: keep
      command: %s
    - name: gone
      command: %s
`, w.cmd("keep"), w.cmd("gone", "-child")))
	d := w.startDaemon(cfg)
	keep := d.waitReady("keep", 1)
	gone := d.waitReady("gone", 1)
	d.signal(syscall.SIGKILL)
	d.wait(exitGuard)
	w.forgetState()
	cfg = w.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: keep
      command: %s
`, w.cmd("keep")))
	d = w.startDaemon(cfg)
	waitFor(t, d.events, is("tree started"))
	requireDead(t, gone.pid, "worker of the removed node")
	requireGroupEmpty(t, gone.pgid)
	requireAlive(t, keep.pid, "adopted worker keep")
	d.stop()
	w.requireAllDead()
}

// forgetState removes the saved state (the store and what guards it),
// keeping the state_dir itself.
func (w *workspace) forgetState() {
	w.t.Helper()
	entries, err := os.ReadDir(w.stateDir)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, e := range entries {
		if slices.Contains([]string{"logs"}, e.Name()) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(w.stateDir, e.Name())); err != nil {
			w.t.Fatal(err)
		}
	}
}

// execOtpsv prepares an otpsv run in the workspace, in a process group of
// its own (so a kill of the test's process group never reaches it by
// accident), with the test environment.
func execOtpsv(w *workspace, args ...string) *exec.Cmd {
	cmd := exec.Command(otpsvBin, args...)
	cmd.Dir = w.dir
	cmd.Env = testEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}
