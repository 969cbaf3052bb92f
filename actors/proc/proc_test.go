package proc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func sh(script string) Spec { return Spec{Argv: []string{"/bin/sh", "-c", script}} }

func waitExit(t *testing.T, p *Process) ExitStatus {
	t.Helper()
	select {
	case <-p.Done():
		return p.Status()
	case <-time.After(30 * time.Second):
		t.Fatal("process did not exit")
	}
	return ExitStatus{}
}

func TestExitStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		script string
		want   ExitStatus
		normal bool
	}{
		{"exit 0", ExitStatus{Code: 0}, true},
		{"exit 3", ExitStatus{Code: 3}, false},
		{"kill -KILL $$", ExitStatus{Code: -1, Signal: syscall.SIGKILL}, false},
		{"kill -TERM $$", ExitStatus{Code: -1, Signal: syscall.SIGTERM}, false},
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			t.Parallel()
			p, err := Start(sh(tt.script))
			if err != nil {
				t.Fatal(err)
			}
			got := waitExit(t, p)
			if got != tt.want || got.Normal() != tt.normal {
				t.Errorf("got %v (normal %v), want %v", got, got.Normal(), tt.want)
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	if _, err := Start(Spec{Argv: []string{"otpsv-no-such-program"}}); !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("got %v, want ErrNotFound", err)
	}
	if _, err := Start(Spec{Argv: []string{"/nonexistent/x"}}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want ErrNotExist", err)
	}
	if _, err := Start(Spec{}); err == nil {
		t.Error("empty argv accepted")
	}
}

func TestOwnProcessGroup(t *testing.T) {
	t.Parallel()
	p, err := Start(Spec{Argv: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Stop(context.Background(), syscall.SIGKILL, 0, nil) }()
	pgid, err := syscall.Getpgid(p.Pid)
	if err != nil || pgid != p.Pid {
		t.Fatalf("pgid got %d (%v), want %d", pgid, err, p.Pid)
	}
}

func TestOutputAppendsToFile(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "logs", "w.log")
	for _, word := range []string{"one", "two"} {
		spec := sh("echo " + word + "; echo " + word + "-err >&2")
		spec.Stdout, spec.Stderr = Output{Path: log}, Output{Path: log}
		p, err := Start(spec)
		if err != nil {
			t.Fatal(err)
		}
		waitExit(t, p)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "one\none-err\ntwo\ntwo-err\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// readPids waits until file holds n pids, one per line.
func readPids(t *testing.T, file string, n int) []int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(file)
		fields := strings.Fields(string(b))
		if len(fields) >= n {
			var pids []int
			for _, f := range fields[:n] {
				p, _ := strconv.Atoi(f)
				pids = append(pids, p)
			}
			return pids
		}
		time.Sleep(5 * time.Millisecond) // polling a file the child writes; not a success condition
	}
	t.Fatalf("%s: fewer than %d pids", file, n)
	return nil
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	rest := s[strings.LastIndexByte(s, ')')+2:]
	return !strings.HasPrefix(rest, "Z")
}

func TestStopKillsGroupAfterGrace(t *testing.T) {
	t.Parallel()
	pids := filepath.Join(t.TempDir(), "pids")
	// The leader and a grandchild both ignore TERM: only SIGKILL to the
	// group ends them.
	p, err := Start(sh(`trap '' TERM; sh -c 'trap "" TERM; echo $$ >>` + pids + `; exec sleep 600' & echo $$ >>` + pids + `; wait`))
	if err != nil {
		t.Fatal(err)
	}
	got := readPids(t, pids, 2)
	start := time.Now()
	if err := p.Stop(context.Background(), syscall.SIGTERM, 300*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 300*time.Millisecond {
		t.Errorf("stopped before the grace period: TERM was not ignored?")
	}
	for _, pid := range got {
		if alive(pid) {
			t.Errorf("pid %d survived", pid)
		}
	}
	if p.GroupAlive() {
		t.Error("group not empty")
	}
	if st := p.Status(); st.Signal != syscall.SIGKILL {
		t.Errorf("leader status got %v, want SIGKILL", st)
	}
}

func TestStopHurry(t *testing.T) {
	t.Parallel()
	p, err := Start(sh(`trap '' TERM; while :; do sleep 1; done`))
	if err != nil {
		t.Fatal(err)
	}
	hurry := make(chan struct{})
	close(hurry)
	done := make(chan error, 1)
	go func() { done <- p.Stop(context.Background(), syscall.SIGTERM, time.Hour, hurry) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("hurry did not cut the grace period")
	}
}

func TestStopCleansGroupOfExitedLeader(t *testing.T) {
	t.Parallel()
	pids := filepath.Join(t.TempDir(), "pids")
	p, err := Start(sh(`sh -c 'echo $$ >>` + pids + `; exec sleep 600' & sleep 0.05; exit 1`))
	if err != nil {
		t.Fatal(err)
	}
	got := readPids(t, pids, 1)
	if st := waitExit(t, p); st.Code != 1 {
		t.Fatalf("got %v", st)
	}
	if !alive(got[0]) {
		t.Fatal("grandchild should still be alive before Stop")
	}
	if err := p.Stop(context.Background(), syscall.SIGTERM, 10*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	// The grandchild was orphaned to init (or a subreaper), not to us:
	// it may linger as a zombie until its new parent reaps it.
	if alive(got[0]) {
		t.Errorf("grandchild %d survived", got[0])
	}
}
