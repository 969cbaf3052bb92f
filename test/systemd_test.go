package test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SPEC §10: `otpsv daemon` under systemd with Type=notify. A fake service
// manager listens on NOTIFY_SOCKET.
func TestSystemdNotify(t *testing.T) {
	begin(t)
	w := newWorkspace(t)
	sock := filepath.Join(w.dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	envFile := filepath.Join(w.dir, "worker.env")
	cfg := w.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: a
      command: %s
    - name: envdump
      command: [sh, -c, "env > %s.tmp && mv %s.tmp %s; exec sleep 1000"]
`, w.cmd("a"), envFile, envFile, envFile))
	cmd := exec.Command(otpsvBin, "daemon", "--log-format", "json", "-c", cfg)
	cmd.Dir = w.dir
	cmd.Env = append(testEnv(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=200000")
	d := w.runDaemon(cmd)
	next := func(what string, match func(string) bool) string {
		t.Helper()
		deadline := time.After(readyGuard)
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatalf("notify socket closed before %s", what)
				}
				if match(m) {
					return m
				}
			case <-deadline:
				t.Fatalf("no %s within %v", what, readyGuard)
			}
		}
	}
	ready := next("READY=1", func(m string) bool { return strings.Contains(m, "READY=1") })
	if !strings.Contains(ready, "STATUS=2 workers: all running") {
		t.Errorf("READY=1 came with %q, want STATUS=2 workers: all running", ready)
	}
	for i := 0; i < 3; i++ {
		next("WATCHDOG=1", func(m string) bool { return m == "WATCHDOG=1" })
	}
	a := d.waitReady("a", 1)
	// The workers do not inherit otpsv's notify socket or watchdog.
	env := waitFile(t, envFile, readyGuard)
	for _, v := range []string{"NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID="} {
		if strings.Contains(env, "\n"+v) || strings.HasPrefix(env, v) {
			t.Errorf("a worker inherited %s...", v)
		}
	}
	// A change of the tree is told as STATUS=; a restart that changes
	// nothing in the end may not be.
	if err := killPid(a.pid); err != nil {
		t.Fatal(err)
	}
	d.waitReady("a", 2)
	if r := otpsv(t, w.dir, "stop", "-c", cfg, "site/envdump"); r.code != 0 {
		t.Fatalf("otpsv stop: %d %s", r.code, r.stderr)
	}
	next("STATUS= after an operator's stop", func(m string) bool { return m == "STATUS=2 workers: 1 stopped, 1 running" })
	d.stop()
	next("STOPPING=1", func(m string) bool { return strings.Contains(m, "STOPPING=1") })
}

func killPid(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

// TestSystemdUnits: the units in contrib/systemd pass `systemd-analyze
// verify` (with the binary under test in place of /usr/bin/otpsv, and
// without the man page, which only an installed package has).
func TestSystemdUnits(t *testing.T) {
	begin(t)
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("needs systemd-analyze")
	}
	units, _ := filepath.Glob(filepath.Join("..", "contrib", "systemd", "*.service"))
	if len(units) < 2 {
		t.Fatalf("units in contrib/systemd: %v, want the system and the user one", units)
	}
	dir := t.TempDir()
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		var keep []string
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(l, "Documentation=") {
				keep = append(keep, strings.ReplaceAll(l, "/usr/bin/otpsv", otpsvBin))
			}
		}
		path := filepath.Join(dir, filepath.Base(u))
		if err := os.WriteFile(path, []byte(strings.Join(keep, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		// The user unit too is checked in system mode: a user manager
		// is not running here, and its specifiers resolve either way.
		args := []string{"verify", path}
		if out, err := exec.Command(analyze, args...).CombinedOutput(); err != nil {
			t.Errorf("systemd-analyze %v: %v\n%s", args, err, out)
		}
	}
}

// TestSystemdNotifyUnprivileged: the same protocol from a daemon run by
// an ordinary user (systemctl --user).
func TestSystemdNotifyUnprivileged(t *testing.T) {
	begin(t)
	u := newUnprivBase(t)
	w := u.workspace("sd")
	sock := filepath.Join(w.dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := os.Chmod(sock, 0o777); err != nil { // the daemon's user sends to it
		t.Fatal(err)
	}
	got := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(got)
				return
			}
			got <- string(buf[:n])
		}
	}()
	cfg := w.config(fmt.Sprintf("tree:\n  name: site\n  children:\n    - name: a\n      command: %s\n", u.cmd(w, "a")))
	cmd := exec.Command(u.setpriv, fmt.Sprintf("--reuid=%d", nobody), fmt.Sprintf("--regid=%d", nobody), "--clear-groups",
		u.otpsv, "daemon", "--log-format", "json", "-c", cfg)
	cmd.Dir = w.dir
	cmd.Env = append(testEnv(), "NOTIFY_SOCKET="+sock)
	d := w.runDaemon(cmd)
	wait := func(what string) {
		t.Helper()
		deadline := time.After(readyGuard)
		for {
			select {
			case m, ok := <-got:
				if !ok {
					t.Fatalf("socket closed before %s", what)
				}
				if strings.Contains(m, what) {
					return
				}
			case <-deadline:
				t.Fatalf("no %s within %v", what, readyGuard)
			}
		}
	}
	wait("READY=1")
	d.stop()
	wait("STOPPING=1")
}
