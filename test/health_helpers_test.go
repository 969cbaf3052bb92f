package test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Helpers of health_test.go: workspaces whose workers are healthfix
// (test/testdata/healthfix), its ready file of four-field lines, its env
// file, the tree's health fields, and sd_notify from the test process.

// healthWS is a workspace whose workers run healthfix. Their lines go to
// hready ("<name> <pid> <pgid> <unix-nanos>"), not to the fixture's ready
// file, whose parser wants three fields.
type healthWS struct {
	*workspace
	hready string
	bin    string // the healthfix binary (a copy nobody can run, for unprivileged daemons)
}

func newHealthWS(t *testing.T) *healthWS {
	t.Helper()
	return wrapHealthWS(newWorkspace(t), healthfixBin)
}

// wrapHealthWS makes w a healthfix workspace running bin. Cleanup kills the
// healthfix processes of this workspace still alive when the test ends.
func wrapHealthWS(w *workspace, bin string) *healthWS {
	h := &healthWS{workspace: w, hready: filepath.Join(w.dir, "hready"), bin: bin}
	w.t.Cleanup(h.killLeftovers)
	return h
}

// cmd returns the YAML flow sequence that runs healthfix as name, with
// its env file at envFile(name).
func (h *healthWS) cmd(name string, args ...string) string {
	return yamlArgv(append([]string{h.bin, "-name", name, "-ready", h.hready, "-env-file", h.envFile(name)}, args...))
}

func yamlArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func (h *healthWS) envFile(name string) string { return filepath.Join(h.dir, name+".env.json") }

// path is a file name of the workspace (not created).
func (h *healthWS) path(name string) string { return filepath.Join(h.dir, name) }

// touch creates a file a healthfix waits for (-notify-on, -fd-on,
// -status-on).
func (h *healthWS) touch(name string) {
	h.t.Helper()
	h.file(name, "")
}

// setMode writes an HTTP answer ("ok", "fail", "slow") of the healthfix
// endpoints served from modeDir: kind is "ready" or "live", pid 0 means
// every process, else only that one.
func (h *healthWS) setMode(modeDir, kind string, pid int, mode string) {
	h.t.Helper()
	name := kind
	if pid != 0 {
		name = fmt.Sprintf("%s.%d", kind, pid)
	}
	if err := os.MkdirAll(modeDir, 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(modeDir, name), []byte(mode+"\n"), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// hLine is one line healthfix appended to the ready file.
type hLine struct {
	name      string
	pid, pgid int
	at        time.Time
}

func parseHReady(path string) ([]hLine, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []hLine
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 {
			continue // an unfinished line, or none
		}
		pid, err1 := strconv.Atoi(f[1])
		pgid, err2 := strconv.Atoi(f[2])
		ns, err3 := strconv.ParseInt(f[3], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("bad healthfix line %q", line)
		}
		out = append(out, hLine{name: f[0], pid: pid, pgid: pgid, at: time.Unix(0, ns)})
	}
	return out, nil
}

// runs returns the lines of name, oldest first.
func (h *healthWS) runs(name string) []hLine {
	h.t.Helper()
	lines, err := parseHReady(h.hready)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []hLine
	for _, l := range lines {
		if l.name == name {
			out = append(out, l)
		}
	}
	return out
}

// wait waits for the n-th line of name (n from 1) and returns it. It
// fails at once if the daemon exits first.
func (h *healthWS) wait(d *daemon, name string, n int) hLine {
	h.t.Helper()
	deadline := time.Now().Add(readyGuard)
	for {
		if r := h.runs(name); len(r) >= n {
			return r[n-1]
		}
		if d.exited() {
			if r := h.runs(name); len(r) >= n {
				return r[n-1]
			}
			h.t.Fatalf("daemon exited before line %d of %q", n, name)
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no line %d of %q within %v; have %v", n, name, readyGuard, h.runs(name))
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not a success condition
	}
}

// requireAllDead checks every process healthfix reported: each pid dead
// and each process group empty.
func (h *healthWS) requireAllDead() {
	h.t.Helper()
	lines, err := parseHReady(h.hready)
	if err != nil {
		h.t.Fatal(err)
	}
	if len(lines) == 0 {
		h.t.Fatal("healthfix ready file is empty: no worker ever started")
	}
	for _, l := range lines {
		requireDead(h.t, l.pid, l.name)
		requireGroupEmpty(h.t, l.pgid)
	}
}

func (h *healthWS) killLeftovers() {
	lines, _ := parseHReady(h.hready)
	groups := map[int]bool{}
	for _, l := range lines {
		groups[l.pgid] = true
	}
	for _, p := range procTable() {
		if !groups[p.pgid] || p.zombie() {
			continue
		}
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.pid)); err == nil && exe == h.bin {
			h.t.Logf("cleanup: killing leftover healthfix process %d (group %d)", p.pid, p.pgid)
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
}

// hEnv is what healthfix wrote to its env file.
type hEnv struct {
	Pid  int               `json:"pid"`
	Env  map[string]string `json:"env"`
	HTTP string            `json:"http"`
}

// env reads the env file of name, which the run with pid must have
// written (a test reads it after that run's line).
func (h *healthWS) env(name string, pid int) hEnv {
	h.t.Helper()
	data, err := os.ReadFile(h.envFile(name))
	if err != nil {
		h.t.Fatalf("env file of %s: %v", name, err)
	}
	var e hEnv
	if err := json.Unmarshal(data, &e); err != nil {
		h.t.Fatalf("env file of %s: %v: %s", name, err, data)
	}
	if e.Pid != pid {
		h.t.Fatalf("env file of %s is from pid %d, want %d", name, e.Pid, pid)
	}
	return e
}

// freePort returns a loopback port nobody listened on a moment ago: the
// probe URL has to be in the config before healthfix listens on it.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// sendNotify sends one sd_notify datagram from the test process (a pid
// outside every worker's process group).
func sendNotify(t *testing.T, socket, msg string) {
	t.Helper()
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		t.Fatalf("dial NOTIFY_SOCKET %s: %v", socket, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("send %q to %s: %v", msg, socket, err)
	}
}

// ---------------------------------------------------------------------
// The tree's health fields

// hNode is a node of `otpsv tree --json`, with its health fields.
type hNode = ctlNode

// ready is "true", "false" or "absent".
func (n *hNode) ready() string {
	if n == nil || n.Ready == nil {
		return "absent"
	}
	return strconv.FormatBool(*n.Ready)
}

func (n *hNode) String() string {
	if n == nil {
		return "<no node>"
	}
	return fmt.Sprintf("{%s state=%s pid=%d ready=%s message=%q restarts=%d admin_stopped=%v}",
		n.Path, n.State, n.pid(), n.ready(), n.Message, n.Restarts, n.AdminStopped)
}

// node returns the node at path of the live tree, which must exist.
func (h *healthWS) node(path string) *hNode {
	h.t.Helper()
	n := h.liveNode(path)
	if n == nil {
		h.t.Fatalf("the daemon's tree has no node %s (or the daemon does not answer)", path)
	}
	return n
}

// cliNode runs `otpsv tree --json` and returns the node at path, which
// must exist. (A race-built otpsv takes a second to exit: node is the
// cheaper way to look.)
func (h *healthWS) cliNode(path string) *hNode {
	h.t.Helper()
	r := h.mustCtl("tree", "--json")
	var root hNode
	if err := json.Unmarshal([]byte(r.stdout), &root); err != nil {
		h.t.Fatalf("tree --json: %v\n%s", err, r.stdout)
	}
	n := root.find(path)
	if n == nil {
		h.t.Fatalf("tree --json has no node %s:\n%s", path, r.stdout)
	}
	return n
}

// liveNode fetches the node at path over the control socket (cheaper than
// running the binary; what waitNode polls); nil if unavailable.
func (h *healthWS) liveNode(path string) *hNode {
	c := h.ctlHTTP()
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://otpsv/v1/tree")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var root hNode
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&root) != nil {
		return nil
	}
	return root.find(path)
}

// waitNode polls the live tree until cond holds for the node at path,
// within readyGuard (a deadline for something that must happen), and
// returns the node.
func (h *healthWS) waitNode(path, what string, cond func(n *hNode) bool) *hNode {
	h.t.Helper()
	deadline := time.Now().Add(readyGuard)
	for {
		n := h.liveNode(path)
		if n != nil && cond(n) {
			return n
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: %s: not within %v; last %v", path, what, readyGuard, n)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// whyDetails is every detail and cause of `otpsv why --json PATH`'s
// history, one string per entry.
func (h *healthWS) whyDetails(path string) []string {
	h.t.Helper()
	var out []string
	for _, e := range h.ctlWhyOf(path).History {
		out = append(out, e.Event+": "+e.Detail)
	}
	return out
}

// anyContains reports whether one of ss contains sub.
func anyContains(ss []string, sub string) bool {
	for _, s := range ss {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------
// Events

// about matches events whose node field is node and some string field
// contains sub, whatever their msg.
func about(node, sub string) func(event) bool {
	return func(e event) bool {
		if e.str("node") != node {
			return false
		}
		for k, v := range e {
			if s, ok := v.(string); ok && k != "node" && strings.Contains(s, sub) {
				return true
			}
		}
		return false
	}
}

// at is the event's "time" (slog's RFC 3339 with nanoseconds).
func (e event) at(t *testing.T) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, e.str("time"))
	if err != nil {
		t.Fatalf("event %v: time: %v", e, err)
	}
	return ts
}

// duration reads a duration field: slog writes a time.Duration as
// nanoseconds, a string field may hold "800ms".
func (e event) duration(t *testing.T, key string) time.Duration {
	t.Helper()
	switch v := e[key].(type) {
	case float64:
		return time.Duration(v)
	case string:
		d, err := time.ParseDuration(v)
		if err == nil {
			return d
		}
	}
	t.Fatalf("event %v: %s is not a duration", e, key)
	return 0
}

// hung is the daemon's message when a liveness probe or the watchdog
// says a worker is hung.
const hung = "process hung; killing its process group"
