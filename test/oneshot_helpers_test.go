package test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// passGuard bounds a oneshot pass run in the background (readiness
// commands included): a hang guard, never a success condition.
const passGuard = 30 * time.Second

// newPassWorkspace is a workspace for tests whose workers run detached
// (started by a oneshot pass or by start/stop without a daemon): they are
// not the test's children and survive every otpsv, so they are killed at
// the end of the test by pid, each pid read from the ready file and
// checked to be this workspace's fixture first.
func newPassWorkspace(t *testing.T) *workspace {
	t.Helper()
	ws := newWorkspace(t)
	t.Cleanup(ws.killDetached) // runs before newWorkspace's last resort
	return ws
}

func (w *workspace) killDetached() {
	lines, _ := parseReady(w.ready)
	var killed []int
	for _, l := range lines {
		if w.isOurs(l.pid) && !dead(l.pid) {
			if syscall.Kill(l.pid, syscall.SIGKILL) == nil {
				killed = append(killed, l.pid)
			}
		}
	}
	deadline := time.Now().Add(reapGrace)
	for _, pid := range killed {
		for !dead(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// isOurs reports whether pid runs the fixture with this workspace's ready
// file (so a reused pid is never touched).
func (w *workspace) isOurs(pid int) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil || exe != fixtureBin {
		return false
	}
	return slices.Contains(cmdline(pid), w.ready)
}

func cmdline(pid int) []string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
}

// workers returns the live processes running the fixture as name for
// this workspace, found by their command line (whatever started them).
func (w *workspace) workers(name string) []int {
	var out []int
	for _, p := range procTable() {
		if p.zombie() {
			continue
		}
		argv := cmdline(p.pid)
		if len(argv) == 0 || argv[0] != fixtureBin {
			continue
		}
		if i := slices.Index(argv, "-name"); i < 0 || i+1 >= len(argv) || argv[i+1] != name {
			continue
		}
		if i := slices.Index(argv, "-ready"); i < 0 || i+1 >= len(argv) || argv[i+1] != w.ready {
			continue
		}
		out = append(out, p.pid)
	}
	return out
}

// requireOneEach fails unless each name runs in exactly one process.
func (w *workspace) requireOneEach(names ...string) {
	w.t.Helper()
	for _, n := range names {
		if pids := w.workers(n); len(pids) != 1 {
			w.t.Errorf("worker %s runs in %d processes %v, want exactly 1", n, len(pids), pids)
		}
	}
}

// waitRun waits for the n-th ready line of name (n from 1) without a
// daemon: the processes of a pass write theirs after it has exited.
func (w *workspace) waitRun(name string, n int) readyLine {
	w.t.Helper()
	deadline := time.Now().Add(readyGuard)
	for {
		if r := w.runs(name); len(r) >= n {
			return r[n-1]
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no ready line %d of %q within %v; ready file has %v", n, name, readyGuard, w.runs(name))
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not a success condition
	}
}

// lastRun is the pid of name's latest ready line.
func (w *workspace) lastRun(name string) int {
	w.t.Helper()
	r := w.runs(name)
	if len(r) == 0 {
		w.t.Fatalf("%s never became ready", name)
	}
	return r[len(r)-1].pid
}

// killWorker sends SIGKILL to one of this workspace's fixture processes
// and waits until it is dead (a zombie counts: otpsv must tell).
func (w *workspace) killWorker(pid int, what string) {
	w.t.Helper()
	if !w.isOurs(pid) {
		w.t.Fatalf("%s: pid %d is not a fixture of this test", what, pid)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		w.t.Fatalf("kill %s (pid %d): %v", what, pid, err)
	}
	requireDead(w.t, pid, what)
}

// sessionOf returns the session id of pid (field 6 of /proc/PID/stat).
func sessionOf(pid int) (int, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 4 {
		return 0, false
	}
	sid, err := strconv.Atoi(f[3])
	return sid, err == nil
}

// ---------------------------------------------------------------------
// Passes

// oneshot runs one pass to completion.
func (w *workspace) oneshot(cfg string) result {
	w.t.Helper()
	return otpsv(w.t, w.dir, "oneshot", "-c", cfg)
}

// quietPass runs a pass that must change nothing: exit 0, no output.
func (w *workspace) quietPass(cfg string) {
	w.t.Helper()
	if r := w.oneshot(cfg); r.code != 0 || r.stdout != "" {
		w.t.Fatalf("pass: exit %d, stdout %q, stderr %q; want exit 0 and nothing printed", r.code, r.stdout, r.stderr)
	}
}

// actions splits a pass's stdout into its lines.
func actions(stdout string) []string {
	var out []string
	for _, l := range strings.Split(stdout, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

var startedLine = regexp.MustCompile(`^([^:]+): started \(pid (\d+)\): (.*)$`)

// started parses a "PATH: started (pid N): WHY" line.
func started(line string) (path string, pid int, why string, ok bool) {
	m := startedLine.FindStringSubmatch(line)
	if m == nil {
		return "", 0, "", false
	}
	pid, _ = strconv.Atoi(m[2])
	return m[1], pid, m[3], true
}

// startedPids checks that lines are exactly one "started" line per path,
// in this order, and returns the pid of each.
func startedPids(t *testing.T, lines []string, paths ...string) map[string]int {
	t.Helper()
	if len(lines) != len(paths) {
		t.Fatalf("pass printed %d lines %q, want one started line for each of %v", len(lines), lines, paths)
	}
	pids := map[string]int{}
	for i, l := range lines {
		path, pid, _, ok := started(l)
		if !ok || path != paths[i] {
			t.Fatalf("line %d = %q, want %q: started (pid N): ...", i+1, l, paths[i])
		}
		pids[path] = pid
	}
	return pids
}

// bgPass is a oneshot pass running in the background, its stdout read
// line by line as it comes.
type bgPass struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan string // closed at EOF
	done   chan struct{}
	mu     sync.Mutex
	stdout []string
	stderr bytes.Buffer
}

func (w *workspace) startPass(cfg string) *bgPass {
	t := w.t
	t.Helper()
	cmd := exec.Command(otpsvBin, "oneshot", "-c", cfg)
	cmd.Dir = w.dir
	cmd.Env = testEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &bgPass{t: t, cmd: cmd, lines: make(chan string, 1000), done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{mu: &p.mu, w: &p.stderr}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start oneshot: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.stdout = append(p.stdout, sc.Text())
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default: // nobody waits for lines that many
			}
		}
		close(p.lines)
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (p *bgPass) pid() int { return p.cmd.Process.Pid }

// wait waits for the pass to exit and returns what it did.
func (p *bgPass) wait() result {
	p.t.Helper()
	timer := time.NewTimer(passGuard)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		p.t.Fatalf("oneshot (pid %d) did not exit within %v", p.pid(), passGuard)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var out string
	for _, l := range p.stdout {
		out += l + "\n"
	}
	return result{stdout: out, stderr: p.stderr.String(), code: p.cmd.ProcessState.ExitCode()}
}

// kill9 kills the pass (the otpsv process itself, by pid) with SIGKILL
// and waits for it to be gone.
func (p *bgPass) kill9() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("kill oneshot: %v", err)
	}
	if r := p.wait(); r.code != -1 {
		p.t.Fatalf("oneshot exited with %d before it could be killed: stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// ---------------------------------------------------------------------
// Reading state

// jsonNode is one node of `tree --json`.
type jsonNode struct {
	Name     string     `json:"name"`
	Path     string     `json:"path"`
	Type     string     `json:"type"`
	State    string     `json:"state"`
	Expected string     `json:"expected"`
	Pid      *int       `json:"pid"`
	Since    string     `json:"since"`
	Restarts int        `json:"restarts"`
	Children []jsonNode `json:"children"`
}

// treeJSON runs `tree --json` (live from a daemon, or the saved state)
// and returns its nodes by path.
func (w *workspace) treeJSON(cfg string) map[string]jsonNode {
	w.t.Helper()
	r := otpsv(w.t, w.dir, "tree", "--json", "-c", cfg)
	if r.code != 0 {
		w.t.Fatalf("tree --json: exit %d, stderr %q", r.code, r.stderr)
	}
	var root jsonNode
	if err := json.Unmarshal([]byte(r.stdout), &root); err != nil {
		w.t.Fatalf("tree --json: %v\n%s", err, r.stdout)
	}
	out := map[string]jsonNode{}
	var walk func(n jsonNode)
	walk = func(n jsonNode) {
		out[n.Path] = n
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(root)
	return out
}

// requireRunning fails unless `tree --json` shows each path running with
// the given pid.
func (w *workspace) requireRunning(cfg string, pids map[string]int) {
	w.t.Helper()
	nodes := w.treeJSON(cfg)
	for path, pid := range pids {
		n, ok := nodes[path]
		switch {
		case !ok:
			w.t.Errorf("tree --json has no node %s", path)
		case n.State != "running" || n.Pid == nil || *n.Pid != pid:
			got := "null"
			if n.Pid != nil {
				got = strconv.Itoa(*n.Pid)
			}
			w.t.Errorf("tree --json: %s is %s with pid %s, want running with pid %d", path, n.State, got, pid)
		}
	}
}

// statusOf returns the `status` line of path (and the exit status).
func (w *workspace) statusOf(cfg, path string) (string, int) {
	w.t.Helper()
	r := otpsv(w.t, w.dir, "status", "-c", cfg)
	for _, l := range strings.Split(r.stdout, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == path {
			return l, r.code
		}
	}
	w.t.Fatalf("status has no line for %s: exit %d, stdout %q, stderr %q", path, r.code, r.stdout, r.stderr)
	return "", 0
}

// diskUsage is what du reports for dir: allocated blocks of every file
// (and directory) under it, plus the apparent size.
func diskUsage(dir string) (used, apparent int64, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // Badger removed it meanwhile
			}
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		used += st.Blocks * 512
		apparent += st.Size
		return nil
	})
	return used, apparent, err
}

// stuckPass is a oneshot pass whose stdout is a pipe nobody reads, so
// small that the pass blocks writing its second line: the first worker's
// line gets through, and the pass stops right after it has started the
// second worker, in the write of the line that reports it.
type stuckPass struct {
	t    *testing.T
	cmd  *exec.Cmd
	r    *os.File
	done chan struct{}
}

func (w *workspace) startStuckPass(cfg string) *stuckPass {
	t := w.t
	t.Helper()
	r, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// The smallest pipe there is (a page), filled but for room for one
	// line (a started line is under 60 bytes), and never read meanwhile:
	// a write of up to PIPE_BUF bytes to a pipe is all or nothing, so the
	// second line blocks.
	size, _, errno := syscall.Syscall(syscall.SYS_FCNTL, wr.Fd(), syscall.F_SETPIPE_SZ, 4096)
	if errno != 0 {
		t.Fatalf("F_SETPIPE_SZ: %v", errno)
	}
	if _, err := wr.Write(bytes.Repeat([]byte("#"), int(size)-80)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(otpsvBin, "oneshot", "-c", cfg)
	cmd.Dir = w.dir
	cmd.Env = testEnv()
	cmd.Stdout = wr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start oneshot: %v", err)
	}
	_ = wr.Close()
	p := &stuckPass{t: t, cmd: cmd, r: r, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		_ = r.Close()
	})
	return p
}

// kill9 kills the pass with SIGKILL, waits for it to be gone and returns
// what it wrote to stdout (the filler left out).
func (p *stuckPass) kill9() string {
	p.t.Helper()
	select {
	case <-p.done:
		p.t.Fatalf("the pass exited (status %d) instead of blocking on its stdout", p.cmd.ProcessState.ExitCode())
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("kill oneshot: %v", err)
	}
	timer := time.NewTimer(passGuard)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		p.t.Fatalf("oneshot (pid %d) still there %v after SIGKILL", p.cmd.Process.Pid, passGuard)
	}
	out, _ := io.ReadAll(p.r)
	return strings.TrimLeft(string(out), "#")
}
