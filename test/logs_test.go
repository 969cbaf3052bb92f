package test

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Tests of workers' `log:` (SPEC §8): each such worker writes into pipes
// read by a logger process of its own, `otpsv log-writer`, a child of the
// daemon that survives it.

// logGuard bounds the waits of the log tests: for lines to reach a file,
// for a logger to exit. A hang guard, never a success condition.
const logGuard = 60 * time.Second

var (
	logfixOnce sync.Once
	logfixPath string
	logfixErr  error
)

// logfixBin builds test/testdata/logfix once, beside the binaries
// TestMain built (and removes).
func logfixBin(t *testing.T) string {
	t.Helper()
	logfixOnce.Do(func() {
		out := filepath.Join(filepath.Dir(otpsvBin), "logfix")
		cmd := exec.Command("go", "build", "-o", out, "./test/testdata/logfix")
		cmd.Dir = ".." // the module root
		if b, err := cmd.CombinedOutput(); err != nil {
			logfixErr = fmt.Errorf("go build ./test/testdata/logfix: %v\n%s", err, b)
			return
		}
		logfixPath = out
	})
	if logfixErr != nil {
		t.Fatal(logfixErr)
	}
	return logfixPath
}

// logWS is a workspace whose workers run logfix.
type logWS struct {
	*workspace
	bin string // logfix (a copy nobody can run, for unprivileged daemons)
}

func newLogWS(t *testing.T) *logWS {
	t.Helper()
	return wrapLogWS(newWorkspace(t), logfixBin(t))
}

// wrapLogWS makes w a logfix workspace running bin. Cleanup kills what
// the test left: logfix processes named in the ready file, and loggers
// writing under the workspace (found by their command line).
func wrapLogWS(w *workspace, bin string) *logWS {
	lw := &logWS{workspace: w, bin: bin}
	w.t.Cleanup(lw.killLeftovers)
	return lw
}

// cmd returns the YAML flow sequence that runs logfix as name.
func (w *logWS) cmd(name string, args ...string) string {
	argv := append([]string{w.bin, "-name", name, "-ready", w.ready}, args...)
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func (w *logWS) killLeftovers() {
	lines, _ := parseReady(w.ready)
	for _, l := range lines {
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", l.pid)); err == nil && exe == w.bin && !dead(l.pid) {
			w.t.Logf("cleanup: killing leftover logfix %d", l.pid)
			_ = syscall.Kill(l.pid, syscall.SIGKILL)
		}
	}
	for _, p := range procTable() {
		args := cmdline(p.pid)
		if len(args) > 1 && args[1] == "log-writer" && !p.zombie() && slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, w.dir) }) {
			w.t.Logf("cleanup: killing leftover logger %d %q", p.pid, args)
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
}

// logFile is the log file of the worker at path.
func (w *logWS) logFile(path string) string {
	return filepath.Join(w.stateDir, "logs", strings.ReplaceAll(path, "/", "_")+".log")
}

// daemonStdout is the file the daemon's stdout goes to (runDaemon's),
// for the one daemon the test started in w.
func (w *logWS) daemonStdout() string {
	w.t.Helper()
	m, _ := filepath.Glob(filepath.Join(w.dir, "daemon-*.stdout"))
	if len(m) != 1 {
		w.t.Fatalf("daemon stdout files %v, want one", m)
	}
	return m[0]
}

// loggersOf returns the live logger processes whose parent is ppid.
func loggersOf(ppid int) []int {
	var out []int
	for _, p := range procTable() {
		if p.ppid != ppid || p.zombie() {
			continue
		}
		if args := cmdline(p.pid); len(args) > 1 && args[1] == "log-writer" {
			out = append(out, p.pid)
		}
	}
	return out
}

// waitUntil polls cond until it holds, failing the test after logGuard.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(logGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, logGuard)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not a success condition
	}
}

// waitLines waits until the file holds at least n whole lines, and
// returns them.
func waitLines(t *testing.T, path string, n int, keep func(string) bool) []string {
	t.Helper()
	var lines []string
	waitUntil(t, fmt.Sprintf("%d lines in %s", n, path), func() bool {
		lines = readLines(path, keep)
		return len(lines) >= n
	})
	return lines
}

// readLines returns the whole lines of the file that keep accepts.
func readLines(path string, keep func(string) bool) []string {
	b, _ := os.ReadFile(path)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	} else {
		b = nil
	}
	var out []string
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if l != "" && (keep == nil || keep(l)) {
			out = append(out, strings.TrimSuffix(l, "\n"))
		}
	}
	return out
}

// requireExited waits until every pid is gone or a zombie.
func requireExited(t *testing.T, pids []int, what string) {
	t.Helper()
	for _, pid := range pids {
		waitUntil(t, fmt.Sprintf("%s (pid %d) exits", what, pid), func() bool { return dead(pid) })
	}
}

// stampLen is the width of a log timestamp: RFC 3339, UTC, microseconds.
const stampLen = len("2006-01-02T15:04:05.000000Z")

// checkStamp fails unless s is a log timestamp between from and to.
func checkStamp(t *testing.T, s string, from, to time.Time) {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	switch {
	case err != nil || len(s) != stampLen || !strings.HasSuffix(s, "Z"):
		t.Errorf("timestamp %q: want RFC 3339 UTC with microseconds (%v)", s, err)
	case ts.Before(from.Add(-time.Second)) || ts.After(to.Add(time.Second)):
		t.Errorf("timestamp %s: not between %s and %s", ts, from, to)
	}
}

// checkStreamLines checks lines "<stamp> <prefix>[<mark>](out|err) <i>":
// out 0..nOut-1 and err 0..nErr-1 each once, err lines marked with mark
// ("" for none), out lines never.
func checkStreamLines(t *testing.T, lines []string, prefix, mark string, nOut, nErr int, from, to time.Time) {
	t.Helper()
	re := regexp.MustCompile(`^(\S+) ` + regexp.QuoteMeta(prefix) + `(stderr: )?(out|err) (\d+)$`)
	seen := map[string]int{}
	for _, l := range lines {
		m := re.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("line %q: want <time> %s[%s](out|err) <n>", l, prefix, mark)
			continue
		}
		checkStamp(t, m[1], from, to)
		if wantMark := map[string]string{"out": "", "err": mark}[m[3]]; m[2] != wantMark {
			t.Errorf("line %q: mark %q, want %q", l, m[2], wantMark)
		}
		seen[m[3]+" "+m[4]]++
	}
	for s, n := range map[string]int{"out": nOut, "err": nErr} {
		for i := range n {
			if c := seen[fmt.Sprintf("%s %d", s, i)]; c != 1 {
				t.Errorf("%q: %d times, want once", fmt.Sprintf("%s %d", s, i), c)
			}
		}
	}
	if len(lines) != nOut+nErr {
		t.Errorf("%d lines, want %d", len(lines), nOut+nErr)
	}
}

// stampsAndPrefixes runs TestLogTimestampsAndPrefix's checks with daemons
// that start returns (as root or not): worker f logs to its file with
// timestamps and a prefix, worker s to otpsv's stdout with the defaults
// (timestamps, "{path}: ", stderr marked). When the daemon stops, both
// workers and both loggers are gone.
func stampsAndPrefixes(t *testing.T, w *logWS, start func(cfg string) *daemon) {
	t.Helper()
	const fOut, fErr, sOut, sErr = 50, 30, 40, 20
	cfg := w.config(fmt.Sprintf(`tree:
  name: site
  strategy: one_for_one
  children:
    - name: f
      command: %s
      log:
        timestamps: true
        prefix: "[{name}] "
    - name: s
      command: %s
      log:
        to: stdout
`, w.cmd("f", "-out", strconv.Itoa(fOut), "-err", strconv.Itoa(fErr)), w.cmd("s", "-out", strconv.Itoa(sOut), "-err", strconv.Itoa(sErr))))
	from := time.Now()
	d := start(cfg)
	ctlWaitAll(t, d.events, is("tree started"), is("daemon started"))
	f, s := d.waitReady("f", 1), d.waitReady("s", 1)
	loggers := loggersOf(d.pid())
	if len(loggers) != 2 {
		t.Errorf("loggers of the daemon: %v, want 2", loggers)
	}
	fileLines := waitLines(t, w.logFile("site/f"), fOut+fErr, nil)
	outLines := waitLines(t, w.daemonStdout(), sOut+sErr, func(l string) bool { return strings.Contains(l, " site/s: ") })
	to := time.Now()
	checkStreamLines(t, fileLines, "[f] ", "", fOut, fErr, from, to)
	checkStreamLines(t, outLines, "site/s: ", "stderr: ", sOut, sErr, from, to)
	if other := readLines(w.daemonStdout(), func(l string) bool { return !strings.Contains(l, " site/s: ") }); len(other) > 0 {
		t.Errorf("other lines on the daemon's stdout: %q", other)
	}
	requireMode(t, w.logFile("site/f"), 0o640&^processUmask(t))

	d.stop()
	requireExited(t, []int{f.pid, s.pid}, "worker")
	requireExited(t, loggers, "logger")
}

// TestLogTimestampsAndPrefix: lines of both streams reach the log with a
// timestamp and the prefix, to a file and to otpsv's stdout, where
// stderr lines are marked; the loggers exit with their workers.
func TestLogTimestampsAndPrefix(t *testing.T) {
	begin(t)
	w := newLogWS(t)
	stampsAndPrefixes(t, w, w.startDaemon)
}

// TestLogUnprivileged is TestLogTimestampsAndPrefix with a daemon of an
// ordinary user: its loggers run as that user and create the log files.
func TestLogUnprivileged(t *testing.T) {
	begin(t)
	u := newUnprivBase(t)
	bin := filepath.Join(u.dir, "logfix")
	if err := copyExecutable(logfixBin(t), bin); err != nil {
		t.Fatal(err)
	}
	w := wrapLogWS(u.workspace("logs"), bin)
	stampsAndPrefixes(t, w, func(cfg string) *daemon { return u.startDaemon(w.workspace, cfg) })
	requireOwner(t, w.logFile("site/f"), nobody)
}

// TestLogRotation: a worker writes 50 MiB of numbered, checksummed lines
// as fast as the pipe takes them, through a log rotated at 1 MiB. Every
// line is there once, whole and in order, across the files, and no file
// is over 1 MiB.
func TestLogRotation(t *testing.T) {
	begin(t)
	w := newLogWS(t)
	const (
		total   = 50 << 20
		maxSize = 1 << 20
		keep    = 100
	)
	d := w.startDaemon(w.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: w
      command: %s
      log:
        max_size: 1MiB
        keep: %d
`, w.cmd("w", "-bytes", strconv.Itoa(total)), keep)))
	waitFor(t, d.events, is("tree started"))
	loggers := loggersOf(d.pid())
	d.waitReady("w", 1) // all written into the pipe
	file := w.logFile("site/w")
	waitUntil(t, "the last line in "+file, func() bool {
		b, _ := os.ReadFile(file)
		return bytes.Contains(b, []byte("\nend "))
	})
	d.stop()
	requireExited(t, loggers, "logger")

	var all []byte
	files := 0
	for i := keep; i >= 0; i-- {
		p := file
		if i > 0 {
			p += "." + strconv.Itoa(i)
		}
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if i == keep {
			t.Errorf("%s exists: rotation may have removed older lines; raise keep", p)
		}
		if len(b) > maxSize {
			t.Errorf("%s: %d bytes, over max_size %d", p, len(b), maxSize)
		}
		files++
		all = append(all, b...)
	}
	if files < total/maxSize {
		t.Errorf("%d files, want at least %d", files, total/maxSize)
	}
	lines := strings.Split(strings.TrimSuffix(string(all), "\n"), "\n")
	last := lines[len(lines)-1]
	n, err := strconv.Atoi(strings.TrimPrefix(last, "end "))
	if err != nil || !strings.HasPrefix(last, "end ") {
		t.Fatalf("last line %q, want end <lines>", last)
	}
	lines = lines[:len(lines)-1]
	if len(lines) != n {
		t.Errorf("%d lines, want %d", len(lines), n)
	}
	bad := 0
	for i, l := range lines {
		f := strings.SplitN(l, " ", 3)
		ok := len(f) == 3 && f[0] == strconv.Itoa(i) && f[1] == strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(f[2]))), 16)
		if !ok {
			if bad++; bad <= 5 {
				t.Errorf("line %d: %q, want line %d whole", i, l, i)
			}
		}
	}
}

// readProgress reads logfix's -progress file: the lines it has written.
func readProgress(path string) int {
	b, _ := os.ReadFile(path)
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// TestLogKill9Adoption: a kill -9 of the daemon while a worker writes
// continuously neither kills the worker (SIGPIPE) nor blocks it: it goes
// on writing more than a pipe holds. A new daemon adopts it (same pid)
// and starts no logger of its own: the logger of the first daemon goes on
// writing, and the lines written after the adoption reach the log, none
// lost. When the second daemon stops the worker, that logger exits.
func TestLogKill9Adoption(t *testing.T) {
	begin(t)
	w := newLogWS(t)
	progress := filepath.Join(w.dir, "progress")
	cfg := w.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: w
      command: %s
      log:
        timestamps: true
`, w.cmd("w", "-stream", "-progress", progress)))
	d1 := w.startDaemon(cfg)
	ctlWaitAll(t, d1.events, is("tree started"), is("daemon started"))
	worker := d1.waitReady("w", 1)
	loggers := loggersOf(d1.pid())
	if len(loggers) != 1 {
		t.Fatalf("loggers of the daemon: %v, want 1", loggers)
	}
	file := w.logFile("site/w")
	waitLines(t, file, 100, nil)

	d1.signal(syscall.SIGKILL)
	d1.wait(exitGuard)
	// 2000 lines of 100 bytes: three times what a pipe holds.
	p0 := readProgress(progress)
	waitUntil(t, "the worker writes 2000 lines with no daemon", func() bool {
		if dead(worker.pid) {
			t.Fatalf("worker %d died with the daemon", worker.pid)
		}
		return readProgress(progress) >= p0+2000
	})
	requireAlive(t, loggers[0], "logger")

	d2 := w.startDaemon(cfg)
	if ad := waitFor(t, d2.events, is("adopted", "node", "site/w")); ad.num("pid") != worker.pid {
		t.Fatalf("adopted %v, want pid %d", ad, worker.pid)
	}
	if l := loggersOf(d2.pid()); len(l) != 0 {
		t.Errorf("the new daemon started loggers %v for an adopted worker", l)
	}
	p1 := readProgress(progress)
	seqOf := func(l string) int {
		if len(l) <= stampLen {
			return -1
		}
		n, err := strconv.Atoi(strings.Fields(l[stampLen+1:])[0])
		if err != nil {
			return -1
		}
		return n
	}
	waitUntil(t, fmt.Sprintf("line %d (written after the adoption) in %s", p1+100, file), func() bool {
		lines := readLines(file, nil)
		return len(lines) > 0 && seqOf(lines[len(lines)-1]) >= p1+100
	})
	d2.stop()
	requireExited(t, []int{worker.pid}, "worker")
	requireExited(t, loggers, "logger")

	lines := readLines(file, nil)
	bad := 0
	for i, l := range lines {
		if seqOf(l) != i || len(l) != stampLen+1+99 {
			if bad++; bad <= 5 {
				t.Errorf("line %d: %q, want line %d whole", i, l, i)
			}
		}
	}
}

// TestLogNoPipeLeft: a worker that restarts many times and one whose
// command cannot start, both with a log, leave the daemon holding no pipe
// beyond its stdio, and no logger but the running worker's.
func TestLogNoPipeLeft(t *testing.T) {
	begin(t)
	w := newLogWS(t)
	const runs = 20
	d := w.startDaemon(w.config(fmt.Sprintf(`tree:
  name: site
  intensity: 100
  period: 60s
  children:
    - name: flap
      command: %s
      backoff: none
      log: {}
    - name: missing
      restart: temporary
      command: [%q]
      log: {}
`, cmdOf(fixtureBin, "-name", "flap", "-ready", w.ready, "-log-line", "hi", "-exit-after", "1ms", "-exit-runs", strconv.Itoa(runs)),
		filepath.Join(w.dir, "no-such-program"))))
	last := d.waitReady("flap", runs+1)
	// Nothing is starting now, and a start closes the daemon's copies of
	// its pipes as soon as the worker is forked: the daemon holds none.
	// (Right away: the garbage collector would close leaked ones later.)
	// Pipes the daemon inherited (the test's own, through go test) are
	// the test's too; a log pipe is the daemon's alone.
	inherited := map[string]bool{}
	for _, fd := range fdLinks(os.Getpid()) {
		inherited[fd] = true
	}
	for deadline := time.Now().Add(reapGrace); ; {
		var pipes []string
		for fd, link := range fdLinks(d.pid()) {
			if fd > 2 && strings.HasPrefix(link, "pipe:") && !inherited[link] {
				pipes = append(pipes, fmt.Sprintf("%d -> %s", fd, link))
			}
		}
		if len(pipes) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon still holds pipes %v", pipes)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not a success condition
	}
	// Each ended run's logger, and the one of the start that failed, saw
	// EOF and exited.
	waitUntil(t, "one logger left", func() bool { return len(loggersOf(d.pid())) == 1 })
	// Each run's two lines, one per stream.
	for _, l := range waitLines(t, w.logFile("site/flap"), 2*(runs+1), nil) {
		if l != "out: hi" && l != "err: hi" {
			t.Errorf("flap's log: line %q", l)
		}
	}
	loggers := loggersOf(d.pid())
	d.stop()
	requireExited(t, []int{last.pid}, "worker")
	requireExited(t, loggers, "logger")
}

// fdLinks returns what each open descriptor of pid is.
func fdLinks(pid int) map[int]string {
	out := map[int]string{}
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if link, lerr := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name())); err == nil && lerr == nil {
			out[fd] = link
		}
	}
	return out
}

// TestLogOneshotPass: a pass starts a worker with a log and exits at
// once (its logger holds nothing of the pass's); the worker and its
// logger outlive it, detached, and the lines keep reaching the file. The
// logger exits when the worker is killed.
func TestLogOneshotPass(t *testing.T) {
	begin(t)
	w := newLogWS(t)
	progress := filepath.Join(w.dir, "progress")
	cfg := w.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: w
      command: %s
      log:
        timestamps: true
        prefix: "{path} "
`, w.cmd("w", "-stream", "-progress", progress)))
	if r := w.oneshot(cfg); r.code != 0 {
		t.Fatalf("oneshot: exit %d, stderr %q", r.code, r.stderr)
	}
	worker := w.runs("w")
	if len(worker) != 1 {
		t.Fatalf("runs of w: %v, want 1", worker)
	}
	var loggers []int
	for _, p := range procTable() {
		if args := cmdline(p.pid); len(args) > 1 && args[1] == "log-writer" && slices.Contains(args, "--file="+w.logFile("site/w")) && !p.zombie() {
			loggers = append(loggers, p.pid)
		}
	}
	if len(loggers) != 1 {
		t.Fatalf("loggers of w: %v, want 1", loggers)
	}
	if sid, ok := sessionOf(loggers[0]); !ok || sid != loggers[0] {
		t.Errorf("logger %d: session %d, want its own (detached)", loggers[0], sid)
	}
	p0 := readProgress(progress)
	file := w.logFile("site/w")
	re := regexp.MustCompile(`^\S+ site/w (\d+) \.+$`)
	waitUntil(t, fmt.Sprintf("line %d (written after the pass) in %s", p0+100, file), func() bool {
		lines := readLines(file, nil)
		if len(lines) == 0 {
			return false
		}
		m := re.FindStringSubmatch(lines[len(lines)-1])
		if m == nil {
			t.Fatalf("line %q: want <time> site/w <seq> ....", lines[len(lines)-1])
		}
		n, _ := strconv.Atoi(m[1])
		return n >= p0+100
	})
	if err := syscall.Kill(worker[0].pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	requireExited(t, loggers, "logger")
}

// cmdOf returns the YAML flow sequence of argv.
func cmdOf(argv ...string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
