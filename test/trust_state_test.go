package test

import (
	"bufio"
	"bytes"
	"context"
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

// Black-box tests of the state_dir's lock as operators meet it: monitoring
// checks reading the saved state while a daemon starts on the same
// state_dir, as root and as an ordinary user.

// tsWorkspace runs otpsv and the fixture from copies of their binaries in
// a directory of its own, as root or, through setpriv, as uid 65534: an
// ordinary user can neither reach the test's temp dirs nor the binaries
// TestMain built.
type tsWorkspace struct {
	t        *testing.T
	dir      string
	stateDir string
	ready    string
	otpsv    string
	fixture  string
	asUser   []string // setpriv and its arguments, or nil to run as ourselves
}

const tsUID = 65534

func newTSWorkspace(t *testing.T, unprivileged bool) *tsWorkspace {
	t.Helper()
	var asUser []string
	if unprivileged {
		if os.Getuid() != 0 {
			t.Skip("needs root to run otpsv as another uid")
		}
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			t.Skip("needs setpriv")
		}
		asUser = []string{setpriv, fmt.Sprintf("--reuid=%d", tsUID), fmt.Sprintf("--regid=%d", tsUID), "--clear-groups"}
	}
	// Not t.TempDir(): its parents are not searchable by other users.
	dir, err := os.MkdirTemp("", "otpsv-trust-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w := &tsWorkspace{t: t, dir: dir, stateDir: filepath.Join(dir, "state"), ready: filepath.Join(dir, "ready"),
		otpsv: filepath.Join(dir, "otpsv"), fixture: filepath.Join(dir, "fixture"), asUser: asUser}
	for from, to := range map[string]string{otpsvBin: w.otpsv, fixtureBin: w.fixture} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if unprivileged {
		if err := os.Chown(dir, tsUID, tsUID); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(w.killFixtures)
	return w
}

// config writes a tree of two fixture workers on this workspace's
// state_dir and returns its path.
func (w *tsWorkspace) config() string {
	w.t.Helper()
	quote := func(name string) string {
		return fmt.Sprintf("[%s, \"-name\", %q, \"-ready\", %s]", strconv.Quote(w.fixture), name, strconv.Quote(w.ready))
	}
	doc := fmt.Sprintf(`settings:
  state_dir: %s
tree:
  name: site
  children:
    - name: a
      command: %s
    - name: b
      command: %s
`, strconv.Quote(w.stateDir), quote("a"), quote("b"))
	path := filepath.Join(w.dir, "otpsv.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return path
}

// command builds an otpsv command line, run as the workspace's user.
func (w *tsWorkspace) command(ctx context.Context, args ...string) *exec.Cmd {
	argv := append(append(append([]string(nil), w.asUser...), w.otpsv), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = w.dir
	cmd.Env = testEnv()
	return cmd
}

// run runs a short verb to completion.
func (w *tsWorkspace) run(args ...string) result {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandGuard)
	defer cancel()
	cmd := w.command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		return result{stdout: stdout.String(), stderr: fmt.Sprintf("no exit within %v\n%s", commandGuard, stderr.String()), code: -1}
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return result{stderr: err.Error(), code: -1}
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// tsDaemon is one `otpsv daemon` run.
type tsDaemon struct {
	cmd     *exec.Cmd
	started chan struct{} // closed at its "daemon started" log line
	done    chan struct{} // closed when it has exited; code is set then
	code    int
	mu      sync.Mutex
	stderr  bytes.Buffer
}

// startDaemon starts a daemon in a process group of its own; the group is
// killed at cleanup if the test left it running.
func (w *tsWorkspace) startDaemon(cfg string) *tsDaemon {
	t := w.t
	t.Helper()
	cmd := w.command(context.Background(), "daemon", "--log-format", "json", "-c", cfg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	d := &tsDaemon{cmd: cmd, started: make(chan struct{}), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start daemon: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(r)
		seen := false
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.stderr.WriteString(line + "\n")
			d.mu.Unlock()
			if !seen && strings.Contains(line, `"msg":"daemon started"`) {
				seen = true
				close(d.started)
			}
		}
		_, _ = io.Copy(io.Discard, r)
		_ = cmd.Wait()
		d.code = cmd.ProcessState.ExitCode()
		close(d.done)
	}()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-d.done
		}
	})
	return d
}

func (d *tsDaemon) stderrText() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stderr.String()
}

// waitStarted waits until the daemon says it started (its socket
// listens) and returns true, or until it exits and returns false.
func (d *tsDaemon) waitStarted(t *testing.T) bool {
	t.Helper()
	guard := time.NewTimer(eventGuard)
	defer guard.Stop()
	select {
	case <-d.started:
		return true
	case <-d.done:
		return false
	case <-guard.C:
		// Its goroutines on stderr, to see where it hangs.
		_ = d.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-d.done:
		case <-time.After(5 * time.Second):
		}
		t.Fatalf("daemon neither started nor exited within %v; stderr:\n%s", eventGuard, d.stderrText())
		return false
	}
}

// stop sends SIGTERM and returns the exit status.
func (d *tsDaemon) stop(t *testing.T) int {
	t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	guard := time.NewTimer(exitGuard)
	defer guard.Stop()
	select {
	case <-d.done:
		return d.code
	case <-guard.C:
		t.Fatalf("daemon did not exit within %v of SIGTERM", exitGuard)
		return -1
	}
}

// waitRuns waits until the ready file holds n lines for each of names.
func (w *tsWorkspace) waitRuns(n int, names ...string) {
	w.t.Helper()
	deadline := time.Now().Add(readyGuard)
	for {
		lines, err := parseReady(w.ready)
		if err != nil {
			w.t.Fatal(err)
		}
		count := map[string]int{}
		for _, l := range lines {
			count[l.name]++
		}
		ok := true
		for _, name := range names {
			ok = ok && count[name] >= n
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("ready lines %v, want %d of each of %v", count, n, names)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// killFixtures kills the fixture processes of this workspace still alive:
// those named in its ready file whose executable is its fixture copy.
func (w *tsWorkspace) killFixtures() {
	lines, _ := parseReady(w.ready)
	for _, l := range lines {
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", l.pid)); err == nil && exe == w.fixture {
			_ = syscall.Kill(l.pid, syscall.SIGKILL)
		}
	}
}

// TestDaemonStartsWhileChecking: with saved state and `otpsv check`
// polled in a tight loop on the same state_dir (NRPE during a reboot),
// every daemon start succeeds, and the check reports the daemon's tree or
// the saved one: never "held by another otpsv", never CRITICAL, never
// UNKNOWN (there is saved state throughout).
func TestDaemonStartsWhileChecking(t *testing.T) {
	begin(t)
	testDaemonStartsWhileChecking(t, false)
}

// TestDaemonStartsWhileCheckingUnprivileged is the same as uid 65534.
func TestDaemonStartsWhileCheckingUnprivileged(t *testing.T) {
	begin(t)
	testDaemonStartsWhileChecking(t, true)
}

func testDaemonStartsWhileChecking(t *testing.T, unprivileged bool) {
	ws := newTSWorkspace(t, unprivileged)
	cfg := ws.config()
	const starts = 10

	// Saved state to begin with: one daemon run, stopped.
	d := ws.startDaemon(cfg)
	if !d.waitStarted(t) {
		t.Fatalf("first daemon exited with status %d; stderr:\n%s", d.code, d.stderrText())
	}
	ws.waitRuns(1, "a", "b")
	if code := d.stop(t); code != 0 {
		t.Fatalf("first daemon: exit status %d after SIGTERM, want 0; stderr:\n%s", code, d.stderrText())
	}

	var (
		mu      sync.Mutex
		checks  []result
		stop    = make(chan struct{})
		stopped = make(chan struct{})
	)
	go func() {
		defer close(stopped)
		// Bounded in count as well as by the test's own end.
		for range 5000 {
			select {
			case <-stop:
				return
			default:
			}
			r := ws.run("check", "-c", cfg)
			mu.Lock()
			checks = append(checks, r)
			mu.Unlock()
		}
	}()
	for i := range starts {
		d := ws.startDaemon(cfg)
		if !d.waitStarted(t) {
			close(stop)
			<-stopped
			t.Fatalf("start %d: daemon exited with status %d instead of starting; stderr:\n%s", i+1, d.code, d.stderrText())
		}
		ws.waitRuns(i+2, "a", "b")
		if code := d.stop(t); code != 0 {
			t.Errorf("start %d: exit status %d after SIGTERM, want 0; stderr:\n%s", i+1, code, d.stderrText())
		}
	}
	close(stop)
	<-stopped

	mu.Lock()
	defer mu.Unlock()
	if len(checks) < starts {
		t.Errorf("only %d checks ran during %d daemon starts", len(checks), starts)
	}
	counts := map[int]int{}
	for _, r := range checks {
		counts[r.code]++
		word := strings.SplitN(r.stdout, " ", 2)[0]
		if (r.code != 0 || word != "OK") && (r.code != 1 || word != "WARNING") {
			if counts[r.code] <= 3 { // the first few of each kind
				t.Errorf("check: exit status %d, want 0 (OK) or 1 (WARNING)\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
		}
	}
	t.Logf("%d checks during %d daemon starts, by exit status: %v", len(checks), starts, counts)
}
