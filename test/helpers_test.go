package test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds. They are hang guards and deadlines for things that must happen,
// never success conditions.
const (
	eventGuard   = 30 * time.Second // waitFor: no matching event
	readyGuard   = 30 * time.Second // waitReady: no ready line
	exitGuard    = 30 * time.Second // a daemon asked to stop did not exit
	commandGuard = 20 * time.Second // a short verb (validate, version) hung
	// reapGrace is how long a process that was sent SIGKILL before the
	// daemon exited may still show in /proc before it counts as a
	// survivor: the kernel's delivery latency, not a grace period.
	reapGrace = 2 * time.Second
)

// workspace is one test's directory: config, state_dir and ready file.
type workspace struct {
	t        *testing.T
	dir      string
	stateDir string
	ready    string
}

func newWorkspace(t *testing.T) *workspace {
	t.Helper()
	dir := t.TempDir()
	w := &workspace{t: t, dir: dir, stateDir: filepath.Join(dir, "state"), ready: filepath.Join(dir, "ready")}
	// Last resort: kill any fixture process of this test still alive when
	// it ends (a daemon that leaked a worker, or a test that failed
	// midway). Only processes running our fixture binary, in a process
	// group named by this test's ready file, are touched.
	t.Cleanup(w.killLeftovers)
	return w
}

// cmd returns the YAML flow sequence that runs the fixture as name.
func (w *workspace) cmd(name string, args ...string) string {
	argv := append([]string{fixtureBin, "-name", name, "-ready", w.ready}, args...)
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// config writes settings (with this workspace's state_dir) followed by
// tree, a YAML document starting with "tree:", and returns its path.
func (w *workspace) config(tree string) string {
	w.t.Helper()
	doc := fmt.Sprintf("settings:\n  state_dir: %s\n", strconv.Quote(w.stateDir)) + tree
	return w.file("otpsv.yaml", doc)
}

// file writes a file of the workspace and returns its path.
func (w *workspace) file(name, content string) string {
	w.t.Helper()
	path := filepath.Join(w.dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return path
}

func (w *workspace) killLeftovers() {
	lines, _ := parseReady(w.ready)
	groups := map[int]bool{}
	for _, l := range lines {
		groups[l.pgid] = true
	}
	for _, p := range procTable() {
		if !groups[p.pgid] || p.zombie() {
			continue
		}
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.pid)); err == nil && exe == fixtureBin {
			w.t.Logf("cleanup: killing leftover fixture process %d (group %d)", p.pid, p.pgid)
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
}

// testEnv is the environment of otpsv runs: the caller's, without the
// variables that would override the test's config.
func testEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "OTPSV_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// ---------------------------------------------------------------------
// Events

// event is one JSON log line of the daemon.
type event map[string]any

func (e event) msg() string { return e.str("msg") }

func (e event) str(key string) string {
	s, _ := e[key].(string)
	return s
}

func (e event) num(key string) int {
	f, _ := e[key].(float64)
	return int(f)
}

func (e event) list(key string) []string {
	l, _ := e[key].([]any)
	out := make([]string, 0, len(l))
	for _, v := range l {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

func (e event) String() string {
	b, _ := json.Marshal(map[string]any(e))
	return string(b)
}

// is matches events with this msg whose string fields have these values
// (kv: key, value, key, value...).
func is(msg string, kv ...string) func(event) bool {
	return func(e event) bool {
		if e.msg() != msg {
			return false
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if e.str(kv[i]) != kv[i+1] {
				return false
			}
		}
		return true
	}
}

// oneOf matches events whose msg is one of msgs.
func oneOf(msgs ...string) func(event) bool {
	return func(e event) bool {
		for _, m := range msgs {
			if e.msg() == m {
				return true
			}
		}
		return false
	}
}

// nextEvent returns the next event of the stream. It fails the test when
// the stream ends (the daemon exited) or the hang guard fires.
func nextEvent(t *testing.T, ch <-chan event, guard <-chan time.Time) event {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("event stream ended (daemon exited) before a matching event")
		}
		return e
	case <-guard:
		t.Fatalf("no matching event within %v", eventGuard)
	}
	panic("unreachable")
}

// unwanted fails the test at once on a root give-up the caller was not
// waiting for, rather than at the hang guard.
func unwanted(t *testing.T, e event) {
	t.Helper()
	if e.msg() == "root supervisor gave up" {
		t.Fatalf("unexpected: %v", e)
	}
}

// waitFor returns the next event of ch that matches, skipping the others.
// The stream is in the order things happened, so successive waitFor calls
// on one stream assert an order.
func waitFor(t *testing.T, ch <-chan event, match func(event) bool) event {
	t.Helper()
	guard := time.NewTimer(eventGuard) // hang guard, never a success condition
	defer guard.Stop()
	for {
		e := nextEvent(t, ch, guard.C)
		if match(e) {
			return e
		}
		unwanted(t, e)
	}
}

// until returns every event before the first one that matches stop (and
// that one last).
func until(t *testing.T, ch <-chan event, stop func(event) bool) []event {
	t.Helper()
	guard := time.NewTimer(eventGuard)
	defer guard.Stop()
	var out []event
	for {
		e := nextEvent(t, ch, guard.C)
		out = append(out, e)
		if stop(e) {
			return out
		}
		unwanted(t, e)
	}
}

// field returns the key's string value of each event.
func field(events []event, key string) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.str(key)
	}
	return out
}

// ---------------------------------------------------------------------
// The daemon

// daemon is one running `otpsv daemon --log-format json`.
type daemon struct {
	t      *testing.T
	cmd    *exec.Cmd
	ws     *workspace
	events <-chan event
	done   chan struct{} // closed when the process has exited
	quit   chan struct{} // closed when the test ends: stop delivering events

	mu     sync.Mutex
	stderr bytes.Buffer
	code   int // exit status, -1 if killed by a signal; set before done closes
}

// startDaemon starts `otpsv daemon --log-format json -c cfg` in a process
// group of its own. Cleanup kills that group if the test left it running.
func (w *workspace) startDaemon(cfg string) *daemon {
	w.t.Helper()
	cmd := exec.Command(otpsvBin, "daemon", "--log-format", "json", "-c", cfg)
	cmd.Dir = w.dir
	cmd.Env = testEnv()
	return w.runDaemon(cmd)
}

// runDaemon starts cmd, an `otpsv daemon --log-format json` prepared by
// the caller (as another user, say: the pid must be the daemon's, as
// setpriv's is), in a process group of its own, and reads its events.
func (w *workspace) runDaemon(cmd *exec.Cmd) *daemon {
	t := w.t
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := os.Create(filepath.Join(w.dir, fmt.Sprintf("daemon-%d.stdout", time.Now().UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	cmd.Stdout = stdout
	r, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = wr
	d := &daemon{t: t, cmd: cmd, ws: w, done: make(chan struct{}), quit: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start daemon: %v", err)
	}
	_ = wr.Close()
	d.events = d.readEvents(r)
	go func() {
		_ = cmd.Wait()
		d.mu.Lock()
		d.code = cmd.ProcessState.ExitCode()
		d.mu.Unlock()
		close(d.done)
	}()
	t.Cleanup(func() {
		defer close(d.quit)
		select {
		case <-d.done:
		default:
			t.Logf("cleanup: killing daemon group %d", cmd.Process.Pid)
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-d.done
		}
		if t.Failed() {
			t.Logf("daemon %d (%s) stderr:\n%s", cmd.Process.Pid, w.dir, d.stderrText())
		}
	})
	return d
}

// readEvents reads stderr to EOF, keeps it all, and delivers the JSON
// lines in order on an unbounded queue, so a test that does not read
// events never blocks the daemon. The channel closes at EOF.
func (d *daemon) readEvents(r io.ReadCloser) <-chan event {
	parsed := make(chan event)
	out := make(chan event)
	go func() {
		defer close(parsed)
		defer r.Close()
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadString('\n')
			if line != "" {
				d.mu.Lock()
				d.stderr.WriteString(line)
				d.mu.Unlock()
				var e event
				if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &e) == nil {
					parsed <- e
				}
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		defer close(out)
		var q []event
		in := parsed
		for in != nil || len(q) > 0 {
			var send chan event
			var head event
			if len(q) > 0 {
				send, head = out, q[0]
			}
			select {
			case e, ok := <-in:
				if !ok {
					in = nil
					continue
				}
				q = append(q, e)
			case send <- head:
				q = q[1:]
			case <-d.quit:
				// Let the reader run to EOF without a consumer.
				if in != nil {
					for range in {
					}
				}
				return
			}
		}
	}()
	return out
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

func (d *daemon) signal(sig syscall.Signal) {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatalf("signal daemon: %v", err)
	}
}

// wait waits for the daemon to exit and returns its exit status.
func (d *daemon) wait(guard time.Duration) int {
	d.t.Helper()
	timer := time.NewTimer(guard)
	defer timer.Stop()
	select {
	case <-d.done:
	case <-timer.C:
		d.t.Fatalf("daemon did not exit within %v", guard)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.code
}

// stop sends SIGTERM and requires exit status 0.
func (d *daemon) stop() {
	d.t.Helper()
	d.signal(syscall.SIGTERM)
	if code := d.wait(exitGuard); code != 0 {
		d.t.Fatalf("daemon exit status after SIGTERM = %d, want 0", code)
	}
}

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

func (d *daemon) stderrText() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stderr.String()
}

// plainStderr is the stderr lines that are not JSON log events (what the
// daemon says when it exits).
func (d *daemon) plainStderr() string {
	var out []string
	for _, l := range strings.Split(d.stderrText(), "\n") {
		if l != "" && !strings.HasPrefix(l, "{") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// ---------------------------------------------------------------------
// Ready file

// readyLine is one line a fixture appended when it became ready.
type readyLine struct {
	name      string
	pid, pgid int
}

func parseReady(path string) ([]readyLine, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []readyLine
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue // an unfinished line, or none
		}
		pid, err1 := strconv.Atoi(f[1])
		pgid, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("bad ready line %q", line)
		}
		out = append(out, readyLine{name: f[0], pid: pid, pgid: pgid})
	}
	return out, nil
}

// runs returns the ready lines of name, oldest first.
func (w *workspace) runs(name string) []readyLine {
	w.t.Helper()
	lines, err := parseReady(w.ready)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []readyLine
	for _, l := range lines {
		if l.name == name {
			out = append(out, l)
		}
	}
	return out
}

// waitReady waits for the n-th ready line of name (n from 1) and returns
// it. It fails at once if the daemon exits first.
func (d *daemon) waitReady(name string, n int) readyLine {
	d.t.Helper()
	deadline := time.Now().Add(readyGuard)
	for {
		if r := d.ws.runs(name); len(r) >= n {
			return r[n-1]
		}
		if d.exited() {
			// One last look: the line may have come just before.
			if r := d.ws.runs(name); len(r) >= n {
				return r[n-1]
			}
			d.t.Fatalf("daemon exited before ready line %d of %q", n, name)
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("no ready line %d of %q within %v; ready file has %v", n, name, readyGuard, d.ws.runs(name))
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not a success condition
	}
}

// ---------------------------------------------------------------------
// Processes

type procStat struct {
	pid, ppid, pgid int
	state           byte
}

func (p procStat) zombie() bool { return p.state == 'Z' || p.state == 'X' || p.state == 'x' }

func readStat(pid int) (procStat, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, false
	}
	// pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 3 {
		return procStat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	pgid, _ := strconv.Atoi(f[2])
	return procStat{pid: pid, ppid: ppid, pgid: pgid, state: f[0][0]}, true
}

func procTable() []procStat {
	ents, _ := os.ReadDir("/proc")
	var out []procStat
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readStat(pid); ok {
			out = append(out, p)
		}
	}
	return out
}

// groupMembers returns the live (non-zombie) processes of a process group.
func groupMembers(pgid int) []int {
	var out []int
	for _, p := range procTable() {
		if p.pgid == pgid && !p.zombie() {
			out = append(out, p.pid)
		}
	}
	return out
}

// dead reports whether pid is gone or a zombie.
func dead(pid int) bool {
	p, ok := readStat(pid)
	return !ok || p.zombie()
}

// requireGroupEmpty fails unless the process group has no live process
// (allowing reapGrace for SIGKILLs already sent to be delivered).
func requireGroupEmpty(t *testing.T, pgid int) {
	t.Helper()
	deadline := time.Now().Add(reapGrace)
	for {
		m := groupMembers(pgid)
		if len(m) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d not empty: live processes %v", pgid, m)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// requireDead fails unless pid is gone or a zombie (allowing reapGrace).
func requireDead(t *testing.T, pid int, what string) {
	t.Helper()
	deadline := time.Now().Add(reapGrace)
	for !dead(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) is still alive", what, pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// requireAlive fails if pid is gone or a zombie.
func requireAlive(t *testing.T, pid int, what string) {
	t.Helper()
	if dead(pid) {
		t.Fatalf("%s (pid %d) is dead, want it still running", what, pid)
	}
}

// requireAllDead checks every process the fixtures of this workspace
// reported: each pid dead and each process group empty.
func (w *workspace) requireAllDead() {
	w.t.Helper()
	lines, err := parseReady(w.ready)
	if err != nil {
		w.t.Fatal(err)
	}
	if len(lines) == 0 {
		w.t.Fatal("ready file is empty: no fixture ever started")
	}
	for _, l := range lines {
		requireDead(w.t, l.pid, l.name)
		requireGroupEmpty(w.t, l.pgid)
	}
}

// ---------------------------------------------------------------------
// Short verbs

type result struct {
	stdout, stderr string
	code           int
}

// otpsv runs a short verb to completion.
func otpsv(t *testing.T, dir string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandGuard)
	defer cancel()
	cmd := exec.CommandContext(ctx, otpsvBin, args...)
	cmd.Dir = dir
	cmd.Env = testEnv()
	return runShort(t, ctx, cmd, args)
}

// runShort runs cmd, a short otpsv verb with args prepared by the caller
// under ctx (as another user, say), to completion.
func runShort(t *testing.T, ctx context.Context, cmd *exec.Cmd, args []string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("otpsv %v: no exit within %v", args, commandGuard)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("otpsv %v: %v", args, err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// nodeEvents returns the events about node (its "node" or "child" field).
func nodeEvents(events []event, node string) []event {
	var out []event
	for _, e := range events {
		if e.str("node") == node || e.str("child") == node || e.str("failed") == node {
			out = append(out, e)
		}
	}
	return out
}

// only keeps the events that match.
func only(events []event, match func(event) bool) []event {
	var out []event
	for _, e := range events {
		if match(e) {
			out = append(out, e)
		}
	}
	return out
}
