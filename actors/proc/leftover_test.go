package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// deadWorker starts script as a tagged worker would be started, waits for
// its pid file to hold n pids, and for the worker's own process to exit:
// what it started stays in its group with the leader gone. It returns
// the recorded group and the pids.
func deadWorker(t *testing.T, tag, script string, n int, cred *syscall.Credential) (Group, []int) {
	t.Helper()
	pids := filepath.Join(t.TempDir(), "pids")
	if cred != nil {
		dir, err := os.MkdirTemp("", "otpsv-proc-test-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
		pids = filepath.Join(dir, "pids")
	}
	spec := sh(strings.ReplaceAll(script, "PIDS", pids))
	spec.Tag, spec.Credential = tag, cred
	p, err := Start(spec)
	if err != nil {
		t.Fatal(err)
	}
	start, err := p.StartTime()
	if err != nil {
		t.Fatal(err)
	}
	got := readPids(t, pids, n)
	t.Cleanup(func() { killPids(got) })
	if st := waitExit(t, p); !st.Normal() {
		t.Fatalf("worker: %v", st)
	}
	return Group{Pgid: p.Pid, LeaderStart: start, Tag: tag}, got
}

// killPids kills what a test left running, each known by pid and the
// start time it has now: a pid already reused is not touched.
func killPids(pids []int) {
	var procs []ProcInfo
	for _, pid := range pids {
		if pi, err := LookupProcess(pid); err == nil {
			procs = append(procs, pi)
		}
	}
	_ = SignalProcesses(context.Background(), procs, syscall.SIGKILL, 0, nil)
}

func pidsOf(ts []Tagged) []int {
	var pids []int
	for _, t := range ts {
		pids = append(pids, t.Pid)
	}
	slices.Sort(pids)
	return pids
}

// startOther starts a process that is not the worker's, in a group of
// its own, and fails t if it is not alive at the end.
func startOther(t *testing.T) *Process {
	t.Helper()
	p, err := Start(Spec{Argv: []string{"/bin/sleep", "600"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.Exited() {
			t.Errorf("pid %d, not the worker's, was stopped: %v", p.Pid, p.Status())
		}
		_ = p.Stop(context.Background(), syscall.SIGKILL, 0, nil)
	})
	return p
}

func TestGroupStopLeftovers(t *testing.T) {
	t.Parallel()
	startOther(t)
	tag := tagPrefix(t) + "w"
	// The worker forks a grandchild in its group and exits.
	g, pids := deadWorker(t, tag, `sh -c 'echo $$ >>PIDS; exec sleep 600' & sleep 600 & echo $! >>PIDS`, 2, nil)
	ours, unproven, err := g.Leftovers()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := pidsOf(ours), sorted(pids...); !slices.Equal(got, want) || len(unproven) != 0 {
		t.Fatalf("leftovers got %v (unproven %v), want %v", got, pidsOf(unproven), want)
	}
	for _, o := range ours {
		if o.Tag != tag || o.Pgid != g.Pgid {
			t.Errorf("got %+v", o)
		}
	}
	unproven, err = g.Stop(t.Context(), syscall.SIGTERM, time.Minute, nil)
	if err != nil || len(unproven) != 0 {
		t.Fatalf("stop: %v, unproven %v", err, unproven)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("leftover %d survived", pid)
		}
	}
	if ours, unproven, _ := g.Leftovers(); len(ours)+len(unproven) != 0 {
		t.Errorf("left after stop: %v %v", ours, unproven)
	}
}

// Leftovers that ignore TERM, one of them a loop that keeps forking, are
// killed after the grace period, and so is what they forked meanwhile.
func TestGroupStopKillsAfterGrace(t *testing.T) {
	t.Parallel()
	startOther(t)
	g, pids := deadWorker(t, tagPrefix(t)+"w",
		`sh -c 'trap "" TERM; echo $$ >>PIDS; while :; do sleep 600 & sleep 0.01; done' & sh -c 'trap "" TERM; echo $$ >>PIDS; exec sleep 600' &`, 2, nil)
	const grace = 300 * time.Millisecond
	start := time.Now()
	unproven, err := g.Stop(t.Context(), syscall.SIGTERM, grace, nil)
	if err != nil || len(unproven) != 0 {
		t.Fatalf("stop: %v, unproven %v", err, unproven)
	}
	if elapsed := time.Since(start); elapsed < grace {
		t.Errorf("stopped after %v, before the grace period: TERM not ignored?", elapsed)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("leftover %d survived", pid)
		}
	}
	if ours, unproven, _ := g.Leftovers(); len(ours)+len(unproven) != 0 {
		t.Errorf("left after stop: %v %v", pidsOf(ours), pidsOf(unproven))
	}
}

func TestGroupStopHurry(t *testing.T) {
	t.Parallel()
	g, pids := deadWorker(t, tagPrefix(t)+"w", `sh -c 'trap "" TERM; echo $$ >>PIDS; exec sleep 600' &`, 1, nil)
	hurry := make(chan struct{})
	close(hurry)
	if _, err := g.Stop(t.Context(), syscall.SIGTERM, time.Hour, hurry); err != nil {
		t.Fatal(err)
	}
	if alive(pids[0]) {
		t.Errorf("leftover %d survived", pids[0])
	}
}

// Which members of the group are provably the worker's. A member that is
// not tagged (it cleared its environment, or rewrote it with its title)
// is the worker's only while the group provably is: its recorded leader
// still holds the pid, or a tagged member is in it. A group whose id is
// now another process's pid is someone else's: only tagged members are
// the worker's.
func TestGroupLeftoversProof(t *testing.T) {
	t.Parallel()
	const (
		tagged   = `sh -c 'echo $$ >>PIDS; exec sleep 600' &`
		untagged = `env -u OTPSV_NODE sh -c 'echo $$ >>PIDS; exec sleep 600' &`
	)
	t.Run("untagged alone, leader gone", func(t *testing.T) {
		t.Parallel()
		other := startOther(t)
		g, pids := deadWorker(t, tagPrefix(t)+"w", untagged, 1, nil)
		ours, unproven, err := g.Leftovers()
		if err != nil || len(ours) != 0 || !slices.Equal(pidsOf(unproven), pids) {
			t.Fatalf("got ours %v, unproven %v, %v; want unproven %v", pidsOf(ours), pidsOf(unproven), err, pids)
		}
		unproven, err = g.Stop(t.Context(), syscall.SIGKILL, 0, nil)
		if err != nil || !slices.Equal(pidsOf(unproven), pids) {
			t.Errorf("stop: %v, unproven %v", err, pidsOf(unproven))
		}
		if !alive(pids[0]) {
			t.Errorf("unproven %d was stopped", pids[0])
		}
		_ = other
	})
	t.Run("untagged with a tagged member", func(t *testing.T) {
		t.Parallel()
		startOther(t)
		g, pids := deadWorker(t, tagPrefix(t)+"w", untagged+tagged, 2, nil)
		if ours, unproven, err := g.Leftovers(); err != nil || !slices.Equal(pidsOf(ours), sorted(pids...)) || len(unproven) != 0 {
			t.Fatalf("got ours %v, unproven %v, %v; want ours %v", pidsOf(ours), pidsOf(unproven), err, pids)
		}
		if unproven, err := g.Stop(t.Context(), syscall.SIGTERM, time.Minute, nil); err != nil || len(unproven) != 0 {
			t.Fatalf("stop: %v, unproven %v", err, unproven)
		}
		for _, pid := range pids {
			if alive(pid) {
				t.Errorf("leftover %d survived", pid)
			}
		}
	})
	t.Run("leader alive", func(t *testing.T) {
		t.Parallel()
		startOther(t)
		pidFile := filepath.Join(t.TempDir(), "pids")
		p, err := Start(Spec{Argv: []string{"/bin/sh", "-c", strings.ReplaceAll(untagged, "PIDS", pidFile) + " exec sleep 600"}, Tag: tagPrefix(t) + "w"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Stop(context.Background(), syscall.SIGKILL, 0, nil) })
		pids := readPids(t, pidFile, 1)
		t.Cleanup(func() { killPids(pids) })
		start, _ := p.StartTime()
		g := Group{Pgid: p.Pid, LeaderStart: start, Tag: tagPrefix(t) + "w"}
		// Once the leader has its image, both are sleeps of the group.
		want := sorted(p.Pid, pids[0])
		if ours, unproven, err := g.Leftovers(); err != nil || !slices.Equal(pidsOf(ours), want) || len(unproven) != 0 {
			t.Fatalf("got ours %v, unproven %v, %v; want ours %v", pidsOf(ours), pidsOf(unproven), err, want)
		}
		// The same group recorded with another untagged leader: its pid
		// now names another process.
		g.LeaderStart--
		g.Tag = "another"
		if ours, unproven, err := g.Leftovers(); err != nil || len(ours) != 0 || !slices.Equal(pidsOf(unproven), want) {
			t.Fatalf("reused group id: got ours %v, unproven %v, %v; want unproven %v", pidsOf(ours), pidsOf(unproven), err, want)
		}
		if _, err := g.Stop(t.Context(), syscall.SIGKILL, 0, nil); err != nil {
			t.Fatal(err)
		}
		if p.Exited() || !alive(pids[0]) {
			t.Error("a member of a group that may not be the worker's was stopped")
		}
	})
	t.Run("reused group id, tagged member", func(t *testing.T) {
		t.Parallel()
		pidFile := filepath.Join(t.TempDir(), "pids")
		tag := tagPrefix(t) + "w"
		// An untagged leader with a tagged member and an untagged one.
		script := fmt.Sprintf(`OTPSV_NODE=%s sh -c 'echo $$ >>%s; exec sleep 600' & %s exec sleep 600`,
			tag, pidFile, strings.ReplaceAll(untagged, "PIDS", pidFile))
		p, err := Start(Spec{Argv: []string{"/bin/sh", "-c", script}, Env: []string{"PATH=/usr/bin:/bin"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Stop(context.Background(), syscall.SIGKILL, 0, nil) })
		pids := readPids(t, pidFile, 2)
		t.Cleanup(func() { killPids(pids) })
		var taggedPid, untaggedPid int
		for _, pid := range pids {
			if slices.Contains(environOf(t, pid), TagVar+"="+tag) {
				taggedPid = pid
			} else {
				untaggedPid = pid
			}
		}
		start, _ := p.StartTime()
		g := Group{Pgid: p.Pid, LeaderStart: start - 1, Tag: tag}
		ours, unproven, err := g.Leftovers()
		if err != nil || !slices.Equal(pidsOf(ours), []int{taggedPid}) || !slices.Equal(pidsOf(unproven), sorted(p.Pid, untaggedPid)) {
			t.Fatalf("got ours %v, unproven %v, %v; want ours [%d], unproven %v", pidsOf(ours), pidsOf(unproven), err, taggedPid, sorted(p.Pid, untaggedPid))
		}
		if _, err := g.Stop(t.Context(), syscall.SIGTERM, time.Minute, nil); err != nil {
			t.Fatal(err)
		}
		if alive(taggedPid) {
			t.Errorf("tagged member %d survived", taggedPid)
		}
		if p.Exited() || !alive(untaggedPid) {
			t.Error("an untagged member of a group that may not be the worker's was stopped")
		}
	})
}

func TestGroupBadPgid(t *testing.T) {
	t.Parallel()
	for _, pgid := range []int{-1, 0, 1} {
		if _, _, err := (Group{Pgid: pgid, LeaderStart: 1, Tag: "x"}).Leftovers(); !errors.Is(err, ErrBadGroup) {
			t.Errorf("pgid %d: got %v, want ErrBadGroup", pgid, err)
		}
		if _, err := (Group{Pgid: pgid, LeaderStart: 1, Tag: "x"}).Stop(t.Context(), syscall.SIGKILL, 0, nil); !errors.Is(err, ErrBadGroup) {
			t.Errorf("pgid %d: got %v, want ErrBadGroup", pgid, err)
		}
	}
}

// groupHelperEnv, when set to "PGID START TAG", makes TestHelperGroupStop
// stop that group's leftovers and print the outcome.
const groupHelperEnv = "OTPSV_PROC_TEST_GROUP"

// TestHelperGroupStop is not a test: it runs Group.Stop in a process of
// its own, as another user.
func TestHelperGroupStop(t *testing.T) {
	v := os.Getenv(groupHelperEnv)
	if v == "" {
		t.Skip("helper process only")
	}
	f := strings.Fields(v)
	pgid, _ := strconv.Atoi(f[0])
	start, _ := strconv.ParseUint(f[1], 10, 64)
	g := Group{Pgid: pgid, LeaderStart: start, Tag: f[2]}
	ours, unproven, err := g.Leftovers()
	if err != nil {
		helperFail("%v", err)
	}
	fmt.Println("ours:", pidsOf(ours), "unproven:", pidsOf(unproven))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = g.Stop(ctx, syscall.SIGTERM, 100*time.Millisecond, nil)
	fmt.Println("survived:", errors.Is(err, ErrGroupSurvived), "permission:", errors.Is(err, syscall.EPERM))
	os.Exit(0)
}

// As an ordinary user: the leftovers of the user's own dead worker are
// found and stopped; a member of another user (root's, which joined the
// group) has an environment that cannot be read, is the worker's only by
// the tagged member beside it, cannot be signalled, and is reported.
func TestGroupStopUnprivileged(t *testing.T) {
	t.Parallel()
	setpriv := asNobody(t)
	startOther(t)
	tag := tagPrefix(t) + "w"
	g, pids := deadWorker(t, tag, `sh -c 'echo $$ >>PIDS; exec sleep 600' &`, 1, &syscall.Credential{Uid: nobody, Gid: nobody})
	spec := Spec{Argv: []string{"/bin/sleep", "600"}, Tag: tag}
	root, err := startInGroup(spec, g.Pgid)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killPids([]int{root}) })
	out := runHelper(t, setpriv, helperExe(t, true), "TestHelperGroupStop",
		fmt.Sprintf("%s=%d %d %s", groupHelperEnv, g.Pgid, g.LeaderStart, g.Tag))
	want := fmt.Sprintf("ours: %v unproven: []\nsurvived: true permission: true\n", sorted(pids[0], root))
	if out != want {
		t.Errorf("helper got %q, want %q", out, want)
	}
	if alive(pids[0]) {
		t.Errorf("leftover %d survived", pids[0])
	}
	if !alive(root) {
		t.Errorf("root's process %d is gone", root)
	}
}

// startInGroup starts spec's command as a member of process group pgid.
func startInGroup(spec Spec, pgid int) (int, error) {
	attr := &syscall.ProcAttr{Env: withTag(os.Environ(), spec.Tag), Sys: &syscall.SysProcAttr{Setpgid: true, Pgid: pgid}}
	return syscall.ForkExec(spec.Argv[0], spec.Argv, attr)
}
