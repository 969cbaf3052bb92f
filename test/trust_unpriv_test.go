package test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// nobody is the uid and gid the unprivileged daemons run as.
const nobody = 65534

// TestUnprivilegedConcurrentStart: several daemons of an ordinary user
// start at once, each with process workers logging to the default files
// under state_dir/logs. Every start must succeed with the documented modes
// (logs dir 0700, log files 0640, socket 0600, less the umask for the
// first two): a daemon that changes its process-wide umask while a worker
// creates its log directory gets drw------- and every worker fails.
func TestUnprivilegedConcurrentStart(t *testing.T) {
	begin(t)
	u := newUnprivBase(t)
	umask := processUmask(t)
	const (
		daemons = 4
		rounds  = 8
		workers = 4
	)
	for round := range rounds {
		var ws []*workspace
		var ds []*daemon
		for i := range daemons {
			w := u.workspace(fmt.Sprintf("r%dd%d", round, i))
			var tree strings.Builder
			tree.WriteString("tree:\n  name: site\n  strategy: one_for_one\n  intensity: 0\n  children:\n")
			for j := range workers {
				name := fmt.Sprintf("w%d", j)
				fmt.Fprintf(&tree, "    - name: %s\n      command: %s\n", name, u.cmd(w, name, "-log-line", "hello from "+name))
			}
			ws = append(ws, w)
			ds = append(ds, u.startDaemon(w, w.config(tree.String())))
		}
		for i, d := range ds {
			w := ws[i]
			ctlWaitAll(t, d.events, is("tree started"), is("daemon started"))
			for j := range workers {
				r := d.waitReady(fmt.Sprintf("w%d", j), 1)
				requireAlive(t, r.pid, fmt.Sprintf("round %d daemon %d worker w%d", round, i, j))
			}
			logs := filepath.Join(w.stateDir, "logs")
			requireMode(t, logs, os.ModeDir|0o700&^umask)
			for j := range workers {
				file := filepath.Join(logs, fmt.Sprintf("site_w%d.log", j))
				requireMode(t, file, 0o640&^umask)
				if b, err := os.ReadFile(file); err != nil || !strings.Contains(string(b), fmt.Sprintf("out: hello from w%d", j)) {
					t.Errorf("%s: %q, %v; want the worker's line", file, b, err)
				}
			}
			requireMode(t, filepath.Join(w.stateDir, "otpsv.sock"), os.ModeSocket|0o600)
			requireOwner(t, filepath.Join(w.stateDir, "otpsv.sock"), nobody)
		}
		if t.Failed() {
			t.FailNow()
		}
		for _, d := range ds {
			d.signal(syscall.SIGTERM)
		}
		for i, d := range ds {
			if code := d.wait(exitGuard); code != 0 {
				t.Fatalf("round %d daemon %d: exit status after SIGTERM = %d, want 0", round, i, code)
			}
			ws[i].requireAllDead()
			if _, err := os.Lstat(filepath.Join(ws[i].stateDir, "otpsv.sock")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("round %d daemon %d: socket left after exit (%v)", round, i, err)
			}
		}
	}
}

// unprivBase is a directory every user can search, holding copies of the
// binaries under test: the ones TestMain built sit in a 0700 root dir.
type unprivBase struct {
	t        *testing.T
	dir      string
	otpsv    string
	fixture  string
	setpriv  string
	workDirs []string
}

func newUnprivBase(t *testing.T) *unprivBase {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root to run daemons as another uid")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv")
	}
	dir, err := os.MkdirTemp("", "otpsv-unpriv-")
	if err != nil {
		t.Fatal(err)
	}
	u := &unprivBase{t: t, dir: dir, setpriv: setpriv,
		otpsv: filepath.Join(dir, "otpsv"), fixture: filepath.Join(dir, "fixture")}
	t.Cleanup(func() {
		u.killLeftovers()
		_ = os.RemoveAll(dir)
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range []struct{ from, to string }{{otpsvBin, u.otpsv}, {fixtureBin, u.fixture}} {
		if err := copyExecutable(b.from, b.to); err != nil {
			t.Fatal(err)
		}
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm()&0o001 == 0 {
			t.Skipf("%s is not searchable by other users", d)
		}
		if d == "/" {
			break
		}
	}
	return u
}

func copyExecutable(from, to string) error {
	if err := os.Link(from, to); err == nil {
		return os.Chmod(to, 0o755)
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// workspace makes a directory owned by nobody for one daemon.
func (u *unprivBase) workspace(name string) *workspace {
	u.t.Helper()
	dir := filepath.Join(u.dir, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		u.t.Fatal(err)
	}
	if err := os.Chown(dir, nobody, nobody); err != nil {
		u.t.Fatal(err)
	}
	u.workDirs = append(u.workDirs, dir)
	return &workspace{t: u.t, dir: dir, stateDir: filepath.Join(dir, "state"), ready: filepath.Join(dir, "ready")}
}

// cmd is workspace.cmd with the fixture copy nobody can run.
func (u *unprivBase) cmd(w *workspace, name string, args ...string) string {
	argv := append([]string{u.fixture, "-name", name, "-ready", w.ready}, args...)
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// startDaemon is workspace.startDaemon run as nobody through setpriv
// (which execs otpsv: the pid is the daemon's).
func (u *unprivBase) startDaemon(w *workspace, cfg string) *daemon {
	u.t.Helper()
	cmd := exec.Command(u.setpriv, fmt.Sprintf("--reuid=%d", nobody), fmt.Sprintf("--regid=%d", nobody), "--clear-groups",
		u.otpsv, "daemon", "--log-format", "json", "-c", cfg)
	cmd.Dir = w.dir
	cmd.Env = testEnv()
	return w.runDaemon(cmd)
}

// killLeftovers kills the fixture processes of these workspaces still
// alive, by the process groups of their ready files.
func (u *unprivBase) killLeftovers() {
	groups := map[int]bool{}
	for _, dir := range u.workDirs {
		lines, _ := parseReady(filepath.Join(dir, "ready"))
		for _, l := range lines {
			groups[l.pgid] = true
		}
	}
	for _, p := range procTable() {
		if !groups[p.pgid] || p.zombie() {
			continue
		}
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.pid)); err == nil && exe == u.fixture {
			u.t.Logf("cleanup: killing leftover fixture process %d (group %d)", p.pid, p.pgid)
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
}

// processUmask reads this process's umask from /proc (setting it to read
// it would change it for every goroutine).
func processUmask(t *testing.T) os.FileMode {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Umask:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			if err != nil {
				t.Fatal(err)
			}
			return os.FileMode(m)
		}
	}
	t.Fatal("no Umask in /proc/self/status")
	return 0
}

// requireMode fails unless path has this type and these permissions.
func requireMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	if got := fi.Mode() & (os.ModeType | os.ModePerm); got != want {
		t.Errorf("%s: mode %v, want %v", path, got, want)
	}
}

// requireOwner fails unless path belongs to uid.
func requireOwner(t *testing.T, path string, uid int) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != uid {
		t.Errorf("%s: owner %v, want uid %d", path, fi.Sys(), uid)
	}
}
