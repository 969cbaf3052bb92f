package proc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// script writes body to an executable /bin/sh script in dir.
func script(t *testing.T, dir, body string) string {
	t.Helper()
	path := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// killPid kills a process the test started but is not the parent of,
// checking its start time so a reused pid is not hit.
func killPid(t *testing.T, pid int) {
	t.Helper()
	pi, err := LookupProcess(pid)
	if err != nil {
		return
	}
	if err := SignalProcesses(context.Background(), []ProcInfo{pi}, syscall.SIGKILL, 0, nil); err != nil {
		t.Errorf("kill %d: %v", pid, err)
	}
}

func TestRunExitCodes(t *testing.T) {
	t.Parallel()
	for _, code := range []string{"0", "3", "4"} {
		t.Run(code, func(t *testing.T) {
			t.Parallel()
			res := Run(t.Context(), Command{Argv: []string{"/bin/sh", "-c", "echo out; echo err >&2; exit " + code}, Timeout: time.Minute})
			if res.Err != nil || res.TimedOut {
				t.Fatalf("got err %v, timed out %v", res.Err, res.TimedOut)
			}
			if got := res.Status.String(); got != "exit "+code {
				t.Errorf("got %v, want exit status %s", got, code)
			}
			if res.Output != "out\nerr\n" {
				t.Errorf("output got %q, want %q", res.Output, "out\nerr\n")
			}
			if res.Duration <= 0 || res.Duration > time.Minute {
				t.Errorf("duration got %v", res.Duration)
			}
		})
	}
}

func TestRunOutputTruncated(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, script string
		max          int
		want         string
	}{
		{"short", "printf 0123456789", 10, "0123456789"},
		{"cut", "printf 0123456789abc", 10, "0123456789…[truncated 3 bytes]"},
		{"utf8", "printf 'ééé'", 3, "é…[truncated 4 bytes]"},
		// Far more than a pipe holds: it must be read while the command runs.
		{"default", "head -c 1000000 /dev/zero | tr '\\0' a", 0, strings.Repeat("a", DefaultMaxOutput) + "…[truncated 995904 bytes]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := Run(t.Context(), Command{Argv: []string{"/bin/sh", "-c", tt.script}, MaxOutput: tt.max, Timeout: time.Minute})
			if res.Err != nil || !res.Status.Normal() {
				t.Fatalf("got %v, %v", res.Status, res.Err)
			}
			if res.Output != tt.want {
				t.Errorf("got %q, want %q", res.Output, tt.want)
			}
		})
	}
}

func TestRunStartErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		argv []string
		want error
	}{
		{[]string{"otpsv-no-such-program"}, exec.ErrNotFound},
		{[]string{"/nonexistent/x"}, os.ErrNotExist},
		{[]string{"/etc/passwd"}, os.ErrPermission},
	}
	for _, tt := range tests {
		res := Run(t.Context(), Command{Argv: tt.argv, Env: CleanEnv(""), Timeout: time.Minute})
		if !errors.Is(res.Err, tt.want) {
			t.Errorf("%v: got %v, want %v", tt.argv, res.Err, tt.want)
		}
	}
	if res := Run(t.Context(), Command{}); res.Err == nil {
		t.Error("empty argv accepted")
	}
}

func TestRunTimeoutKillsGroup(t *testing.T) {
	t.Parallel()
	for _, detach := range []bool{false, true} {
		name := map[bool]string{false: "group", true: "detached"}[detach]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pids := filepath.Join(t.TempDir(), "pids")
			// A grandchild that ignores TERM: only SIGKILL after the grace
			// period ends it.
			s := script(t, t.TempDir(), `sh -c 'trap "" TERM; echo $$ >>`+pids+`; exec sleep 600' &
echo $$ >>`+pids+`
wait`)
			res := Run(t.Context(), Command{Argv: []string{s}, Timeout: time.Second, Detach: detach})
			got := readPids(t, pids, 2)
			if !res.TimedOut || res.Err != nil {
				t.Fatalf("got timed out %v, err %v; want a timeout", res.TimedOut, res.Err)
			}
			if res.Status.Signal != syscall.SIGTERM {
				t.Errorf("status got %v, want killed by TERM", res.Status)
			}
			if res.Duration < time.Second+runGrace {
				t.Errorf("duration %v: returned before the grace period ended", res.Duration)
			}
			for _, pid := range got {
				if alive(pid) {
					t.Errorf("pid %d survived", pid)
					killPid(t, pid)
				}
			}
		})
	}
}

func TestRunContextDeadlineIsTimeout(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	res := Run(ctx, Command{Argv: []string{"sleep", "600"}})
	if !res.TimedOut || res.Err != nil || res.Status.Signal != syscall.SIGTERM {
		t.Errorf("got timed out %v, err %v, status %v", res.TimedOut, res.Err, res.Status)
	}
}

func TestRunCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	done := make(chan Result, 1)
	go func() {
		done <- Run(ctx, Command{Argv: []string{script(t, dir, "echo $$ >"+ready+"; exec sleep 600")}})
	}()
	pid := readPids(t, ready, 1)[0]
	cancel()
	select {
	case res := <-done:
		if !errors.Is(res.Err, context.Canceled) || res.TimedOut {
			t.Errorf("got err %v, timed out %v; want context.Canceled", res.Err, res.TimedOut)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after cancel")
	}
	if alive(pid) {
		t.Errorf("pid %d survived", pid)
	}
}

// A status script that leaves a background process in its group: the
// process is killed, and Run does not wait for it (it holds the pipe).
func TestRunKillsLeftovers(t *testing.T) {
	t.Parallel()
	pidfile := filepath.Join(t.TempDir(), "pid")
	res := Run(t.Context(), Command{
		Argv:    []string{"/bin/sh", "-c", "sleep 600 & echo $! >" + pidfile + "; echo running; exit 0"},
		Timeout: time.Minute,
	})
	if res.Err != nil || res.TimedOut || !res.Status.Normal() || res.Output != "running\n" {
		t.Fatalf("got %+v", res)
	}
	pid := readPids(t, pidfile, 1)[0]
	if alive(pid) {
		t.Errorf("background pid %d survived Run", pid)
		killPid(t, pid)
	}
}

// A daemonizing start: the daemon keeps the output pipe open, yet Run
// returns when the start command exits, and the daemon lives on.
func TestRunDetachLeavesDaemon(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"background": "sleep 600 & echo $! >%s; echo started",
		"setsid":     "setsid sleep 600 & echo $! >%s; echo started",
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			pidfile := filepath.Join(dir, "pid")
			const timeout = time.Minute
			start := time.Now()
			res := Run(t.Context(), Command{Argv: []string{script(t, dir, strings.Replace(body, "%s", pidfile, 1))}, Timeout: timeout, Detach: true})
			pid := readPids(t, pidfile, 1)[0]
			t.Cleanup(func() { killPid(t, pid) })
			if res.Err != nil || res.TimedOut || !res.Status.Normal() {
				t.Fatalf("got %+v", res)
			}
			if elapsed := time.Since(start); elapsed >= timeout/2 {
				t.Errorf("Run took %v: waited for the daemon's end of the pipe?", elapsed)
			}
			if res.Output != "started\n" {
				t.Errorf("output got %q, want %q", res.Output, "started\n")
			}
			pi, err := LookupProcess(pid)
			if err != nil || pi.State == 'Z' {
				t.Fatalf("daemon %d gone: %v %c", pid, err, pi.State)
			}
			if pi.Sid == os.Getpid() || pi.Sid == mustSid(t) {
				t.Errorf("daemon in otpsv's session %d", pi.Sid)
			}
		})
	}
}

func mustSid(t *testing.T) int {
	t.Helper()
	self, err := LookupProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	return self.Sid
}

// A detached start that fails leaves nothing of its own behind.
func TestRunDetachFailedStartCleansGroup(t *testing.T) {
	t.Parallel()
	pidfile := filepath.Join(t.TempDir(), "pid")
	res := Run(t.Context(), Command{Argv: []string{"/bin/sh", "-c", "sleep 600 & echo $! >" + pidfile + "; exit 1"}, Timeout: time.Minute, Detach: true})
	if res.Status.Code != 1 || res.Err != nil {
		t.Fatalf("got %+v", res)
	}
	if pid := readPids(t, pidfile, 1)[0]; alive(pid) {
		t.Errorf("pid %d of a failed start survived", pid)
		killPid(t, pid)
	}
}

func TestCleanEnv(t *testing.T) {
	t.Setenv("LANG", "C.UTF-8")
	t.Setenv("HOME", "/home/x")
	t.Setenv("OTPSV_TEST_LEAK", "1")
	keys := func(env []string) []string {
		var ks []string
		for _, kv := range env {
			k, _, _ := strings.Cut(kv, "=")
			ks = append(ks, k)
		}
		return ks
	}
	env := CleanEnv("")
	if env[0] != "PATH="+DefaultPath {
		t.Errorf("got %s, want the default PATH", env[0])
	}
	for _, k := range keys(env) {
		if !slices.Contains([]string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TERM"}, k) {
			t.Errorf("unexpected %s in %v", k, env)
		}
	}
	for _, want := range []string{"HOME=/home/x", "LANG=C.UTF-8", "TERM=dumb"} {
		if !slices.Contains(env, want) {
			t.Errorf("%s missing from %v", want, env)
		}
	}
	if _, set := os.LookupEnv("LC_ALL"); !set && slices.Contains(keys(env), "LC_ALL") {
		t.Errorf("LC_ALL set though otpsv has none: %v", env)
	}

	// What a command sees.
	res := Run(t.Context(), Command{Argv: []string{"env"}, Env: CleanEnv("/usr/bin:/bin"), Timeout: time.Minute})
	got := strings.Fields(res.Output)
	if res.Err != nil || !slices.Contains(got, "PATH=/usr/bin:/bin") || slices.Contains(keys(got), "OTPSV_TEST_LEAK") {
		t.Errorf("env printed %q (%v)", res.Output, res.Err)
	}
}

func BenchmarkRun(b *testing.B) {
	cmd := Command{Argv: []string{"/bin/true"}, Env: CleanEnv(""), Timeout: time.Minute}
	for b.Loop() {
		if res := Run(context.Background(), cmd); res.Err != nil || !res.Status.Normal() {
			b.Fatalf("got %+v", res)
		}
	}
}
