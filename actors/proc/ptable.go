package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

// pfKthread is PF_KTHREAD in the flags field of /proc/<pid>/stat.
const pfKthread = 0x00200000

// errGone says a process has exited (zombies included) or its pid now
// belongs to another process.
var errGone = errors.New("process gone")

// ProcInfo is one process of the process table, as read from
// /proc/<pid>/stat and /proc/<pid>/cmdline.
type ProcInfo struct {
	Pid, PPid, Pgid, Sid int
	// State is the state letter of stat's field 3: 'R', 'S', 'D', 'T',
	// 'Z' (zombie: exited, not yet reaped; its Cmdline is empty), ...
	State byte
	// StartTime is stat's field 22, the start time in clock ticks since
	// boot. Pid plus StartTime name a process: a reused pid has a later one.
	StartTime uint64
	// Cmdline is the argv joined by single spaces (NUL bytes replaced).
	Cmdline string
	// Comm is the executable's name as the kernel keeps it (15 bytes max).
	Comm string
}

// ScanProcesses reads the process table from /proc: one ProcInfo per
// process (not per thread). Kernel threads are left out; zombies are kept,
// with State 'Z' and an empty Cmdline. A process that exits during the scan,
// or whose files are not readable (hidepid), is silently left out; only a
// failure to list /proc is an error.
func ScanProcesses() ([]ProcInfo, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, fmt.Errorf("scan processes: %w", err)
	}
	names, err := d.Readdirnames(-1)
	_ = d.Close()
	if err != nil {
		return nil, fmt.Errorf("scan processes: %w", err)
	}
	var r procReader
	out := make([]ProcInfo, 0, len(names))
	for _, name := range names {
		if !isDigits(name) {
			continue
		}
		b, err := r.read("/proc/" + name + "/stat")
		if err != nil {
			continue // exited since the listing, or hidden from us
		}
		pi, flags, err := parseStat(b)
		if err != nil || flags&pfKthread != 0 {
			continue
		}
		if pi.State != 'Z' { // a zombie has no memory left: no argv
			b, err := r.read("/proc/" + name + "/cmdline")
			if err != nil {
				continue
			}
			pi.Cmdline = joinArgv(b)
		}
		out = append(out, pi)
	}
	return out, nil
}

// LookupProcess reads one process's entry. The error wraps
// os.ErrProcessDone when there is no process pid (a zombie is still found,
// with State 'Z').
func LookupProcess(pid int) (ProcInfo, error) {
	var r procReader
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	b, err := r.read(dir + "stat")
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ESRCH) {
			err = os.ErrProcessDone
		}
		return ProcInfo{}, fmt.Errorf("process %d: %w", pid, err)
	}
	pi, _, err := parseStat(b)
	if err != nil {
		return ProcInfo{}, fmt.Errorf("process %d: %w", pid, err)
	}
	if pi.State != 'Z' {
		if b, err := r.read(dir + "cmdline"); err == nil {
			pi.Cmdline = joinArgv(b)
		}
	}
	return pi, nil
}

// FindByPattern returns the processes whose Cmdline re matches (unanchored,
// as re.MatchString does), leaving out:
//
//   - zombies, and processes with an empty Cmdline;
//   - otpsv's own process and every one of its ancestors (parent, the
//     shell or cron that started it, ... up to init): their command lines
//     may well contain the pattern's text (`sh -c 'otpsv ... pattern'`),
//     and stopping a service by pattern must never hit otpsv or its
//     caller;
//   - processes for which exclude, when not nil, returns true.
func FindByPattern(re *regexp.Regexp, exclude func(ProcInfo) bool) ([]ProcInfo, error) {
	if re == nil {
		return nil, errors.New("find by pattern: nil pattern")
	}
	procs, err := ScanProcesses()
	if err != nil {
		return nil, err
	}
	self := ancestry(procs, os.Getpid())
	var found []ProcInfo
	for _, p := range procs {
		if p.State == 'Z' || p.Cmdline == "" || self[p.Pid] {
			continue
		}
		if !re.MatchString(p.Cmdline) || (exclude != nil && exclude(p)) {
			continue
		}
		found = append(found, p)
	}
	return found, nil
}

// ancestry returns pid and its ancestors in procs.
func ancestry(procs []ProcInfo, pid int) map[int]bool {
	parent := make(map[int]int, len(procs))
	for _, p := range procs {
		parent[p.Pid] = p.PPid
	}
	set := map[int]bool{}
	for pid > 0 && !set[pid] {
		set[pid] = true
		pid = parent[pid] // 0 past init, or for a parent outside our pid namespace
	}
	return set
}

// SignalProcesses sends sig to each process of procs, then SIGKILL to those
// still alive after grace (or at once when hurry is closed, or ctx ends),
// and waits until all are gone. Before each signal the process's start time
// is read again: a process whose pid was reused since procs was read is
// never signalled (with a pidfd, so not even in between; kernels before
// 5.3 leave a window of microseconds). Zombies count as gone. The error
// wraps ErrGroupSurvived and names the pids still alive killWait after
// SIGKILL (or when ctx ended).
func SignalProcesses(ctx context.Context, procs []ProcInfo, sig syscall.Signal, grace time.Duration, hurry <-chan struct{}) error {
	failed := map[int]error{}
	live := signalEach(procs, sig, failed)
	if sig != syscall.SIGCONT && sig != syscall.SIGKILL {
		// A stopped (SIGSTOP) process would never act on sig.
		live = signalEach(live, syscall.SIGCONT, nil)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	if live = waitProcsGone(ctx, live, timer.C, hurry); len(live) == 0 {
		return nil
	}
	live = signalEach(live, syscall.SIGKILL, failed)
	kctx, cancel := context.WithTimeout(ctx, killWait)
	defer cancel()
	if live = waitProcsGone(kctx, live, nil, nil); len(live) == 0 {
		return nil
	}
	pids := make([]int, len(live))
	errs := []error{nil}
	for i, p := range live {
		pids[i] = p.Pid
		if err := failed[p.Pid]; err != nil {
			errs = append(errs, fmt.Errorf("signal %d: %w", p.Pid, err))
		}
	}
	errs[0] = fmt.Errorf("pids %v: %w", pids, ErrGroupSurvived)
	return errors.Join(errs...)
}

// signalEach signals the processes of procs that are still the same and
// alive, and returns those; a signal that fails otherwise is recorded in
// failed (when not nil), and its process is kept.
func signalEach(procs []ProcInfo, sig syscall.Signal, failed map[int]error) []ProcInfo {
	var live []ProcInfo
	for _, p := range procs {
		err := signalSame(p, sig)
		if errors.Is(err, errGone) {
			continue
		}
		if err != nil && failed != nil {
			failed[p.Pid] = err
		}
		live = append(live, p)
	}
	return live
}

// waitProcsGone polls until every process of procs is gone, and returns
// those left when stop or hurry fires or ctx ends first. Polling starts at
// 1ms: they are not our children, so their exits give us no event.
func waitProcsGone(ctx context.Context, procs []ProcInfo, stop <-chan time.Time, hurry <-chan struct{}) []ProcInfo {
	var r procReader
	backoff := time.Millisecond
	for {
		live := procs[:0:0]
		for _, p := range procs {
			if r.same(p) {
				live = append(live, p)
			}
		}
		if procs = live; len(procs) == 0 {
			return nil
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			return procs
		case <-hurry:
			t.Stop()
			return procs
		case <-ctx.Done():
			t.Stop()
			return procs
		}
		if backoff < 50*time.Millisecond {
			backoff *= 2
		}
	}
}

// procReader reads small /proc files into a buffer it reuses.
type procReader struct {
	buf []byte
}

// read returns the content of the file at path, valid until the next read.
// A read shorter than the room offered ends it: procfs files give all they
// have (stat, cmdline) in one read when the buffer is large enough, and
// that saves a syscall per file.
func (r *procReader) read(path string) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	return r.readFd(fd)
}

// readFd is read for a file already open.
func (r *procReader) readFd(fd int) ([]byte, error) {
	if r.buf == nil {
		r.buf = make([]byte, 0, 1024)
	}
	r.buf = r.buf[:0]
	for {
		if len(r.buf) == cap(r.buf) {
			r.buf = append(r.buf, make([]byte, cap(r.buf))...)[:len(r.buf)]
		}
		room := r.buf[len(r.buf):cap(r.buf)]
		n, err := syscall.Read(fd, room)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		r.buf = r.buf[:len(r.buf)+n]
		if n < len(room) {
			return r.buf, nil
		}
	}
}

// same reports whether p is alive (not a zombie) and still the process
// that had its pid when p was read.
func (r *procReader) same(p ProcInfo) bool {
	b, err := r.read("/proc/" + strconv.Itoa(p.Pid) + "/stat")
	if err != nil {
		return false
	}
	cur, _, err := parseStat(b)
	return err == nil && cur.StartTime == p.StartTime && cur.State != 'Z' && cur.State != 'X'
}

// parseStat parses /proc/<pid>/stat. The command name (field 2) is in
// parentheses and may itself hold spaces and parentheses, so the fields
// after it are taken from after the last ')'. It returns the flags field
// (9) too.
func parseStat(b []byte) (pi ProcInfo, flags uint64, err error) {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return ProcInfo{}, 0, fmt.Errorf("malformed stat %q", b)
	}
	pid, ok := parseUint(bytes.TrimSpace(b[:open]))
	if !ok {
		return ProcInfo{}, 0, fmt.Errorf("malformed stat %q", b)
	}
	pi.Pid = int(pid)
	pi.Comm = string(b[open+1 : end])
	// Fields from 3 on, numbered from the kernel's proc(5) list.
	rest := b[end+1:]
	field := 2
	for len(rest) > 0 && field < 22 {
		for len(rest) > 0 && rest[0] == ' ' {
			rest = rest[1:]
		}
		i := bytes.IndexByte(rest, ' ')
		if i < 0 {
			i = len(rest)
		}
		tok := bytes.TrimRight(rest[:i], "\n")
		rest = rest[i:]
		if len(tok) == 0 {
			break
		}
		field++
		var v uint64
		switch field {
		case 3:
			pi.State = tok[0]
			continue
		case 4, 5, 6, 9, 22:
			if v, ok = parseUint(tok); !ok {
				return ProcInfo{}, 0, fmt.Errorf("malformed stat field %d %q", field, tok)
			}
		default:
			continue
		}
		switch field {
		case 4:
			pi.PPid = int(v)
		case 5:
			pi.Pgid = int(v)
		case 6:
			pi.Sid = int(v)
		case 9:
			flags = v
		case 22:
			pi.StartTime = v
		}
	}
	if field < 22 {
		return ProcInfo{}, 0, fmt.Errorf("malformed stat: %d fields", field)
	}
	return pi, flags, nil
}

func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// joinArgv turns cmdline's NUL-separated argv into words joined by single
// spaces. Trailing NULs (the terminator, or padding left by a process that
// rewrote its argv) are dropped.
func joinArgv(b []byte) string {
	b = bytes.TrimRight(b, "\x00")
	for i, c := range b {
		if c == 0 {
			b[i] = ' '
		}
	}
	return string(b)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// startTimeOf reads only the start time of pid (stat's field 22), on the
// path of every start: no cmdline (reading a new process's cmdline waits
// on its memory map), no allocation.
func startTimeOf(pid int) (uint64, error) {
	var buf [512]byte
	r := procReader{buf: buf[:0]}
	b, err := r.read("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	pi, _, err := parseStat(b)
	return pi.StartTime, err
}
