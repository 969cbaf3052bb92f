package test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The service tests drive testdata/initd/fake-service, a fake LSB init
// script: `fake-service DIR NAME start|stop|status|restart`, where DIR is
// the test's workspace directory. Its daemon is the fixture program (so it
// writes ready lines to the workspace's ready file like a process worker)
// started with setsid, whose pid is in DIR/NAME.pid. Its modes are files
// in DIR; the script's comment lists them.

// initd is the service kit of one workspace.
type initd struct {
	ws     *workspace
	script string // absolute path of fake-service
}

// newInitd prepares ws for fake services: DIR/helper names the fixture as
// the daemon to run. Cleanup kills whatever fake-service daemon or hung
// status command of this workspace outlived the test; it is registered
// before any daemon of the test, so it runs after the daemon was killed.
func newInitd(ws *workspace) *initd {
	t := ws.t
	t.Helper()
	script, err := filepath.Abs(filepath.Join("testdata", "initd", "fake-service"))
	if err != nil {
		t.Fatal(err)
	}
	k := &initd{ws: ws, script: script}
	ws.file("helper", fixtureBin+"\n")
	t.Cleanup(k.killLeftovers)
	return k
}

func svcArgv(argv ...string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// control is the YAML `control:` prefix of service name.
func (k *initd) control(name string) string {
	return svcArgv("/bin/sh", k.script, k.ws.dir, name)
}

// verb is the YAML command running one verb of service name.
func (k *initd) verb(name, verb string) string {
	return svcArgv("/bin/sh", k.script, k.ws.dir, name, verb)
}

// pattern is a YAML string: the regular expression matching the command
// line of service name's daemon (the fixture), and nothing else.
func (k *initd) pattern(name string) string {
	return strconv.Quote("^" + regexp.QuoteMeta(fmt.Sprintf("%s -name %s -ready %s", fixtureBin, name, k.ws.ready)) + "$")
}

// run runs the script from the test (out of band) and returns its exit
// status.
func (k *initd) run(name, verb string) int {
	t := k.ws.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandGuard)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", k.script, k.ws.dir, name, verb)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("fake-service %s %s: %v", name, verb, err)
	}
	t.Logf("fake-service %s %s: exit %d %s", name, verb, cmd.ProcessState.ExitCode(), strings.TrimSpace(string(out)))
	return cmd.ProcessState.ExitCode()
}

// set creates DIR/NAME.MODE with content: a mode of the fake service.
func (k *initd) set(name, mode, content string) {
	k.ws.t.Helper()
	k.ws.file(name+"."+mode, content)
}

// pid is the pid in NAME.pid, 0 when there is none.
func (k *initd) pid(name string) int {
	data, err := os.ReadFile(filepath.Join(k.ws.dir, name+".pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// waitPid waits for NAME.pid to name a live process other than old and
// returns its pid. With a daemon, it fails at once if the daemon exits.
func (k *initd) waitPid(d *daemon, name string, old int) int {
	t := k.ws.t
	t.Helper()
	deadline := time.Now().Add(readyGuard)
	for {
		if pid := k.pid(name); pid > 0 && pid != old && !dead(pid) {
			return pid
		}
		if d != nil && d.exited() {
			t.Fatalf("daemon exited before %s's pidfile named a new live process (old %d)", name, old)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's pidfile names no live process other than %d within %v (now %d)", name, old, readyGuard, k.pid(name))
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not a success condition
	}
}

// waitRun waits for the n-th ready line of name (n from 1): with a
// daemon, as d.waitReady; without one, for a daemon the test started out
// of band.
func (k *initd) waitRun(d *daemon, name string, n int) readyLine {
	t := k.ws.t
	t.Helper()
	if d != nil {
		return d.waitReady(name, n)
	}
	deadline := time.Now().Add(readyGuard)
	for {
		if r := k.ws.runs(name); len(r) >= n {
			return r[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ready line %d of %q within %v", n, name, readyGuard)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not a success condition
	}
}

// verbs is what the script did for name, from NAME.log: "start",
// "stop", "stop-noop", "start-noop", ... in order.
func (k *initd) verbs(name string) []string {
	data, _ := os.ReadFile(filepath.Join(k.ws.dir, name+".log"))
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			out = append(out, f[0])
		}
	}
	return out
}

// svcHung is a status command of a fake service that began to hang.
type svcHung struct {
	pid, pgid int
	at        time.Time // when it wrote NAME.hung
}

// waitHung waits for NAME.hung, written by a status command as it starts
// hanging.
func (k *initd) waitHung(d *daemon, name string) svcHung {
	t := k.ws.t
	t.Helper()
	path := filepath.Join(k.ws.dir, name+".hung")
	deadline := time.Now().Add(readyGuard)
	for {
		if fi, err := os.Stat(path); err == nil {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var h svcHung
			if _, err := fmt.Sscan(string(data), &h.pid, &h.pgid); err != nil {
				t.Fatalf("%s: %q: %v", path, data, err)
			}
			h.at = fi.ModTime()
			return h
		}
		if d.exited() {
			t.Fatalf("daemon exited before %s's status hung", name)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no status of %s hung within %v", name, readyGuard)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// killLeftovers kills what this workspace's fake services left: the
// daemons named by the pidfiles, then any process whose command line
// names the workspace directory (a daemon still in its start delay, a
// hung status command), by its process group when it leads one. The
// otpsv daemon, killed by its own cleanup before, is never touched.
func (k *initd) killLeftovers() {
	dir := k.ws.dir
	mine := func(pid int) bool {
		// The workspace directory as an argument of its own, or at the
		// start of a path in one (cmdline's arguments end with NULs).
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !(strings.Contains(string(cmdline), dir+"/") || strings.Contains(string(cmdline), dir+"\x00")) {
			return false
		}
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		return exe != otpsvBin && pid != os.Getpid()
	}
	pidfiles, _ := filepath.Glob(filepath.Join(k.ws.dir, "*.pid"))
	for _, f := range pidfiles {
		data, _ := os.ReadFile(f)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 && !dead(pid) && mine(pid) {
			k.ws.t.Logf("cleanup: killing fake service daemon %d (%s)", pid, filepath.Base(f))
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for _, p := range procTable() {
		if p.zombie() || !mine(p.pid) {
			continue
		}
		target := p.pid
		if p.pgid == p.pid {
			target = -p.pid
		}
		k.ws.t.Logf("cleanup: killing leftover process %d (group %d) of the fake services", p.pid, p.pgid)
		_ = syscall.Kill(target, syscall.SIGKILL)
	}
}

// ---------------------------------------------------------------------
// Live tree

// svcNode is one node of `otpsv tree --json`.
type svcNode struct {
	Name     string     `json:"name"`
	Path     string     `json:"path"`
	Type     string     `json:"type"`
	State    string     `json:"state"`
	Expected string     `json:"expected"`
	Pid      *int       `json:"pid"`
	Restarts int        `json:"restarts"`
	Children []*svcNode `json:"children"`
}

// svcTree returns the nodes of the daemon's tree by path.
func svcTree(t *testing.T, ws *workspace) map[string]*svcNode {
	t.Helper()
	r := otpsv(t, ws.dir, "tree", "--json", "--state-dir", ws.stateDir)
	if r.code != 0 {
		t.Fatalf("otpsv tree --json: exit %d; stderr: %s", r.code, r.stderr)
	}
	var root svcNode
	if err := json.Unmarshal([]byte(r.stdout), &root); err != nil {
		t.Fatalf("otpsv tree --json: %v\n%s", err, r.stdout)
	}
	out := map[string]*svcNode{}
	var walk func(n *svcNode)
	walk = func(n *svcNode) {
		out[n.Path] = n
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(&root)
	return out
}

// svcWaitState polls the live tree until node path is in state. The state is
// what is waited for; the deadline is a hang guard.
func svcWaitState(t *testing.T, ws *workspace, path, state string) *svcNode {
	t.Helper()
	deadline := time.Now().Add(eventGuard)
	for {
		n := svcTree(t, ws)[path]
		if n != nil && n.State == state {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not %s within %v: %+v", path, state, eventGuard, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// svcStatus runs `otpsv status` and returns its lines by path.
func svcStatus(t *testing.T, ws *workspace) (map[string]string, int) {
	t.Helper()
	r := otpsv(t, ws.dir, "status", "--state-dir", ws.stateDir)
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if p, _, ok := strings.Cut(l, " "); ok {
			out[p] = l
		}
	}
	return out, r.code
}

// ---------------------------------------------------------------------
// Events

// svcUntilAll returns the events up to the one by which every matcher has
// matched at least once, in the order they came.
func svcUntilAll(t *testing.T, ch <-chan event, matchers ...func(event) bool) []event {
	t.Helper()
	guard := time.NewTimer(eventGuard)
	defer guard.Stop()
	seen := make([]bool, len(matchers))
	left := len(matchers)
	var out []event
	for left > 0 {
		e := nextEvent(t, ch, guard.C)
		out = append(out, e)
		for i, m := range matchers {
			if !seen[i] && m(e) {
				seen[i] = true
				left--
			}
		}
		if left > 0 {
			unwanted(t, e)
		}
	}
	return out
}

// svcIndex is the position of the first event that matches, -1 if none.
func svcIndex(events []event, match func(event) bool) int {
	for i, e := range events {
		if match(e) {
			return i
		}
	}
	return -1
}

// svcEventTime is when the daemon logged e.
func svcEventTime(t *testing.T, e event) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, e.str("time"))
	if err != nil {
		t.Fatalf("event %v: time: %v", e, err)
	}
	return ts
}

// svcFailed matches a "service failed" event of node whose reason holds
// every one of words.
func svcFailed(node string, words ...string) func(event) bool {
	return func(e event) bool {
		if !is("service failed", "node", node)(e) {
			return false
		}
		for _, w := range words {
			if !strings.Contains(e.str("reason"), w) {
				return false
			}
		}
		return true
	}
}
