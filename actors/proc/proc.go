package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrGroupSurvived is returned by Stop when processes of the group were
// still alive after SIGKILL and the deadline.
var ErrGroupSurvived = errors.New("processes survived SIGKILL")

// killWait bounds the wait after SIGKILL: only a process stuck in the
// kernel (D state) outlives it, and the caller must hear of that.
const killWait = 5 * time.Second

// ExitStatus is how a process ended.
type ExitStatus struct {
	Code   int            // exit code, or -1 when killed by a signal
	Signal syscall.Signal // the signal that killed it, else 0
}

// Normal reports a zero exit code (what makes a transient child stay down).
func (e ExitStatus) Normal() bool { return e.Signal == 0 && e.Code == 0 }

func (e ExitStatus) String() string {
	if e == ExitUnknown {
		return "exited (status unknown: adopted, not otpsv's child)"
	}
	if e.Signal != 0 {
		return "killed by signal " + SignalName(e.Signal)
	}
	return fmt.Sprintf("exit %d", e.Code)
}

// SignalName is the short name of s ("KILL"), its number when it has none.
func SignalName(s syscall.Signal) string {
	names := map[syscall.Signal]string{
		syscall.SIGHUP: "HUP", syscall.SIGINT: "INT", syscall.SIGQUIT: "QUIT", syscall.SIGKILL: "KILL",
		syscall.SIGTERM: "TERM", syscall.SIGSEGV: "SEGV", syscall.SIGABRT: "ABRT", syscall.SIGUSR1: "USR1",
		syscall.SIGUSR2: "USR2", syscall.SIGPIPE: "PIPE", syscall.SIGALRM: "ALRM", syscall.SIGBUS: "BUS",
		syscall.SIGFPE: "FPE", syscall.SIGILL: "ILL",
	}
	if n, ok := names[s]; ok {
		return n
	}
	return fmt.Sprintf("%d", int(s))
}

// Output is where a stream of the process goes.
type Output struct {
	Path    string // append to this file (created 0640, parent dirs 0700)
	Inherit bool   // otpsv's own stream
	// File is an open file the stream goes to, such as the write end of a
	// pipe to a logger process. Start closes it before returning, whether
	// the process started or not: the process holds its own copy, and a
	// reader of the pipe sees EOF only once no other copy is left open.
	File *os.File
	// none of them: /dev/null
}

// Spec describes a process to start.
type Spec struct {
	Argv   []string
	Dir    string
	Env    []string // full environment; nil means otpsv's own
	Stdout Output
	Stderr Output
	// Detach starts the process in a session of its own (oneshot mode: it
	// must outlive otpsv and have no controlling terminal). Otherwise it
	// gets a process group of its own.
	Detach bool
	// Credential, when set, runs the process as that user (root only).
	Credential *syscall.Credential
	// Tag, when set, is put in the process's environment as TagVar (in
	// place of any value Env or otpsv's own environment has for it): its
	// children inherit it, and FindTagged finds them all in /proc, even
	// when otpsv died before it could save their pids.
	Tag string
	// ExtraFiles gives the process more open files: each becomes that
	// descriptor number (3 or more) in the process, and the numbers from 3
	// to the highest one that are not in the map are closed there. It is
	// how a worker gets its s6 notification fd. Start makes each file
	// blocking (File.Fd), as os/exec does: the process shares the open
	// file and expects blocking I/O. The caller still owns the files and
	// closes its copies once Start returns.
	ExtraFiles map[int]*os.File
}

// Process is one started process and its process group.
type Process struct {
	Pid     int
	Started time.Time
	done    chan struct{}
	status  ExitStatus
	adopted bool // not our child: see Adopt
	once    sync.Once
	// startTicks is the start time in clock ticks since boot (/proc
	// stat field 22): with the pid, what identifies the process later.
	startTicks uint64
}

// Start starts spec's command. The returned process leads its own process
// group (pgid == Pid).
func Start(spec Spec) (*Process, error) {
	defer closeOutputFiles(spec)
	if len(spec.Argv) == 0 {
		return nil, errors.New("empty command")
	}
	env := spec.Env
	if env == nil {
		env = InheritedEnv()
	}
	if spec.Tag != "" {
		env = withTag(env, spec.Tag)
	}
	path, err := lookPath(spec.Argv[0], env, spec.Dir)
	if err != nil {
		return nil, err
	}
	top, err := checkExtraFiles(spec.ExtraFiles)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Argv[0], err)
	}
	files, closeAll, err := openStdio(spec)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	if files, err = withExtraFiles(files, spec.ExtraFiles, top); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Argv[0], err)
	}
	// ForkExec sees only the descriptors' numbers: the files must not be
	// finalized (closing them, freeing the numbers) before it is done.
	defer runtime.KeepAlive(spec.ExtraFiles)
	sys := &syscall.SysProcAttr{Setpgid: !spec.Detach, Setsid: spec.Detach, Credential: spec.Credential}
	attr := &syscall.ProcAttr{Dir: spec.Dir, Env: env, Files: files, Sys: sys}

	r := getReaper()
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := syscall.ForkExec(path, spec.Argv, attr)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Argv[0], err)
	}
	p := &Process{Pid: pid, Started: time.Now(), done: make(chan struct{})}
	// Read while the reaper cannot reap it (we hold its lock): even a
	// child that exited at once is still in /proc, as a zombie.
	if st, err := startTimeOf(pid); err == nil {
		p.startTicks = st
	}
	r.waiting[pid] = p
	return p, nil
}

// lookPath resolves argv[0] against the PATH of the process's own
// environment, as a shell would for the command it runs.
func lookPath(name string, env []string, dir string) (string, error) {
	if strings.Contains(name, "/") {
		if !filepath.IsAbs(name) && dir != "" {
			// ForkExec resolves relative names after chdir(dir), which is
			// what users expect of `command: ./bin/x` with `dir:`.
			return name, nil
		}
		st, err := os.Stat(name)
		if err != nil {
			return "", fmt.Errorf("start %s: %w", name, err)
		}
		if st.IsDir() || st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("start %s: %w", name, os.ErrPermission)
		}
		return name, nil
	}
	pathEnv := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	for _, d := range filepath.SplitList(pathEnv) {
		if d == "" {
			d = "."
		}
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("start %s: %w", name, exec.ErrNotFound)
}

// devNull is /dev/null, opened once for every start: stdin, and the
// discarded streams. A fork dups it into the child; opening, making
// blocking (Fd) and closing it anew each time cost three files' worth of
// syscalls per start, on the path of every restart.
var devNull = sync.OnceValues(func() (*os.File, error) {
	f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err == nil {
		f.Fd() // blocking once and for all: Fd would make it so at every start
	}
	return f, err
})

func openStdio(spec Spec) ([]uintptr, func(), error) {
	var opened []*os.File
	closeAll := func() {
		for _, f := range opened {
			_ = f.Close()
		}
	}
	open := func(o Output, std *os.File) (*os.File, error) {
		switch {
		case o.File != nil:
			if o.File.Fd() == closedInChild {
				return nil, fmt.Errorf("output file %s: %w", o.File.Name(), os.ErrClosed)
			}
			return o.File, nil
		case o.Inherit:
			return std, nil
		case o.Path != "":
			if err := os.MkdirAll(filepath.Dir(o.Path), 0o700); err != nil {
				return nil, err
			}
			f, err := os.OpenFile(o.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
			if err != nil {
				return nil, err
			}
			opened = append(opened, f)
			return f, nil
		default:
			return devNull()
		}
	}
	stdin, err := devNull()
	if err != nil {
		return nil, closeAll, err
	}
	stdout, err := open(spec.Stdout, os.Stdout)
	if err != nil {
		return nil, closeAll, err
	}
	var stderr *os.File
	if spec.Stderr == spec.Stdout && spec.Stdout.Path != "" {
		stderr = stdout // one file, one offset: lines interleave in order
	} else if stderr, err = open(spec.Stderr, os.Stderr); err != nil {
		return nil, closeAll, err
	}
	return []uintptr{stdin.Fd(), stdout.Fd(), stderr.Fd()}, closeAll, nil
}

// closeOutputFiles closes the Output.File of each stream, once.
func closeOutputFiles(spec Spec) {
	if f := spec.Stdout.File; f != nil {
		_ = f.Close()
	}
	if f := spec.Stderr.File; f != nil && f != spec.Stdout.File {
		_ = f.Close()
	}
}

// closedInChild in ProcAttr.Files closes that descriptor in the child
// (ForkExec's -1).
const closedInChild = ^uintptr(0)

// checkExtraFiles checks the numbers of extra files and returns the
// highest (0 when there are none).
func checkExtraFiles(extra map[int]*os.File) (int, error) {
	top := 0
	for n, f := range extra {
		if n < 3 {
			return 0, fmt.Errorf("extra file at descriptor %d: below 3 (stdin, stdout and stderr are not extra files)", n)
		}
		if f == nil {
			return 0, fmt.Errorf("extra file at descriptor %d: nil", n)
		}
		top = max(top, n)
	}
	return top, nil
}

// withExtraFiles appends the extra files to the stdio descriptors, each
// at its own number up to top, with the holes closed in the child.
func withExtraFiles(files []uintptr, extra map[int]*os.File, top int) ([]uintptr, error) {
	if len(extra) == 0 {
		return files, nil
	}
	all := make([]uintptr, top+1)
	copy(all, files)
	for n := len(files); n <= top; n++ {
		all[n] = closedInChild
	}
	for n, f := range extra {
		fd := f.Fd()
		if fd == closedInChild {
			return nil, fmt.Errorf("extra file at descriptor %d: %w", n, os.ErrClosed)
		}
		all[n] = fd
	}
	return all, nil
}

// exited records the end of the process once: for an adopted process the
// pidfd watcher and a Stop that saw the group empty may both get there.
func (p *Process) exited(s ExitStatus) {
	p.once.Do(func() {
		p.status = s
		close(p.done)
	})
}

// Done is closed when the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Status is the exit status; valid once Done is closed.
func (p *Process) Status() ExitStatus {
	<-p.done
	return p.status
}

// Exited reports whether the process has been reaped.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process group, and to the process itself only
// when it has left the group: a leader still in it gets the group's signal,
// and a second one would make a program that takes a repeated SIGTERM or
// SIGINT as "stop now" skip its graceful stop (and real-time signals are
// queued, not merged). The process is signalled on its own only while it
// is the same process: not reaped, and with the recorded start time.
func (p *Process) Signal(sig syscall.Signal) {
	_ = syscall.Kill(-p.Pid, sig)
	p.signalOutsideGroup(sig)
}

// signalOutsideGroup sends sig to the leader if it is alive and has moved
// to another process group. Without a recorded start time (no /proc when
// it started) the process cannot be told from a later owner of its pid,
// and only the group is signalled.
func (p *Process) signalOutsideGroup(sig syscall.Signal) {
	if p.startTicks == 0 || p.Exited() {
		return
	}
	var r procReader
	b, err := r.read("/proc/" + strconv.Itoa(p.Pid) + "/stat")
	if err != nil {
		return
	}
	pi, _, err := parseStat(b)
	if err != nil || pi.Pgid == p.Pid || pi.StartTime != p.startTicks || pi.State == 'Z' {
		return
	}
	// signalSame checks the start time again through a pidfd: the pid may
	// be reaped and reused since (an adopted process has no reaper here).
	_ = signalSame(pi, sig)
}

// GroupAlive reports whether any live process is left in the group.
// kill(-pgid, 0) answers cheaply but counts zombies; our own children are
// reaped at once, but an adopted process or a grandchild belongs to init
// (or a subreaper) that may reap late, or, in some containers, never: so
// when the group answers, the process table says whether a member is more
// than a zombie.
func (p *Process) GroupAlive() bool { return GroupAlive(p.Pid) }

// GroupAlive reports whether process group pgid has a process left that
// is not a zombie (see Process.GroupAlive).
func GroupAlive(pgid int) bool {
	if pgid <= 1 || syscall.Kill(-pgid, 0) != nil {
		return false
	}
	procs, err := ScanProcesses()
	if err != nil {
		return true
	}
	for _, pi := range procs {
		if pi.Pgid == pgid && pi.State != 'Z' && pi.State != 'X' {
			return true
		}
	}
	return false
}

// Stop ends the process and every process left in its group: sig, then
// after grace (or at once when hurry is closed) SIGKILL. It returns when
// the leader is reaped and the group is empty, or ErrGroupSurvived when
// ctx ends first. Stopping an exited process cleans what it left behind.
func (p *Process) Stop(ctx context.Context, sig syscall.Signal, grace time.Duration, hurry <-chan struct{}) error {
	if p.Exited() && !p.GroupAlive() {
		return nil
	}
	p.Signal(sig)
	if sig != syscall.SIGCONT && sig != syscall.SIGKILL {
		// A stopped (SIGSTOP) process would never act on sig.
		p.Signal(syscall.SIGCONT)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	if p.waitGone(ctx, timer.C, hurry) {
		return nil
	}
	p.Signal(syscall.SIGKILL)
	kctx, cancel := context.WithTimeout(ctx, killWait)
	defer cancel()
	if p.waitGone(kctx, nil, nil) {
		return nil
	}
	return fmt.Errorf("process group %d: %w", p.Pid, ErrGroupSurvived)
}

// waitGone waits until the leader is reaped and the group is empty. It
// returns false when stop or hurry fires, or ctx ends, first.
func (p *Process) waitGone(ctx context.Context, stop <-chan time.Time, hurry <-chan struct{}) bool {
	if p.adopted && !p.Exited() {
		// An unwatched adopted process: it is not our child, so no SIGCHLD;
		// it is gone when its group is.
		return p.pollGroup(ctx, stop, hurry)
	}
	select {
	case <-p.done:
	case <-stop:
		return false
	case <-hurry:
		return false
	case <-ctx.Done():
		return false
	}
	return p.pollGroup(ctx, stop, hurry)
}

// pollGroup waits until no process is left in the group (WaitGroupGone).
func (p *Process) pollGroup(ctx context.Context, stop <-chan time.Time, hurry <-chan struct{}) bool {
	if !WaitGroupGone(ctx, p.Pid, stop, hurry) {
		return false
	}
	if p.adopted && !p.Exited() {
		p.exited(ExitUnknown)
	}
	return true
}

// WaitGroupGone waits until no process is left in group pgid. It returns
// false when stop or hurry fires, or ctx ends, first. Members other than
// our own children give no event when they exit: it polls, starting fast
// since the usual case is an already empty group.
func WaitGroupGone(ctx context.Context, pgid int, stop <-chan time.Time, hurry <-chan struct{}) bool {
	backoff := 500 * time.Microsecond
	for GroupAlive(pgid) {
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			return false
		case <-hurry:
			t.Stop()
			return false
		case <-ctx.Done():
			t.Stop()
			return false
		}
		backoff = min(backoff*2, 50*time.Millisecond)
	}
	return true
}
