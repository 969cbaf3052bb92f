package actors

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/otpsv/otpsv/actors/proc"
	"github.com/otpsv/otpsv/config"
)

// A worker with `log:` (SPEC §8) writes its stdout and stderr into pipes
// whose read ends belong to a logger process of its own, `otpsv
// log-writer` (cmd/otpsv/logwriter.go), as runit's svlogd and s6-log do,
// never to the daemon. So a kill -9 of the daemon closes no pipe: the
// worker is neither killed by SIGPIPE nor blocked, and once a new daemon
// adopts it, its output still flows to the same place with nothing to
// hand over. The logger exits when both pipes reach EOF, that is when the
// worker and every descendant holding a write end are gone; the daemon's
// reaper reaps it like any child. It carries no tag and has a process
// group of its own, so nothing takes it for part of the worker.

// loggerExe runs the logger processes: otpsv's own executable, resolved
// at start, before an upgrade can replace the file under that name.
var loggerExe, loggerExeErr = os.Executable()

// loggerCmd is the subcommand of loggerExe that is the logger.
const loggerCmd = "log-writer"

// Descriptors of the logger that read the worker's stdout and stderr
// (cmd/otpsv/logwriter.go reads the same).
const (
	loggerStdoutFD = 3
	loggerStderrFD = 4
)

// startLogger starts the logger of the worker's streams that go through
// its log (out: stdout, errs: stderr) and returns the write ends of their
// pipes (nil for a stream not asked for), to be given to the worker as
// proc.Output{File}, which proc.Start closes. On error nothing is left
// open or running.
func (w *processWorker) startLogger(out, errs bool) (stdout, stderr *os.File, err error) {
	n, lg := w.node, w.node.Log
	if loggerExeErr != nil {
		return nil, nil, fmt.Errorf("otpsv's executable, which writes the log: %w", loggerExeErr)
	}
	argv := []string{loggerExe, loggerCmd}
	if lg.To == config.LogToStdout {
		argv = append(argv, "--stdout", "--stderr-mark")
	} else {
		file, err := openLogFile(lg.Path)
		if err != nil {
			return nil, nil, err
		}
		argv = append(argv, "--file="+file)
	}
	if lg.Timestamps {
		argv = append(argv, "--timestamps")
	}
	if p := lg.PrefixFor(n.Path); p != "" {
		argv = append(argv, "--prefix="+p)
	}
	if lg.To == config.LogToFile && lg.MaxSize > 0 {
		argv = append(argv, "--max-size="+strconv.FormatInt(lg.MaxSize, 10), "--keep="+strconv.Itoa(lg.Keep))
	}
	switch {
	case out && errs:
		argv = append(argv, "--streams=out,err")
	case out:
		argv = append(argv, "--streams=out")
	case errs:
		argv = append(argv, "--streams=err")
	default:
		return nil, nil, errors.New("no stream goes through the log")
	}

	var reads []*os.File
	closeAll := func() {
		for _, f := range append(reads, stdout, stderr) {
			if f != nil {
				_ = f.Close()
			}
		}
	}
	extra := map[int]*os.File{}
	for _, s := range []struct {
		want bool
		fd   int
		w    **os.File
	}{{out, loggerStdoutFD, &stdout}, {errs, loggerStderrFD, &stderr}} {
		if !s.want {
			continue
		}
		r, wr, err := os.Pipe()
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("log pipe: %w", err)
		}
		reads = append(reads, r)
		*s.w = wr
		extra[s.fd] = r
	}
	spec := proc.Spec{
		Argv: argv,
		// The logger must not keep the daemon's working directory busy;
		// its file name is absolute.
		Dir:        "/",
		ExtraFiles: extra,
		// A pass's logger outlives the pass, as its worker does.
		Detach: w.env.pass,
	}
	if lg.To == config.LogToStdout {
		spec.Stdout = proc.Output{Inherit: true}
	}
	if !w.env.pass {
		// Its write errors join the daemon's own messages. A pass's
		// logger says nothing: holding the pass's stderr for as long as
		// the worker runs would keep whoever reads it (a pipe, a
		// terminal's shell) waiting for the pass to end.
		spec.Stderr = proc.Output{Inherit: true}
	}
	p, err := proc.Start(spec)
	// The logger holds its own copies of the read ends now.
	for _, r := range reads {
		_ = r.Close()
	}
	reads = nil
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("start the logger: %w", err)
	}
	w.env.log.Debug("logger started", "node", n.Path, "pid", p.Pid)
	return stdout, stderr, nil
}

// openLogFile creates the log file if missing, as proc.Start creates a
// worker's output file (0640, directories 0700), so that a log that
// cannot be written fails the worker's start instead of losing its
// output, and returns its absolute name.
func openLogFile(path string) (string, error) {
	if path == "" {
		return "", errors.New("no log file: the state directory is unknown")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return "", err
	}
	f, err := os.OpenFile(abs, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return "", err
	}
	return abs, f.Close()
}
