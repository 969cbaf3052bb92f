package actors

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"

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
	pid    int // a process found by pattern, else 0
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
		c.cmdEnv = proc.MergeEnv(os.Environ(), n.Env)
	}
	return c
}

// run runs one command of the node and logs what it printed at debug
// level; a command that exceeds the node's timeout is killed with its
// whole process group, and that is logged as a warning.
func (c *commands) run(what string, argv []string, detach bool) proc.Result {
	c.env.cmds.Add(1)
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
// one (LSB: 0 running, 3 stopped, anything else dirty), else the process
// table pattern.
func (c *commands) status() checkResult {
	if len(c.node.Status) > 0 {
		r := c.run("status", c.node.Status, false)
		switch {
		case r.Err != nil:
			return checkResult{obs: obsDirty, detail: "status command: " + r.Err.Error()}
		case r.TimedOut:
			return checkResult{obs: obsDirty, detail: fmt.Sprintf("status command hung (no answer within %s)", c.node.Timeout)}
		case r.Status.Normal():
			return checkResult{obs: obsRunning}
		case r.Status.Code == 3:
			return checkResult{obs: obsStopped, detail: "status exit 3 (stopped)"}
		}
		return checkResult{obs: obsDirty, detail: "status " + r.Status.String() + firstLine(r.Output)}
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

// stop stops a service: its stop command, or TERM (then KILL after the
// timeout) to the processes its pattern matches.
func (c *commands) stop() error {
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
		return nil
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
// node's timeout: how long a started service may take to come up. It gives
// up early when abort is closed (the worker is being stopped), on a
// second SIGTERM, or when the tree has stopped.
func (c *commands) waitRunning(abort <-chan struct{}) checkResult {
	deadline := time.Now().Add(c.node.Timeout)
	backoff := 20 * time.Millisecond
	for {
		r := c.status()
		if r.obs == obsRunning {
			return r
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
