package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	t.Parallel()
	// Fields 3..22 after the name; flags (9) = 4194560, starttime (22) = 98765.
	tail := " S 1 42 43 0 -1 4194560 1 0 0 0 5 6 0 0 20 0 1 0 98765 100 200 18446744073709551615 0 0 0\n"
	tests := []struct {
		name, stat string
		want       ProcInfo
		flags      uint64
		bad        bool
	}{
		{name: "plain", stat: "1234 (sleep)" + tail,
			want: ProcInfo{Pid: 1234, PPid: 1, Pgid: 42, Sid: 43, State: 'S', StartTime: 98765, Comm: "sleep"}, flags: 4194560},
		{name: "spaces", stat: "7 (my daemon)" + tail,
			want: ProcInfo{Pid: 7, PPid: 1, Pgid: 42, Sid: 43, State: 'S', StartTime: 98765, Comm: "my daemon"}, flags: 4194560},
		{name: "parens", stat: "8 (a) (b) Z 9 9)" + tail,
			want: ProcInfo{Pid: 8, PPid: 1, Pgid: 42, Sid: 43, State: 'S', StartTime: 98765, Comm: "a) (b) Z 9 9"}, flags: 4194560},
		{name: "zombie", stat: "9 (x) Z 1 9 9 0 -1 4194636 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 0",
			want: ProcInfo{Pid: 9, PPid: 1, Pgid: 9, Sid: 9, State: 'Z', StartTime: 5, Comm: "x"}, flags: 4194636},
		{name: "empty comm", stat: "10 ()" + tail,
			want: ProcInfo{Pid: 10, PPid: 1, Pgid: 42, Sid: 43, State: 'S', StartTime: 98765}, flags: 4194560},
		{name: "no parens", stat: "11 sleep S 1 2 3", bad: true},
		{name: "short", stat: "12 (x) S 1 2 3 0 -1 0", bad: true},
		{name: "bad pid", stat: "x1 (x)" + tail, bad: true},
		{name: "bad ppid", stat: "13 (x) S -1 42 43 0 -1 0 1 0 0 0 5 6 0 0 20 0 1 0 98765", bad: true},
		{name: "empty", stat: "", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, flags, err := parseStat([]byte(tt.stat))
			if tt.bad {
				if err == nil {
					t.Errorf("got %+v, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want || flags != tt.flags {
				t.Errorf("got %+v, flags %d, %v; want %+v, flags %d", got, flags, err, tt.want, tt.flags)
			}
		})
	}
}

func TestJoinArgv(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"sleep\x00600\x00":          "sleep 600",
		"a b\x00c\x00":              "a b c",
		"title set by proc\x00\x00": "title set by proc",
		"":                          "",
	} {
		if got := joinArgv([]byte(in)); got != want {
			t.Errorf("joinArgv(%q) got %q, want %q", in, got, want)
		}
	}
}

func TestScanProcesses(t *testing.T) {
	t.Parallel()
	procs, err := ScanProcesses()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(procs, func(p ProcInfo) bool { return p.Pid == os.Getpid() })
	if i < 0 {
		t.Fatal("own process missing")
	}
	self := procs[i]
	if self.PPid != os.Getppid() || self.Pgid != syscall.Getpgrp() || self.State == 'Z' || self.StartTime == 0 {
		t.Errorf("self got %+v", self)
	}
	if want := strings.Join(os.Args, " "); self.Cmdline != want {
		t.Errorf("cmdline got %q, want %q", self.Cmdline, want)
	}
	for _, p := range procs {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid) + "/stat"); err == nil {
			if _, flags, _ := parseStat(b); flags&pfKthread != 0 {
				t.Errorf("kernel thread %d %q listed", p.Pid, p.Comm)
			}
		}
	}
}

// Zombies are listed, flagged by State 'Z', and never matched by pattern.
func TestScanProcessesZombie(t *testing.T) {
	t.Parallel()
	zpidFile := filepath.Join(t.TempDir(), "zpid")
	// The child `sleep 0` exits at once; its parent execs into a sleep that
	// never waits for it, so it stays a zombie.
	p, err := Start(Spec{Argv: []string{"/bin/sh", "-c", "sleep 0 & echo $! >" + zpidFile + "; exec sleep 600"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background(), syscall.SIGKILL, 0, nil) })
	zpid := readPids(t, zpidFile, 1)[0]
	waitUntil(t, "child to become a zombie", func() bool {
		pi, err := LookupProcess(zpid)
		return err == nil && pi.State == 'Z'
	})
	procs, err := ScanProcesses()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(procs, func(pi ProcInfo) bool { return pi.Pid == zpid })
	if i < 0 || procs[i].State != 'Z' || procs[i].Cmdline != "" || procs[i].Comm != "sleep" {
		t.Fatalf("zombie %d not listed as such: %v", zpid, i)
	}
	found, err := FindByPattern(regexp.MustCompile(`.`), func(pi ProcInfo) bool { return pi.Pid != p.Pid && pi.Pid != zpid })
	if err != nil || len(found) != 1 || found[0].Pid != p.Pid {
		t.Errorf("got %v, %v; want only the zombie's parent %d", found, err, p.Pid)
	}
}

func TestLookupProcessGone(t *testing.T) {
	t.Parallel()
	p, err := Start(Spec{Argv: []string{"/bin/true"}})
	if err != nil {
		t.Fatal(err)
	}
	waitExit(t, p)
	if _, err := LookupProcess(p.Pid); err == nil {
		t.Skip("pid reused already")
	} else if !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("got %v, want os.ErrProcessDone", err)
	}
}

// helperEnv, when set, makes TestHelperFind run FindByPattern with it as
// the pattern and print what it found.
const helperEnv = "OTPSV_PROC_TEST_FIND"

// TestHelperFind is not a test: TestFindByPatternExcludesSelf runs the test
// binary with a command line that holds the pattern, under a shell whose
// command line holds it too.
func TestHelperFind(t *testing.T) {
	pattern := os.Getenv(helperEnv)
	if pattern == "" {
		t.Skip("helper process only")
	}
	re := regexp.MustCompile(pattern)
	self, _ := LookupProcess(os.Getpid())
	parent, _ := LookupProcess(os.Getppid())
	found, err := FindByPattern(re, nil)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Printf("self-matches: %v %v\n", re.MatchString(self.Cmdline), re.MatchString(parent.Cmdline))
	fmt.Print("found:")
	for _, p := range found {
		fmt.Print(" ", p.Pid)
	}
	fmt.Println()
	os.Exit(0)
}

func TestFindByPatternExcludesSelf(t *testing.T) {
	t.Parallel()
	secs := fmt.Sprintf("12345.%d", os.Getpid()) // unique to this test run
	target, err := Start(Spec{Argv: []string{"sleep", secs}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = target.Stop(context.Background(), syscall.SIGKILL, 0, nil) })
	text := "sleep " + secs
	pattern := regexp.QuoteMeta(text)

	// From this process: finds the sleep.
	waitUntil(t, "sleep to exec", func() bool {
		pi, err := LookupProcess(target.Pid)
		return err == nil && pi.Cmdline == text
	})
	found, err := FindByPattern(regexp.MustCompile(pattern), nil)
	if err != nil || len(found) != 1 || found[0].Pid != target.Pid {
		t.Fatalf("got %v, %v; want pid %d", found, err, target.Pid)
	}
	if found[0].Pgid != target.Pid || found[0].Comm != "sleep" {
		t.Errorf("got %+v", found[0])
	}
	if got, _ := FindByPattern(regexp.MustCompile(pattern), func(p ProcInfo) bool { return p.Pid == target.Pid }); len(got) != 0 {
		t.Errorf("exclude ignored: got %v", got)
	}

	// From a process whose own command line, and its parent shell's, hold
	// the pattern's text: only the sleep again.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	res := Run(t.Context(), Command{
		Argv:    []string{"/bin/sh", "-c", `"$0" -test.run='^TestHelperFind$' '` + text + `'; exit $?`, exe},
		Env:     append(os.Environ(), helperEnv+"="+pattern),
		Timeout: time.Minute,
	})
	if res.Err != nil || !res.Status.Normal() {
		t.Fatalf("helper: %v %v\n%s", res.Status, res.Err, res.Output)
	}
	if want := "self-matches: true true\nfound: " + strconv.Itoa(target.Pid) + "\n"; res.Output != want {
		t.Errorf("helper got %q, want %q", res.Output, want)
	}
}

func TestSignalProcessesTermThenKill(t *testing.T) {
	t.Parallel()
	ready := filepath.Join(t.TempDir(), "ready")
	// The ignored TERM survives the exec.
	p, err := Start(Spec{Argv: []string{"/bin/sh", "-c", "trap '' TERM; echo $$ >" + ready + "; exec sleep 600"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background(), syscall.SIGKILL, 0, nil) })
	readPids(t, ready, 1)
	pi, err := LookupProcess(p.Pid)
	if err != nil {
		t.Fatal(err)
	}
	const grace = 300 * time.Millisecond
	start := time.Now()
	if err := SignalProcesses(t.Context(), []ProcInfo{pi}, syscall.SIGTERM, grace, nil); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < grace {
		t.Errorf("returned after %v, before the grace period: TERM not ignored?", elapsed)
	}
	if st := waitExit(t, p); st.Signal != syscall.SIGKILL {
		t.Errorf("got %v, want killed by KILL", st)
	}
}

func TestSignalProcessesTerm(t *testing.T) {
	t.Parallel()
	p, err := Start(Spec{Argv: []string{"sleep", "600"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background(), syscall.SIGKILL, 0, nil) })
	pi, err := LookupProcess(p.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := SignalProcesses(t.Context(), []ProcInfo{pi}, syscall.SIGTERM, time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	if st := waitExit(t, p); st.Signal != syscall.SIGTERM {
		t.Errorf("got %v, want killed by TERM", st)
	}
}

func TestSignalProcessesHurry(t *testing.T) {
	t.Parallel()
	ready := filepath.Join(t.TempDir(), "ready")
	p, err := Start(Spec{Argv: []string{"/bin/sh", "-c", "trap '' TERM; echo $$ >" + ready + "; exec sleep 600"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background(), syscall.SIGKILL, 0, nil) })
	readPids(t, ready, 1)
	pi, err := LookupProcess(p.Pid)
	if err != nil {
		t.Fatal(err)
	}
	hurry := make(chan struct{})
	close(hurry)
	done := make(chan error, 1)
	go func() { done <- SignalProcesses(t.Context(), []ProcInfo{pi}, syscall.SIGTERM, time.Hour, hurry) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("hurry did not cut the grace period")
	}
	if st := waitExit(t, p); st.Signal != syscall.SIGKILL {
		t.Errorf("got %v, want killed by KILL", st)
	}
}

// A ProcInfo whose start time no longer matches its pid names a process
// that is gone: the one now holding the pid is not signalled.
func TestSignalProcessesSkipsReusedPid(t *testing.T) {
	t.Parallel()
	p, err := Start(Spec{Argv: []string{"sleep", "600"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background(), syscall.SIGKILL, 0, nil) })
	pi, err := LookupProcess(p.Pid)
	if err != nil {
		t.Fatal(err)
	}
	pi.StartTime--
	if err := SignalProcesses(t.Context(), []ProcInfo{pi}, syscall.SIGKILL, 0, nil); err != nil {
		t.Fatal(err)
	}
	if p.Exited() || !alive(p.Pid) {
		t.Error("a process with another start time was signalled")
	}
}

// waitUntil polls cond until it holds, failing after a minute.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling the process table; not a success condition
	}
}

func BenchmarkScanProcesses(b *testing.B) {
	n := 0
	for b.Loop() {
		procs, err := ScanProcesses()
		if err != nil {
			b.Fatal(err)
		}
		n = len(procs)
	}
	b.ReportMetric(float64(n), "procs")
}
