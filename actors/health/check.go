package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/otpsv/otpsv/actors/policy"
	"github.com/otpsv/otpsv/actors/proc"
	"github.com/otpsv/otpsv/config"
)

// ErrTimeout is wrapped by Check's error when the probe's timeout expired
// before it got an answer (or, for exec, before the command exited).
var ErrTimeout = errors.New("probe timed out")

// maxExecOutput is how much of an exec probe's output is kept: only its
// first line is shown.
const maxExecOutput = 512

// maxReasonLine bounds the first line of an exec probe's output in a
// failure reason, which goes into logs and `why`.
const maxReasonLine = 200

// ExecEnv is what an exec probe runs with (the worker's dir and environment).
type ExecEnv struct {
	Dir string
	Env []string // full environment; nil means otpsv's own
}

// Failure is why a probe failed. Its text is what operators see, e.g.
// "GET http://127.0.0.1:8080/ready: 503 Service Unavailable".
type Failure struct {
	Probe  string // the probe as config.Probe.String names it
	Reason string // "503 Service Unavailable", "connection refused", "no answer within 1s", "exit 3: ..."
	// Err is the cause, for errors.Is: ErrTimeout, a syscall.Errno,
	// ctx's error when ctx ended first; nil when the answer itself was the
	// failure (a status, an exit code).
	Err error
}

func (f *Failure) Error() string { return f.Probe + ": " + f.Reason }

func (f *Failure) Unwrap() error { return f.Err }

// Session is one probe of one worker: it keeps the probe's HTTP
// connection between runs (keep-alive) so that a probe every second does
// not pay a TCP handshake each time. Check is not safe for concurrent use
// (one run at a time); Close may be called at any time, also while a Check
// runs.
//
// What a Session keeps is one connection of an http:// probe (no
// goroutine: it is read only while a Check runs), or the idle connection
// of an https:// probe's own net/http transport, which closes it after two
// periods without use. A TCP probe connects afresh every run (that is what
// it tests); an exec probe keeps nothing.
type Session struct {
	p       *config.Probe
	env     ExecEnv
	timeout time.Duration
	keep    bool // false for Check's one run: `Connection: close`, nothing kept

	bad *Failure // the URL cannot be probed: the answer of every run

	addr string // http://: host:port to dial
	req  []byte // http://: the request, the same every run

	client *http.Client    // https://
	tr     *http.Transport // https://: the Session's own; nil in Check's one run

	mu     sync.Mutex
	conn   *net.TCPConn // http://: kept since the last run; nil when none
	closed bool
}

// NewSession prepares runs of p (a copy of it), an exec probe's with env.
// It opens nothing: the first Check connects.
func NewSession(p *config.Probe, env ExecEnv) *Session {
	return newSession(p, env, true)
}

func newSession(p *config.Probe, env ExecEnv, keep bool) *Session {
	cp := *p
	s := &Session{p: &cp, env: env, timeout: p.Timeout, keep: keep}
	if s.timeout <= 0 {
		s.timeout = policy.DefaultProbeSpec.Timeout
	}
	if s.p.Kind == config.ProbeHTTP {
		s.prepareHTTP()
	}
	return s
}

// Check runs the probe once, bounded by its timeout (and ctx), as
// Check(ctx, p, env) does. nil is success. The error is a *Failure.
func (s *Session) Check(ctx context.Context) error {
	switch s.p.Kind {
	case config.ProbeHTTP:
		switch {
		case s.bad != nil:
			f := *s.bad
			return &f
		case s.client != nil:
			return s.checkStd(ctx)
		}
		return s.checkRaw(ctx)
	case config.ProbeTCP:
		return checkTCP(ctx, s.p, s.timeout)
	case config.ProbeExec:
		return checkExec(ctx, s.p, s.env, s.timeout)
	}
	return &Failure{Probe: s.p.String(), Reason: fmt.Sprintf("unknown probe kind %d", int(s.p.Kind))}
}

// Close closes the connection the Session keeps. A Check running at the
// time closes its own connection when it returns. The Session is not to
// be used afterwards (a Check would still run, keeping nothing). Close
// may be called more than once.
func (s *Session) Close() {
	s.mu.Lock()
	c := s.conn
	s.conn, s.closed = nil, true
	s.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
	if s.tr != nil {
		s.tr.CloseIdleConnections()
	}
}

// Check runs p once, bounded by p.Timeout (and ctx). nil is success. The
// error is a *Failure.
//
// HTTP and TCP probes run in otpsv's process and leave no connection open
// behind them (a Session keeps one between runs); an exec probe runs
// through proc.Run in a process group of its own, killed whole when it
// does not exit within the timeout.
func Check(ctx context.Context, p *config.Probe, env ExecEnv) error {
	s := newSession(p, env, false)
	defer s.Close()
	return s.Check(ctx)
}

// errProbeTimeout is the cause of the context a probe runs under when its
// own timeout, not its caller's ctx, ended it.
var errProbeTimeout = errors.New("probe timeout")

// withTimeout bounds ctx by the probe's timeout, telling the two apart
// afterwards (failed).
func withTimeout(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, timeout, errProbeTimeout)
}

// failed turns err, met while probing under pctx, into a Failure: a
// timeout of the probe's own, the end of the caller's ctx, or the
// shortest text that says what went wrong.
func failed(pctx context.Context, probe string, timeout time.Duration, err error) *Failure {
	if pctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		if context.Cause(pctx) == errProbeTimeout || pctx.Err() == nil {
			return &Failure{Probe: probe, Reason: "no answer within " + timeout.String(), Err: ErrTimeout}
		}
		return &Failure{Probe: probe, Reason: pctx.Err().Error(), Err: pctx.Err()}
	}
	return &Failure{Probe: probe, Reason: shortReason(err), Err: err}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// shortReason drops the layers of "dial tcp 127.0.0.1:8080: connect:"
// that repeat what the probe's name already says.
func shortReason(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

func checkTCP(ctx context.Context, p *config.Probe, timeout time.Duration) error {
	pctx, cancel := withTimeout(ctx, timeout)
	defer cancel()
	c, err := probeDialer.DialContext(pctx, "tcp", p.Addr)
	if err != nil {
		return failed(pctx, p.String(), timeout, err)
	}
	_ = c.Close()
	return nil
}

func checkExec(ctx context.Context, p *config.Probe, env ExecEnv, timeout time.Duration) error {
	res := proc.Run(ctx, proc.Command{Argv: p.Argv, Dir: env.Dir, Env: env.Env, Timeout: timeout, MaxOutput: maxExecOutput})
	name := p.String()
	started := res.Err == nil || errors.Is(res.Err, proc.ErrGroupSurvived)
	switch {
	case (res.TimedOut || !started) && ctx.Err() != nil:
		return &Failure{Probe: name, Reason: ctx.Err().Error(), Err: ctx.Err()}
	case res.TimedOut:
		return &Failure{Probe: name, Reason: "no exit within " + timeout.String() + " (killed)", Err: ErrTimeout}
	case !started: // not found, not executable, bad dir
		return &Failure{Probe: name, Reason: innermost(res.Err).Error(), Err: res.Err}
	case res.Status.Normal():
		// What it left in its group outliving SIGKILL (ErrGroupSurvived)
		// is for the worker's stop to find; the probe itself answered.
		return nil
	}
	reason := exitReason(res.Status)
	if line := firstLine(res.Output); line != "" {
		reason += ": " + line
	}
	return &Failure{Probe: name, Reason: reason}
}

// innermost is the error at the end of err's chain: "no such file or
// directory" rather than "start /x: stat /x: no such file or directory".
func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// exitReason is "exit 3" or "killed by signal KILL".
func exitReason(s proc.ExitStatus) string {
	if s.Signal != 0 {
		return s.String()
	}
	return fmt.Sprintf("exit %d", s.Code)
}

// firstLine is the first non-blank line of out, trimmed and cut short.
func firstLine(out string) string {
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if len(line) > maxReasonLine {
			line = strings.ToValidUTF8(line[:maxReasonLine], "") + "…"
		}
		return line
	}
	return ""
}
