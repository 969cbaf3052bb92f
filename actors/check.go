package actors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/sys/unix"

	"github.com/otpsv/otpsv/actors/proc"
	"github.com/otpsv/otpsv/config"
)

// observed is what a status check found.
type observed int

const (
	obsRunning observed = iota
	obsStopped
	obsDirty // LSB status other than 0 and 3, a failed or hung status command
)

func (o observed) String() string {
	switch o {
	case obsRunning:
		return "running"
	case obsStopped:
		return "stopped"
	}
	return "dirty"
}

// checkResult is sent to a worker by the goroutine that ran its check.
type checkResult struct {
	seq    int
	obs    observed
	detail string
	pid    int // a process found by pattern or named by the pidfile, else 0
	// main is the process the pidfile names, when it is the service's.
	main procRef
}

// procRef names the main process of a service, as its pidfile gave it:
// pid and start time (which tell a reused pid), and its process group.
type procRef struct {
	pid   int
	start uint64 // clock ticks since boot
	pgid  int
}

// commands runs the commands of one worker node. It holds no state that
// changes, so its methods may run on any goroutine.
type commands struct {
	node    *config.Node
	env     *env
	cmdEnv  []string
	pattern *regexp.Regexp
}

func newCommands(n *config.Node, e *env) *commands {
	c := &commands{node: n, env: e}
	if n.Type == config.Service {
		c.cmdEnv = proc.CleanEnv(n.SearchPath)
		if (len(n.Status) == 0 || len(n.Stop) == 0) && n.Pattern != "" {
			// status or stop through the process table; config validated
			// the expression
			c.pattern, _ = regexp.Compile(n.Pattern)
		}
	} else if len(n.Env) > 0 {
		c.cmdEnv = proc.MergeEnv(proc.InheritedEnv(), n.Env)
	}
	return c
}

// run runs one command of the node and logs what it printed at debug
// level; a command that exceeds the node's timeout is killed with its
// whole process group, and that is logged as a warning.
func (c *commands) run(what string, argv []string, detach bool) proc.Result {
	if !c.env.addCommand() {
		return proc.Result{Err: context.Canceled}
	}
	defer c.env.cmds.Done()
	r := proc.Run(c.env.cmdCtx, proc.Command{
		Argv: argv, Dir: c.node.Dir, Env: c.cmdEnv, Timeout: c.node.Timeout, Detach: detach,
	})
	log := c.env.log
	if r.TimedOut {
		log.Warn("command timed out; killed its process group", "node", c.node.Path, "command", what, "timeout", c.node.Timeout.String())
	}
	if r.Output != "" {
		log.Debug("command output", "node", c.node.Path, "command", what, "status", r.Status.String(), "output", r.Output)
	}
	return r
}

// status runs the node's status check: the status command when there is
// one (LSB: 0 running, 3 stopped, anything else dirty), else the pidfile,
// else the process table pattern. With a status command, the pidfile only
// tells the pid shown.
func (c *commands) status() checkResult {
	if len(c.node.Status) > 0 {
		r := c.run("status", c.node.Status, false)
		switch {
		case r.Err != nil:
			return checkResult{obs: obsDirty, detail: "status command: " + r.Err.Error()}
		case r.TimedOut:
			return checkResult{obs: obsDirty, detail: fmt.Sprintf("status command hung (no answer within %s)", c.node.Timeout)}
		case r.Status.Normal():
			res := checkResult{obs: obsRunning}
			if c.node.Pidfile != "" {
				if p := c.pidfile(); p.obs == obsRunning {
					res.pid, res.main = p.pid, p.main
				}
			}
			return res
		case r.Status.Code == 3:
			return checkResult{obs: obsStopped, detail: "status exit 3 (stopped)"}
		}
		return checkResult{obs: obsDirty, detail: "status " + r.Status.String() + firstLine(r.Output)}
	}
	if c.node.Pidfile != "" {
		return c.pidfile()
	}
	if c.pattern == nil {
		return checkResult{obs: obsDirty, detail: "no status command and no pattern"}
	}
	found, err := proc.FindByPattern(c.pattern, nil)
	if err != nil {
		return checkResult{obs: obsDirty, detail: "process table: " + err.Error()}
	}
	if len(found) == 0 {
		return checkResult{obs: obsStopped, detail: "no process matches " + c.pattern.String()}
	}
	return checkResult{obs: obsRunning, pid: found[0].Pid}
}

func stopSignal(n *config.Node) syscall.Signal {
	if n.StopSignal == 0 {
		return syscall.SIGTERM
	}
	return n.StopSignal
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	line, _, _ := strings.Cut(s, "\n")
	if len(line) > 200 {
		line = line[:200] + "…"
	}
	return ": " + line
}

// start runs a service's start command, detached: the daemon it starts
// must outlive the command (and otpsv).
func (c *commands) start() error {
	r := c.run("start", c.node.Start, true)
	switch {
	case r.Err != nil:
		return fmt.Errorf("start command: %w", r.Err)
	case r.TimedOut:
		return fmt.Errorf("start command hung (no answer within %s)", c.node.Timeout)
	case !r.Status.Normal():
		return fmt.Errorf("start command: %s%s", r.Status, firstLine(r.Output))
	}
	return nil
}

// stop stops a service: its stop command, else its stop signal (then KILL
// after the timeout) to the process group of its pidfile's pid, else to
// the processes its pattern matches. seen is the main process a check
// last found running, if any: stopped when the pidfile no longer names it
// (see stopPidfile). A pidfile left naming a dead pid is removed after a
// stop, so that the service reads stopped, not dirty.
func (c *commands) stop(seen procRef) error {
	if len(c.node.Stop) > 0 {
		r := c.run("stop", c.node.Stop, false)
		switch {
		case r.Err != nil:
			return fmt.Errorf("stop command: %w", r.Err)
		case r.TimedOut:
			return fmt.Errorf("stop command hung (no answer within %s)", c.node.Timeout)
		case !r.Status.Normal():
			return fmt.Errorf("stop command: %s%s", r.Status, firstLine(r.Output))
		}
		c.removeStalePidfile()
		return nil
	}
	if c.node.Pidfile != "" {
		return c.stopPidfile(seen)
	}
	if c.pattern == nil {
		return fmt.Errorf("no stop command and no pattern")
	}
	found, err := proc.FindByPattern(c.pattern, nil)
	if err != nil {
		return err
	}
	return proc.SignalProcesses(context.Background(), found, stopSignal(c.node), c.node.Timeout, c.env.hurry)
}

// waitRunning polls the status until it reports running, at most the
// node's timeout: how long a started service (or a process worker's
// readiness) may take to come up. It gives up early when abort is closed
// (the worker is being stopped), on a second SIGTERM, or when the tree has
// stopped.
//
// For a process worker any failing status means "not ready yet". For a
// service only "stopped" does: a service that comes up dirty is a failed
// start, reported at once, and its supervisor stops it to clean it up.
func (c *commands) waitRunning(abort <-chan struct{}) checkResult {
	return c.waitUp(abort, pidStamp{})
}

// waitUp is waitRunning after a command that found the service's pidfile
// as before says: that file, unchanged and naming a pid now gone, is the
// old process's (a restart command that stopped it), not a dirty new
// start.
func (c *commands) waitUp(abort <-chan struct{}, before pidStamp) checkResult {
	deadline := time.Now().Add(c.node.Timeout)
	backoff := 20 * time.Millisecond
	for {
		r := c.status()
		if r.obs == obsRunning {
			return r
		}
		if r.obs == obsDirty && c.node.Type == config.Service {
			if !c.unchanged(before) {
				return checkResult{obs: obsDirty, detail: "came up dirty: " + r.detail}
			}
			r.obs = obsStopped // its new process has not written the file yet
		}
		left := time.Until(deadline)
		if left <= 0 {
			r.detail = fmt.Sprintf("not running within %s after start (%s)", c.node.Timeout, r.obs)
			if r.obs == obsRunning {
				return r
			}
			return checkResult{obs: obsDirty, detail: r.detail}
		}
		t := time.NewTimer(min(backoff, left))
		select {
		case <-t.C:
		case <-abort:
			t.Stop()
			return checkResult{obs: obsDirty, detail: "stopped while waiting for it to run"}
		case <-c.env.hurry:
			t.Stop()
			return checkResult{obs: obsDirty, detail: "stopped while waiting for it to run"}
		case <-c.env.cmdCtx.Done():
			t.Stop()
			return checkResult{obs: obsDirty, detail: "stopped while waiting for it to run"}
		}
		backoff = min(backoff*2, time.Second)
	}
}

// restart runs a service's restart command, detached like a start, then
// waits for the service to report running, as a start does.
func (c *commands) restart(argv []string, abort <-chan struct{}) (checkResult, error) {
	before := c.stamp()
	r := c.run("restart", argv, true)
	switch {
	case r.Err != nil:
		return checkResult{}, fmt.Errorf("restart command: %w", r.Err)
	case r.TimedOut:
		return checkResult{}, fmt.Errorf("restart command hung (no answer within %s)", c.node.Timeout)
	case !r.Status.Normal():
		return checkResult{}, fmt.Errorf("restart command: %s%s", r.Status, firstLine(r.Output))
	}
	res := c.waitUp(abort, before)
	if res.obs != obsRunning {
		return res, fmt.Errorf("not running after its restart command: %s", res.detail)
	}
	return res, nil
}

// checker runs one worker's periodic status checks off its mailbox: at
// most one in flight, numbered so that the result of an older one is
// dropped, and the next one on a timer. It belongs to one actor, which
// alone calls its methods.
type checker struct {
	cmds     *commands
	seq      int
	inFlight bool
	timer    *time.Timer
}

// launch runs the status check on a goroutine of its own and sends the
// actor wrap(result).
func (c *checker) launch(ctx actor.Context, wrap func(checkResult) any) {
	c.inFlight = true
	c.seq++
	seq, self, root := c.seq, ctx.Self(), ctx.ActorSystem().Root
	go func() {
		r := c.cmds.status()
		r.seq = seq
		root.Send(self, wrap(r))
	}()
}

// done accepts a result: false for one that a newer check replaced.
func (c *checker) done(r *checkResult) bool {
	if r.seq != c.seq {
		return false
	}
	c.inFlight = false
	return true
}

// after sends tick to the actor in d (no periodic checks when interval is
// zero: a oneshot pass checks once).
func (c *checker) after(ctx actor.Context, interval, d time.Duration, tick any) {
	if interval <= 0 {
		return
	}
	self, root := ctx.Self(), ctx.ActorSystem().Root
	c.timer = time.AfterFunc(d, func() { root.Send(self, tick) })
}

func (c *checker) stop() {
	if c.timer != nil {
		c.timer.Stop()
	}
}

func asResult(r checkResult) any { return &r }

// ---------------------------------------------------------------------
// pidfile

// The ways a pidfile's pid is not the service's.
var (
	errPidDead   = errors.New("not running")
	errPidReused = errors.New("reused")
	// errEmptyPidfile is a pidfile with no pid yet: a service between
	// creating it and writing its pid.
	errEmptyPidfile = errors.New("empty pidfile")
	errBadPidfile   = errors.New("no pid in the pidfile")
)

// clockTicks is USER_HZ, the unit of process start times in /proc: 100 on
// every architecture Linux runs on but alpha (not one otpsv is built for).
const clockTicks = 100

// pidReuseSlack absorbs the resolution of the times compared (start times
// in ticks, coarse file times) and a leap second: a pid reused within it
// of the file's write goes unnoticed, which takes the pid counter going
// round in under a second.
const pidReuseSlack = time.Second

// groupKillWait bounds the wait after SIGKILL to a service's process group
// (as proc does for a worker's): only a process stuck in the kernel
// outlives it.
const groupKillWait = 5 * time.Second

// pidfile reads the service's status from its pidfile, as the SPEC says:
// a live pid that started before the file was last written is running
// (0); a dead pid, or one a later process took over, is dirty (1); no file
// is stopped (3). So is an empty file: a service still writing it.
func (c *commands) pidfile() checkResult {
	pf := c.node.Pidfile
	pid, written, err := readPidfile(pf)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return checkResult{obs: obsStopped, detail: "no pidfile " + pf}
	case errors.Is(err, errEmptyPidfile):
		return checkResult{obs: obsStopped, detail: "pidfile " + pf + " is empty"}
	case err != nil:
		return checkResult{obs: obsDirty, detail: fmt.Sprintf("pidfile %s: %v", pf, err)}
	}
	main, err := mainProcess(pid, written)
	if err != nil {
		return checkResult{obs: obsDirty, detail: fmt.Sprintf("pidfile %s: %v", pf, err)}
	}
	return checkResult{obs: obsRunning, pid: pid, main: main}
}

// readPidfile returns the pid on the first line of the file at path, and
// when the file was last written (read through the same open file, so
// both are of one version of it).
func readPidfile(path string) (int, time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, time.Time{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, time.Time{}, err
	}
	b, err := io.ReadAll(io.LimitReader(f, 128))
	if err != nil {
		return 0, time.Time{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSpace(line)
	if line == "" {
		return 0, fi.ModTime(), errEmptyPidfile
	}
	pid, err := strconv.Atoi(line)
	if err != nil || pid <= 0 {
		if len(line) > 40 {
			line = line[:40] + "…"
		}
		return 0, fi.ModTime(), fmt.Errorf("%w: %q", errBadPidfile, line)
	}
	return pid, fi.ModTime(), nil
}

// mainProcess looks up pid, named by a pidfile last written at written:
// the service's main process when it is alive and started before that
// write; a process that started after it took over the pid of a service
// that has ended.
func mainProcess(pid int, written time.Time) (procRef, error) {
	pi, err := proc.LookupProcess(pid)
	if errors.Is(err, os.ErrProcessDone) || err == nil && (pi.State == 'Z' || pi.State == 'X') {
		return procRef{}, fmt.Errorf("pid %d is %w", pid, errPidDead)
	}
	if err != nil {
		return procRef{}, err
	}
	if !startedBefore(pi.StartTime, written) {
		return procRef{}, fmt.Errorf("pid %d was %w: its process started after the file was written", pid, errPidReused)
	}
	return procRef{pid: pid, start: pi.StartTime, pgid: pi.Pgid}, nil
}

// startedBefore reports whether a process that started at start (clock
// ticks since boot) started before t, give or take pidReuseSlack. Start
// times count on the boot clock (CLOCK_BOOTTIME, as /proc/PID/stat has
// them, time namespaces included) and file times on the wall clock: t is
// put on the boot clock through both clocks' readings now. A step of the
// wall clock since t moves t by as much; a step forward makes a process
// look started after its pidfile, so otpsv restarts that service once
// (its new pidfile is then right). Without the boot clock it cannot tell,
// and takes the pidfile's word.
func startedBefore(start uint64, t time.Time) bool {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return true
	}
	atBoot := time.Duration(ts.Nano()) - time.Since(t)
	return time.Duration(start)*(time.Second/clockTicks) <= atBoot+pidReuseSlack
}

// pidStamp is what a pidfile said at a moment: its pid and when it was
// written.
type pidStamp struct {
	pid     int
	written time.Time
}

// stamp is what the pidfile says now, when it decides the service's
// status (no status command); zero otherwise.
func (c *commands) stamp() pidStamp {
	if c.node.Pidfile == "" || len(c.node.Status) > 0 {
		return pidStamp{}
	}
	pid, written, err := readPidfile(c.node.Pidfile)
	if err != nil {
		return pidStamp{}
	}
	return pidStamp{pid: pid, written: written}
}

// unchanged reports whether the pidfile still says what it said at s.
func (c *commands) unchanged(s pidStamp) bool {
	now := c.stamp()
	return s.pid > 0 && now.pid == s.pid && now.written.Equal(s.written)
}

// stopPidfile stops a service through its pidfile: the service's stop
// signal to the process group of the pid the file names, then SIGKILL to
// the group after the timeout, until no process of the group is left.
// When the file names no live process of the service, it stops seen, the
// main process a check last found running, if it is still that process
// (the pidfile was deleted under it), or else what its process group still
// holds (a main process killed without its children). Without any of these
// nothing of the service runs that otpsv can tell apart: nothing is
// signalled.
func (c *commands) stopPidfile(seen procRef) error {
	target := c.pidfile().main
	if target.pid == 0 && seen.pid > 0 {
		pi, err := proc.LookupProcess(seen.pid)
		if err == nil && pi.StartTime == seen.start && pi.State != 'Z' && pi.State != 'X' {
			target = procRef{pid: seen.pid, start: seen.start, pgid: pi.Pgid}
		} else if proc.GroupAlive(seen.pgid) {
			target = procRef{pgid: seen.pgid}
		}
	}
	if target.pid == 0 && target.pgid == 0 {
		c.removeStalePidfile()
		return nil
	}
	if err := c.stopGroup(target); err != nil {
		return err
	}
	c.removeStalePidfile()
	return nil
}

// stopGroup sends the service's stop signal to the process group of main
// (and SIGCONT, so that a stopped process acts on it), SIGKILL after the
// timeout (at once on a second SIGTERM to otpsv), and waits until no
// process of the group is left. A group otpsv must not signal (its own,
// for a service that never left it) leaves the main process alone to
// signal.
func (c *commands) stopGroup(main procRef) error {
	sig := stopSignal(c.node)
	pgid := main.pgid
	if pgid <= 1 || pgid == syscall.Getpgrp() {
		if main.pid <= 0 {
			return nil
		}
		one := []proc.ProcInfo{{Pid: main.pid, StartTime: main.start}}
		return proc.SignalProcesses(context.Background(), one, sig, c.node.Timeout, c.env.hurry)
	}
	_ = syscall.Kill(-pgid, sig)
	if sig != syscall.SIGCONT && sig != syscall.SIGKILL {
		_ = syscall.Kill(-pgid, syscall.SIGCONT)
	}
	grace := time.NewTimer(c.node.Timeout)
	defer grace.Stop()
	if proc.WaitGroupGone(context.Background(), pgid, grace.C, c.env.hurry) {
		return nil
	}
	c.env.log.Warn("service's process group outlived its stop signal; killing it", "node", c.node.Path, "pgid", pgid,
		"timeout", c.node.Timeout.String())
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	ctx, cancel := context.WithTimeout(context.Background(), groupKillWait)
	defer cancel()
	if proc.WaitGroupGone(ctx, pgid, nil, nil) {
		return nil
	}
	return fmt.Errorf("process group %d: %w", pgid, proc.ErrGroupSurvived)
}

// removeStalePidfile removes, after a stop, a pidfile that names no live
// process of the service (a dead pid, one reused since, no pid at all):
// left in place it would read dirty, and the stopped service never read
// stopped. A pidfile naming a live process of the service is kept.
func (c *commands) removeStalePidfile() {
	pf := c.node.Pidfile
	if pf == "" {
		return
	}
	pid, written, err := readPidfile(pf)
	switch {
	case errors.Is(err, errBadPidfile):
	case err != nil:
		return // none, empty, or unreadable
	default:
		if _, err := mainProcess(pid, written); err == nil {
			return
		}
	}
	if err := os.Remove(pf); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.env.log.Warn("cannot remove a stale pidfile", "node", c.node.Path, "pidfile", pf, "err", err)
		return
	}
	c.env.log.Info("removed a stale pidfile", "node", c.node.Path, "pidfile", pf, "pid", pid)
}
