package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/otpsv/otpsv/actors/output"
)

// pipeBuf is PIPE_BUF on Linux: the largest write to a pipe the kernel
// keeps whole when several processes write to it.
const pipeBuf = 4096

// Descriptors the log writer reads: the read ends of the worker's stdout
// and stderr pipes, given by the otpsv that started it.
const (
	stdoutFD = 3
	stderrFD = 4
)

// logWriterCommand is the logger process of one worker with `log:`
// (SPEC §8), in the manner of runit's svlogd and s6-log: it, not the
// daemon, holds the read ends of the worker's pipes, so a kill -9 of the
// daemon neither kills the worker (SIGPIPE) nor blocks it, and a worker
// adopted by the next daemon keeps its output flowing without anything to
// hand over. It exits when both pipes reach EOF: when the worker and every
// descendant holding their write ends are gone.
func logWriterCommand() *cli.Command {
	return &cli.Command{
		Name:   "log-writer",
		Usage:  "internal: copy a worker's stdout (fd 3) and stderr (fd 4) to its log",
		Hidden: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "file", Usage: "append to this file"},
			&cli.BoolFlag{Name: "stdout", Usage: "write to this process's stdout, shared with other loggers"},
			&cli.BoolFlag{Name: "timestamps", Usage: "start each line with its RFC 3339 UTC time"},
			&cli.StringFlag{Name: "prefix", Usage: "write this before each line (already expanded)"},
			&cli.Int64Flag{Name: "max-size", Usage: "rotate the file before it would exceed this many bytes (0: never)"},
			&cli.IntFlag{Name: "keep", Usage: "rotated files kept"},
			&cli.BoolFlag{Name: "stderr-mark", Usage: "mark lines read from stderr"},
			&cli.StringFlag{Name: "streams", Value: "out,err", Usage: "which descriptors to read: out (3), err (4) or out,err"},
		},
		Action: logWriter,
	}
}

func logWriter(c *cli.Context) error {
	file, toStdout := c.String("file"), c.Bool("stdout")
	if c.NArg() > 0 || (file == "") == !toStdout {
		return exitWith(exitConfig, errors.New("log-writer: want --file PATH or --stdout, and no arguments"))
	}
	type stream struct {
		fd     int
		stderr bool
	}
	var streams []stream
	for _, s := range strings.Split(c.String("streams"), ",") {
		switch s {
		case "out":
			streams = append(streams, stream{fd: stdoutFD})
		case "err":
			streams = append(streams, stream{fd: stderrFD, stderr: true})
		default:
			return exitWith(exitConfig, fmt.Errorf("log-writer: --streams %q: want out, err or out,err", c.String("streams")))
		}
	}
	// A destination that went away (a closed stdout pipe) must cost lines,
	// never this process: the worker would get SIGPIPE next. With SIGPIPE
	// notified (to nobody), a write to a broken stdout returns EPIPE
	// instead of killing the process.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	// SIGTERM, SIGINT and SIGHUP go to run's handler, which only cancels
	// the context this command does not watch: it ends at EOF, once the
	// worker is gone, and not before, so an init's last sweep (SIGTERM to
	// everything left) does not cost the last lines of a worker it has
	// just stopped. SIGKILL still ends it.

	where := "stdout"
	if file != "" {
		where = file
	}
	o := output.Options{
		Timestamps: c.Bool("timestamps"),
		Prefix:     c.String("prefix"),
		StderrMark: c.Bool("stderr-mark"),
		MaxSize:    c.Int64("max-size"),
		Keep:       c.Int("keep"),
		OnError: func(err error) {
			fmt.Fprintf(os.Stderr, "otpsv log-writer: %s: lines dropped: %v\n", where, err)
		},
	}
	var d *output.Dest
	var err error
	if toStdout {
		o.MaxWrite = pipeBuf
		d, err = output.NewShared(os.Stdout).Dest(o)
	} else {
		// A worker's log is 0640, as when otpsv opens it, also after
		// a rotation.
		o.Mode = 0o640
		if err = os.MkdirAll(filepath.Dir(file), 0o700); err == nil {
			d, err = output.NewFile(file, o)
		}
	}

	files := make([]*os.File, len(streams))
	for i, s := range streams {
		var st syscall.Stat_t
		if e := syscall.Fstat(s.fd, &st); e != nil {
			return exitWith(exitFailed, fmt.Errorf("log-writer: descriptor %d: %w (otpsv starts this command with the worker's pipes)", s.fd, e))
		}
		// Non-blocking, so a read waits in the runtime's poller instead
		// of holding an OS thread.
		_ = syscall.SetNonblock(s.fd, true)
		files[i] = os.NewFile(uintptr(s.fd), fmt.Sprintf("fd %d", s.fd))
	}
	if err != nil {
		// Still drain the pipes: a worker must not die of its log.
		fmt.Fprintf(os.Stderr, "otpsv log-writer: %v; discarding the output\n", err)
		var wg sync.WaitGroup
		for _, f := range files {
			wg.Add(1)
			go func() { defer wg.Done(); _, _ = io.Copy(io.Discard, f); f.Close() }()
		}
		wg.Wait()
		return exitWith(exitFailed, err)
	}

	errs := make([]error, len(streams))
	var wg sync.WaitGroup
	for i, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.Copy(files[i], s.stderr)
			files[i].Close()
		}()
	}
	wg.Wait()
	cerr := d.Close()
	// Write errors were reported as they came (OnError); what is left to
	// say is how many lines they cost.
	if n := d.Dropped(); n > 0 {
		return exitWith(exitFailed, fmt.Errorf("log-writer: %s: %d lines dropped", where, n))
	}
	if err := errors.Join(errors.Join(errs...), cerr); err != nil {
		return exitWith(exitFailed, fmt.Errorf("log-writer: %s: %w", where, err))
	}
	return nil
}
