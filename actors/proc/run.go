package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"slices"
	"strconv"
	"syscall"
	"time"
	"unicode/utf8"
)

// DefaultMaxOutput is how many bytes of a command's output Run keeps when
// Command.MaxOutput is not set.
const DefaultMaxOutput = 4096

// DefaultPath is the PATH of service commands when none is configured.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

const (
	// runGrace is how long a timed-out command, or what a finished one
	// left in its group, has between SIGTERM and SIGKILL.
	runGrace = time.Second
	// outputDrain bounds the wait for output once the command's process
	// has exited (and, unless detached, its group is empty): a process
	// that left the group or session with our pipe as its stdout would
	// otherwise hold Run until it exits.
	outputDrain = 50 * time.Millisecond
)

// Command is a command run to completion by Run.
type Command struct {
	Argv []string
	Dir  string
	Env  []string // full environment; nil means otpsv's own (see CleanEnv)
	// Timeout bounds the run; 0 means only ctx does.
	Timeout time.Duration
	// MaxOutput is how many bytes of the combined stdout and stderr are
	// kept; 0 means DefaultMaxOutput.
	MaxOutput int
	// Detach runs the command in a session of its own instead of a
	// process group of its own: for the start command of a daemonizing
	// service, whose daemon must outlive otpsv. See Run for what changes.
	Detach bool
}

// Result is how a command run by Run ended.
type Result struct {
	// Status is the exit status of the command's process. After a timeout
	// it is usually death by SIGTERM or SIGKILL.
	Status ExitStatus
	// Output is the combined stdout and stderr, cut to MaxOutput bytes
	// (at a UTF-8 boundary) followed by "…[truncated N bytes]" when longer.
	Output string
	// Duration is the time from start until the command's process was
	// reaped (after a timeout: killed and reaped).
	Duration time.Duration
	// TimedOut reports that Command.Timeout or ctx's deadline expired
	// before the command exited, and the command's group was killed.
	TimedOut bool
	// Err is why the command did not start (not found, not executable,
	// bad Dir, or ctx already done), ctx's error when ctx was cancelled
	// (not timed out) before the command exited, or an error wrapping
	// ErrGroupSurvived when processes of the command's group outlived
	// SIGKILL.
	Err error
}

// Run starts c through Start (so the reaper collects it), waits for it to
// exit, and returns its status and combined output. Run never uses
// os/exec's Cmd.Wait; it never waits longer than c.Timeout (or ctx) plus
// the kill grace period.
//
// On timeout (c.Timeout, or ctx's deadline), or when ctx is cancelled, the
// command's process group is sent SIGTERM, then SIGKILL after one second,
// and Run returns once the group is empty.
//
// Without Detach, nothing the command started in its process group outlives
// Run: once the command exits, what it left in its group (a status script's
// background `sleep`) is sent SIGTERM, then SIGKILL after one second.
//
// With Detach, the command leads a new session and, when it exits 0, what
// it leaves behind is not touched: that is the daemon a start command
// forks. A detached command that fails (non-zero exit or death by signal)
// gets its group cleaned as above, so a failed start leaves nothing of its
// own behind; a daemon that moved to a session of its own is never touched.
//
// Output is read through a pipe until every writer has closed it, except
// that Run stops reading 50ms after the command's process has exited and,
// unless detached, its group is empty. That is what lets a daemonizing
// start command return: its daemon usually inherits the pipe as stdout and
// never closes it. Run then closes the pipe, so a daemon that later
// writes to that inherited stdout or stderr gets EPIPE, or dies of
// SIGPIPE unless it ignores it: a start command must redirect its daemon's
// streams (`>/dev/null 2>&1`, or to a log file), as init scripts and
// start-stop-daemon do. The same bound applies to a non-detached command's
// process that escaped its group with the pipe.
func Run(ctx context.Context, c Command) Result {
	limit := c.MaxOutput
	if limit <= 0 {
		limit = DefaultMaxOutput
	}
	if err := ctx.Err(); err != nil {
		return Result{Err: err}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return Result{Err: fmt.Errorf("run %s: %w", argv0(c.Argv), err)}
	}
	defer r.Close()
	// Spec has no *os.File output: the child gets the pipe's write end by
	// reopening it through its /proc/self/fd path, which for a pipe opens
	// the same pipe. Both streams share that one open file.
	out := Output{Path: fdPath(w)}
	p, err := Start(Spec{Argv: c.Argv, Dir: c.Dir, Env: c.Env, Stdout: out, Stderr: out, Detach: c.Detach})
	_ = w.Close() // the child holds its own copy; EOF comes when it and its heirs close theirs
	if err != nil {
		return Result{Err: err}
	}

	capt := &capture{max: limit}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		capt.readFrom(r)
	}()

	var timeout <-chan time.Time
	if c.Timeout > 0 {
		t := time.NewTimer(c.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	var res Result
	select {
	case <-p.Done():
	case <-timeout:
		res.TimedOut = true
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			res.TimedOut = true
		} else {
			res.Err = ctx.Err()
		}
	}
	if p.Exited() && (res.TimedOut || res.Err != nil) {
		// It exited as time ran out: not a timeout, whichever select saw.
		res.TimedOut, res.Err = false, nil
	}
	res.Duration = time.Since(p.Started)

	// Stops are bounded by the grace period and killWait, not by ctx,
	// which may be what just expired.
	stopCtx := context.WithoutCancel(ctx)
	killed := res.TimedOut || res.Err != nil
	if killed || !c.Detach || !p.Status().Normal() {
		if err := p.Stop(stopCtx, syscall.SIGTERM, runGrace, nil); err != nil {
			res.Err = errors.Join(res.Err, err)
		}
		if killed {
			res.Duration = time.Since(p.Started)
		}
	}
	if p.Exited() {
		res.Status = p.Status()
	} else { // stuck (D state) past SIGKILL: res.Err says so
		res.Status = ExitStatus{Code: -1}
	}

	_ = r.SetReadDeadline(time.Now().Add(outputDrain))
	<-readDone
	res.Output = capt.String()
	return res
}

func argv0(argv []string) string {
	if len(argv) == 0 {
		return "(empty)"
	}
	return argv[0]
}

// capture keeps the first max bytes written and counts the rest.
type capture struct {
	max     int
	buf     []byte
	dropped int64
}

// readFrom reads r until EOF, an error or its read deadline: straight into
// buf while there is room, then into a scratch buffer only to count.
func (c *capture) readFrom(r io.Reader) {
	var scratch []byte
	for {
		keep := len(c.buf) < c.max
		var dst []byte
		if keep {
			if len(c.buf) == cap(c.buf) {
				c.buf = slices.Grow(c.buf, min(c.max-len(c.buf), max(cap(c.buf), 4096)))
			}
			dst = c.buf[len(c.buf):min(cap(c.buf), c.max)]
		} else {
			if scratch == nil {
				scratch = make([]byte, 16<<10)
			}
			dst = scratch
		}
		n, err := r.Read(dst)
		if keep {
			c.buf = c.buf[:len(c.buf)+n]
		} else {
			c.dropped += int64(n)
		}
		if err != nil {
			return
		}
	}
}

func (c *capture) String() string {
	if c.dropped == 0 {
		return string(c.buf)
	}
	kept := c.buf
	// Do not end on half a character: back up over an incomplete rune.
	for i := 1; i < utf8.UTFMax && i <= len(kept); i++ {
		if b := kept[len(kept)-i]; utf8.RuneStart(b) {
			if !utf8.FullRune(kept[len(kept)-i:]) {
				kept = kept[:len(kept)-i]
			}
			break
		}
	}
	dropped := c.dropped + int64(len(c.buf)-len(kept))
	return string(kept) + "…[truncated " + strconv.FormatInt(dropped, 10) + " bytes]"
}

// CleanEnv returns the environment service commands run with, the same
// whether otpsv was started from a login shell, cron or an init system,
// and nothing else:
//
//   - PATH: path, or DefaultPath when path is empty;
//   - HOME, USER, LOGNAME: otpsv's own values, or when unset those of the
//     user otpsv runs as, from the password database (omitted if unknown);
//   - LANG and LC_ALL: otpsv's own values, only when set;
//   - TERM=dumb.
func CleanEnv(path string) []string {
	if path == "" {
		path = DefaultPath
	}
	env := []string{"PATH=" + path}
	var u *user.User
	lookup := func() *user.User {
		if u == nil {
			if cu, err := user.Current(); err == nil {
				u = cu
			} else {
				u = &user.User{}
			}
		}
		return u
	}
	for _, k := range []string{"HOME", "USER", "LOGNAME"} {
		v, ok := os.LookupEnv(k)
		if !ok {
			if k == "HOME" {
				v = lookup().HomeDir
			} else {
				v = lookup().Username
			}
		}
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	for _, k := range []string{"LANG", "LC_ALL"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, "TERM=dumb")
}

// rawFd is f's descriptor, read without File.Fd's switch to blocking mode.
func rawFd(f *os.File) int {
	fd := -1
	if sc, err := f.SyscallConn(); err == nil {
		_ = sc.Control(func(u uintptr) { fd = int(u) })
	}
	return fd
}
