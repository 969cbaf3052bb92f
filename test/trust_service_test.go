package test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Service workers an operator can trust (issue 8): a service that comes
// up dirty is a failed start at once (item 9); `otpsv restart PATH` runs
// the service's restart command with or without a daemon (item 10); a
// service known by its pidfile (item 12). The scripts are
// testdata/initd/logged-service (fake-service plus a log of every verb it
// receives) and testdata/initd/pidfile-daemon (a daemon that only writes
// a pidfile).

// tsvcScript is the absolute path of a script of testdata/initd.
func tsvcScript(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", "initd", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tsvcLogged is the YAML `control:` prefix of service name run through
// logged-service.
func tsvcLogged(k *initd, name string) string {
	return svcArgv("/bin/sh", tsvcScript(k.ws.t, "logged-service"), k.ws.dir, name)
}

// tsvcLoggedVerb is the YAML command running one verb of name through
// logged-service.
func tsvcLoggedVerb(k *initd, name, verb string) string {
	return svcArgv("/bin/sh", tsvcScript(k.ws.t, "logged-service"), k.ws.dir, name, verb)
}

// tsvcVerbs is what otpsv ran of logged-service name, status left out.
func tsvcVerbs(k *initd, name string) []string {
	data, _ := os.ReadFile(filepath.Join(k.ws.dir, name+".verbs"))
	var out []string
	for _, l := range strings.Fields(string(data)) {
		if l != "status" {
			out = append(out, l)
		}
	}
	return out
}

func tsvcRequireVerbs(t *testing.T, k *initd, name string, want ...string) {
	t.Helper()
	if got := tsvcVerbs(k, name); !slices.Equal(got, want) {
		t.Errorf("otpsv ran %v of service %s, want %v", got, name, want)
	}
}

// tsvcUsers runs fn as a subtest for root and for an ordinary user.
func tsvcUsers(t *testing.T, fn func(t *testing.T, r *tsvcRunner)) {
	t.Helper()
	for _, unprivileged := range []bool{false, true} {
		name := "root"
		if unprivileged {
			name = "unprivileged"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, newTsvcRunner(t, unprivileged))
		})
	}
}

// TestServiceDirtyAfterStart: a service whose status says dirty (exit 4)
// right after its start is a failed start at once, not a service still
// coming up: with a timeout of 60s the failure is seen within seconds,
// the service is stopped to clean it, then started again, and `why`
// tells.
func TestServiceDirtyAfterStart(t *testing.T) {
	begin(t)
	tsvcUsers(t, func(t *testing.T, r *tsvcRunner) {
		ws, k := r.ws, r.k
		k.set("s", "dirty-next", "")
		began := time.Now()
		cfg := svcConfig(ws, "300ms", fmt.Sprintf(`tree:
  name: site
  children:
    - name: s
      control: %s
      timeout: 60s
`, tsvcLogged(k, "s")))
		d := r.startDaemon(cfg)
		evs := until(t, d.events, is("started", "node", "site/s"))
		i := svcIndex(evs, svcFailed("site/s", "dirty"))
		if i < 0 {
			t.Fatalf(`no "service failed" event for site/s dirty after its start: %v`, evs)
		}
		// The deadline bounds the detection, far below the timeout.
		if took := svcEventTime(t, evs[i]).Sub(began); took > 15*time.Second {
			t.Errorf("the dirty start was a failure %v after the daemon started, want well within the 60s timeout", took)
		}
		svcRequireRestarting(t, evs, "site/s", []string{"s"}, "dirty")
		pid := k.waitPid(d, "s", 0)
		r.requireUser(pid)
		// Cleaned by a stop (of a running daemon), then started afresh.
		tsvcRequireVerbs(t, k, "s", "start", "stop", "start")
		svcRequireVerbs(t, k, "s", "start", "stop", "start")
		res := r.run("why", "--state-dir", ws.stateDir, "site/s")
		if res.code != 0 || !strings.Contains(res.stdout, "failed: came up dirty") {
			t.Errorf("why site/s: exit %d, stdout %q; want the failed start, dirty", res.code, res.stdout)
		}
		if n := r.node(cfg, "site/s"); n.State != "running" {
			t.Errorf("tree: site/s is %s, want running", n.State)
		}
		d.stop()
		requireDead(t, pid, "the service's daemon")
		ws.requireAllDead()
	})
}

// TestServiceOperatorRestart: `otpsv restart PATH`, with a daemon and
// without one, runs a service's restart command (`<control> restart` by
// default) exactly once, and no stop or start; with `restart: stop+start`,
// or with neither control nor restart, it runs stop then start. Without a
// daemon it is recorded and exits 0, or 1 when the restart command fails.
func TestServiceOperatorRestart(t *testing.T) {
	begin(t)
	cases := []struct {
		name string
		node func(k *initd) string // the YAML keys of service s
		want []string              // what the restart runs
	}{
		{"control", func(k *initd) string {
			return "      control: " + tsvcLogged(k, "s") + "\n"
		}, []string{"restart"}},
		{"stop+start", func(k *initd) string {
			return "      control: " + tsvcLogged(k, "s") + "\n      restart: stop+start\n"
		}, []string{"stop", "start"}},
		{"no_control", func(k *initd) string {
			return fmt.Sprintf("      start: %s\n      stop: %s\n      status: %s\n",
				tsvcLoggedVerb(k, "s", "start"), tsvcLoggedVerb(k, "s", "stop"), tsvcLoggedVerb(k, "s", "status"))
		}, []string{"stop", "start"}},
	}
	config := func(r *tsvcRunner, node func(k *initd) string) string {
		return svcConfig(r.ws, "300ms", "tree:\n  name: site\n  children:\n    - name: s\n"+node(r.k)+"      timeout: 5s\n")
	}
	withDaemon := func(t *testing.T, r *tsvcRunner, node func(k *initd) string, want []string) {
		ws, k := r.ws, r.k
		d := r.startDaemon(config(r, node))
		waitFor(t, d.events, is("started", "node", "site/s"))
		pid1 := k.waitPid(d, "s", 0)
		if res := r.run("restart", "--state-dir", ws.stateDir, "site/s"); res.code != 0 {
			t.Fatalf("restart site/s: exit %d, stderr %q; want 0", res.code, res.stderr)
		}
		pid2 := k.waitPid(d, "s", pid1)
		requireDead(t, pid1, "the service's first daemon")
		r.requireUser(pid2)
		tsvcRequireVerbs(t, k, "s", append([]string{"start"}, want...)...)
		d.stop()
		requireDead(t, pid2, "the service's daemon")
		ws.requireAllDead()
	}
	withoutDaemon := func(t *testing.T, r *tsvcRunner, node func(k *initd) string, want []string) {
		k := r.k
		cfg := config(r, node)
		if res := r.run("oneshot", "-c", cfg); res.code != 0 {
			t.Fatalf("first pass: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
		}
		pid1 := k.waitPid(nil, "s", 0)
		res := r.run("restart", "-c", cfg, "site/s")
		if res.code != 0 {
			t.Fatalf("restart site/s without a daemon: exit %d, stdout %q, stderr %q; want 0", res.code, res.stdout, res.stderr)
		}
		pid2 := k.waitPid(nil, "s", pid1)
		requireDead(t, pid1, "the service's first daemon")
		r.requireUser(pid2)
		tsvcRequireVerbs(t, k, "s", append([]string{"start"}, want...)...)
		// Recorded, and the service is left as expected: the next pass
		// has nothing to do.
		if res := r.run("why", "-c", cfg, "site/s"); !strings.Contains(res.stdout, "by an operator") {
			t.Errorf("why site/s: exit %d, stdout %q; want the operator's restart recorded", res.code, res.stdout)
		}
		if res := r.run("oneshot", "-c", cfg); res.code != 0 || res.stdout != "" {
			t.Errorf("pass after the restart: exit %d, stdout %q, stderr %q; want 0 and nothing done", res.code, res.stdout, res.stderr)
		}
		requireAlive(t, pid2, "the restarted service's daemon")
		tsvcRequireVerbs(t, k, "s", append([]string{"start"}, want...)...)
	}
	for _, tc := range cases {
		t.Run(tc.name+"/daemon", func(t *testing.T) {
			t.Parallel()
			withDaemon(t, newTsvcRunner(t, false), tc.node, tc.want)
		})
		t.Run(tc.name+"/no_daemon", func(t *testing.T) {
			t.Parallel()
			withoutDaemon(t, newTsvcRunner(t, false), tc.node, tc.want)
		})
	}
	t.Run("control/daemon/unprivileged", func(t *testing.T) {
		t.Parallel()
		withDaemon(t, newTsvcRunner(t, true), cases[0].node, cases[0].want)
	})
	t.Run("control/no_daemon/unprivileged", func(t *testing.T) {
		t.Parallel()
		withoutDaemon(t, newTsvcRunner(t, true), cases[0].node, cases[0].want)
	})
	t.Run("control/no_daemon/fails", func(t *testing.T) {
		t.Parallel()
		r := newTsvcRunner(t, false)
		k := r.k
		cfg := config(r, cases[0].node)
		if res := r.run("oneshot", "-c", cfg); res.code != 0 {
			t.Fatalf("first pass: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
		}
		pid := k.waitPid(nil, "s", 0)
		k.set("s", "restart-fails", "")
		res := r.run("restart", "-c", cfg, "site/s")
		if res.code != 1 || !strings.Contains(res.stderr, "restart command") {
			t.Errorf("restart site/s whose restart command fails: exit %d, stderr %q; want 1 and the reason", res.code, res.stderr)
		}
		tsvcRequireVerbs(t, k, "s", "start", "restart")
		requireAlive(t, pid, "the service's daemon (its restart command did nothing)")
	})
}

// ---------------------------------------------------------------------
// otpsv as root or as an ordinary user

// tsvcRunner runs otpsv for a test: as root, or as uid 65534 through
// setpriv, with copies of the binaries that that user can run.
type tsvcRunner struct {
	t      *testing.T
	ws     *workspace
	k      *initd
	prefix []string // setpriv and its options; empty as root
	otpsv  string
}

const tsvcNobody = 65534

func newTsvcRunner(t *testing.T, unprivileged bool) *tsvcRunner {
	t.Helper()
	if !unprivileged {
		ws := newWorkspace(t)
		return &tsvcRunner{t: t, ws: ws, k: newInitd(ws), otpsv: otpsvBin}
	}
	if os.Getuid() != 0 {
		t.Skip("needs root to run otpsv as another uid")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv")
	}
	base, err := os.MkdirTemp("", "otpsv-tsvc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) }) // last: after every kill
	for d := base; ; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); d == base && err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm()&0o001 == 0 {
			t.Skipf("%s is not searchable by other users", d)
		}
		if d == "/" {
			break
		}
	}
	bins := map[string]string{otpsvBin: filepath.Join(base, "otpsv"), fixtureBin: filepath.Join(base, "fixture")}
	for from, to := range bins {
		if err := copyExecutable(from, to); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(base, "ws")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, tsvcNobody, tsvcNobody); err != nil {
		t.Fatal(err)
	}
	ws := &workspace{t: t, dir: dir, stateDir: filepath.Join(dir, "state"), ready: filepath.Join(dir, "ready")}
	k := newInitd(ws) // its cleanup finds the fixture copies by their command lines
	ws.file("helper", bins[fixtureBin]+"\n")
	id := fmt.Sprint(tsvcNobody)
	return &tsvcRunner{t: t, ws: ws, k: k, otpsv: bins[otpsvBin],
		prefix: []string{setpriv, "--reuid=" + id, "--regid=" + id, "--clear-groups"}}
}

// command is otpsv with args, as the runner's user.
func (r *tsvcRunner) command(ctx context.Context, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, r.prefix...), r.otpsv), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = r.ws.dir
	cmd.Env = testEnv()
	return cmd
}

// run runs a short verb to completion.
func (r *tsvcRunner) run(args ...string) result {
	t := r.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandGuard)
	defer cancel()
	return runShort(t, ctx, r.command(ctx, args...), args)
}

// node is path's node of `otpsv tree --json` (live, or the saved state
// with the services asked now).
func (r *tsvcRunner) node(cfg, path string) *ctlNode {
	t := r.t
	t.Helper()
	res := r.run("tree", "--json", "-c", cfg)
	if res.code != 0 {
		t.Fatalf("tree --json: exit %d, stderr %q", res.code, res.stderr)
	}
	var root ctlNode
	if err := json.Unmarshal([]byte(res.stdout), &root); err != nil {
		t.Fatalf("tree --json: %v\n%s", err, res.stdout)
	}
	n := root.find(path)
	if n == nil {
		t.Fatalf("tree --json has no node %s:\n%s", path, res.stdout)
	}
	return n
}

// requireShown fails unless `tree --json` shows path in state with pid
// (0: null).
func (r *tsvcRunner) requireShown(cfg, path, state string, pid int) {
	r.t.Helper()
	if n := r.node(cfg, path); n.State != state || n.pid() != pid {
		r.t.Errorf("tree --json: %s is %s with pid %d, want %s with pid %d", path, n.State, n.pid(), state, pid)
	}
}

// requireUser fails unless pid runs as the runner's user.
func (r *tsvcRunner) requireUser(pid int) {
	r.t.Helper()
	want := os.Getuid()
	if len(r.prefix) > 0 {
		want = tsvcNobody
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		r.t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" {
			if f[1] != strconv.Itoa(want) {
				r.t.Errorf("pid %d runs as uid %s, want %d", pid, f[1], want)
			}
			return
		}
	}
	r.t.Fatalf("/proc/%d/status has no Uid line", pid)
}

// startDaemon is workspace.startDaemon as the runner's user (setpriv
// execs otpsv: the pid is the daemon's).
func (r *tsvcRunner) startDaemon(cfg string) *daemon {
	r.t.Helper()
	return r.ws.runDaemon(r.command(context.Background(), "daemon", "--log-format", "json", "-c", cfg))
}

// ---------------------------------------------------------------------
// pidfile

// pidfileConfig is a tree with one service p known by its pidfile.
func (r *tsvcRunner) pidfileConfig() string {
	k := r.k
	return svcConfig(r.ws, "300ms", fmt.Sprintf(`tree:
  name: site
  intensity: 10
  children:
    - name: p
      start: %s
      pidfile: %s
      timeout: 5s
`, svcArgv("/bin/sh", tsvcScript(r.t, "pidfile-daemon"), k.ws.dir, "p", "start"),
		strconv.Quote(filepath.Join(k.ws.dir, "p.pid"))))
}

// grandchild waits for the daemon of p (pid) to have its grandchild in its
// process group, and returns the grandchild's pid.
func (r *tsvcRunner) grandchild(d *daemon, pid int) int {
	r.t.Helper()
	deadline := time.Now().Add(readyGuard)
	for {
		for _, l := range r.ws.runs("p.gc") {
			if l.pgid == pid {
				return l.pid
			}
		}
		if d != nil && d.exited() {
			r.t.Fatalf("daemon exited before p's grandchild in group %d was ready", pid)
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("no grandchild of p in group %d within %v", pid, readyGuard)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not a success condition
	}
}

// TestServicePidfile: a service known only by its pidfile, under a
// daemon. Running: `tree --json` shows the pid of the file. Its main
// process killed: the file names a dead pid, the service is dirty, a
// failure: what is left of its process group is stopped and it is started
// again. Its pidfile deleted: it is stopped (a failure); the process the
// file named is stopped with its group, then it is started again, so one
// daemon runs, not two. `otpsv stop` stops it through its pidfile: the
// stop signal to its process group, which is empty afterwards.
func TestServicePidfile(t *testing.T) {
	begin(t)
	tsvcUsers(t, func(t *testing.T, r *tsvcRunner) {
		k := r.k
		cfg := r.pidfileConfig()
		d := r.startDaemon(cfg)
		st := waitFor(t, d.events, is("started", "node", "site/p"))
		pid1 := k.waitPid(d, "p", 0)
		if st.num("pid") != pid1 {
			t.Errorf(`"started" = %v, want the pid of the pidfile, %d`, st, pid1)
		}
		gc1 := r.grandchild(d, pid1)
		r.requireUser(pid1)
		r.requireShown(cfg, "site/p", "running", pid1)

		// The main process killed: dirty; its group is emptied, and it
		// starts again.
		svcKill(t, pid1, "p's daemon")
		evs := until(t, d.events, is("started", "node", "site/p"))
		if svcIndex(evs, svcFailed("site/p", "dirty")) < 0 {
			t.Errorf(`no "service failed" event for site/p dirty (dead pid in its pidfile): %v`, evs)
		}
		svcRequireRestarting(t, evs, "site/p", []string{"p"}, "dirty")
		pid2 := k.waitPid(d, "p", pid1)
		requireDead(t, gc1, "the grandchild the killed daemon left")
		requireGroupEmpty(t, pid1)
		r.grandchild(d, pid2)
		r.requireShown(cfg, "site/p", "running", pid2)

		// The pidfile deleted: stopped; the process it named is stopped
		// before the service starts again.
		if err := os.Remove(filepath.Join(k.ws.dir, "p.pid")); err != nil {
			t.Fatal(err)
		}
		evs = until(t, d.events, is("started", "node", "site/p"))
		if svcIndex(evs, svcFailed("site/p", "stopped")) < 0 {
			t.Errorf(`no "service failed" event for site/p found stopped (no pidfile): %v`, evs)
		}
		requireDead(t, pid2, "the daemon whose pidfile was deleted")
		requireGroupEmpty(t, pid2)
		pid3 := k.waitPid(d, "p", pid2)
		r.grandchild(d, pid3)
		r.requireShown(cfg, "site/p", "running", pid3)

		// An operator's stop: the stop signal to the group.
		if res := r.run("stop", "--state-dir", r.ws.stateDir, "site/p"); res.code != 0 {
			t.Fatalf("stop site/p: exit %d, stderr %q", res.code, res.stderr)
		}
		requireDead(t, pid3, "p's daemon")
		requireGroupEmpty(t, pid3)
		if _, err := os.Stat(filepath.Join(k.ws.dir, "p.pid")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("pidfile of the stopped service: %v, want it removed (it names a dead pid)", err)
		}
		r.requireShown(cfg, "site/p", "stopped", 0)
		svcRequireVerbs(t, k, "p", "start", "start", "start")
		d.stop()
		ws := r.ws
		if n := len(ws.runs("p")); n != 3 {
			t.Errorf("p's daemon ran %d times, want 3", n)
		}
		ws.requireAllDead()
	})
}

// TestServicePidfileWithoutDaemon: a pass starts a pidfile service;
// without a daemon, `tree --json` shows the pid of its file, and `otpsv
// stop` stops it through the file (its process group empty afterwards).
// A pidfile naming a live process that started after the file was
// written names a reused pid: the service is dirty, that process is never
// signalled, and the service is started.
func TestServicePidfileWithoutDaemon(t *testing.T) {
	begin(t)
	tsvcUsers(t, func(t *testing.T, r *tsvcRunner) {
		k := r.k
		cfg := r.pidfileConfig()

		// A reused pid: a process of the test's own, started after the
		// pidfile's time.
		other := exec.Command("sleep", "3600")
		other.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := other.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
		pf := k.ws.file("p.pid", fmt.Sprintf("%d\n", other.Process.Pid))
		old := time.Now().Add(-time.Hour)
		if err := os.Chtimes(pf, old, old); err != nil {
			t.Fatal(err)
		}
		if len(r.prefix) > 0 {
			if err := os.Chown(pf, tsvcNobody, tsvcNobody); err != nil {
				t.Fatal(err)
			}
		}

		res := r.run("oneshot", "-c", cfg)
		if res.code != 0 {
			t.Fatalf("pass: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
		}
		pid1 := k.waitPid(nil, "p", other.Process.Pid)
		if !strings.Contains(res.stderr, "dirty") {
			t.Errorf("pass stderr %q, want the service found dirty (reused pid)", res.stderr)
		}
		requireAlive(t, other.Process.Pid, "the process of the reused pid")
		r.grandchild(nil, pid1)
		r.requireUser(pid1)
		r.requireShown(cfg, "site/p", "running", pid1)

		if res := r.run("stop", "-c", cfg, "site/p"); res.code != 0 {
			t.Fatalf("stop site/p without a daemon: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
		}
		requireDead(t, pid1, "p's daemon")
		requireGroupEmpty(t, pid1)
		requireAlive(t, other.Process.Pid, "the process of the reused pid")
		r.requireShown(cfg, "site/p", "stopped", 0)
	})
}
