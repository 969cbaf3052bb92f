package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otpsv/otpsv/actors"
	"github.com/otpsv/otpsv/actors/control"
	"github.com/otpsv/otpsv/actors/event"
	"github.com/otpsv/otpsv/actors/metrics"
	"github.com/otpsv/otpsv/actors/proc"
	"github.com/otpsv/otpsv/persistence"
)

func daemonCommand() *cli.Command {
	return &cli.Command{
		Name:  "daemon",
		Usage: "start the tree and supervise it until SIGTERM/SIGINT",
		Description: "Runs in the foreground. SIGTERM or SIGINT stops the tree in reverse order and exits 0;\n" +
			"a second one skips the stop grace periods. Exits 1 when the root supervisor gives up. When\n" +
			"the root shuts down automatically (auto_shutdown), exits with the status of the significant\n" +
			"worker whose exit triggered it (128+N for signal N).\n" +
			"--metrics (or settings.metrics) serves Prometheus metrics at /metrics: exit 2 for an\n" +
			"invalid address, 1 when it cannot be listened on.",
		Flags: append(append(commonFlags(), logFlags()...),
			&cli.BoolFlag{Name: "init", Usage: "do an init's duties outside PID 1: reap adopted orphans and, once the tree has stopped, end them (and, when otpsv leads its session, the session's other processes): SIGTERM, then SIGKILL after 5 s (always on as PID 1)"},
			&cli.StringFlag{Name: "metrics", Usage: "serve Prometheus metrics at /metrics on `ADDR` (HOST:PORT or unix:/PATH; '' for none; default: settings.metrics)"}),
		Action: runDaemon,
	}
}

func runDaemon(c *cli.Context) error {
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	log, err := newLogger(c, cfg.Settings, os.Stderr)
	if err != nil {
		return err
	}
	dir, lock, err := ownState(c, cfg)
	if err != nil {
		return err
	}
	defer func() { _ = lock.Release() }()
	// Open only while writing: an idle daemon must cost no CPU.
	st, err := persistence.OpenLazy(filepath.Join(dir, storeDir), 2*time.Second)
	switch {
	case errors.Is(err, persistence.ErrLocked):
		return exitWith(exitTempErr, err)
	case err != nil:
		return exitWith(exitFailed, err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("closing the state store", "err", err)
		}
	}()
	cfg.ResolveLogs(dir)
	// Orphans of workers (daemonized grandchildren) become ours to reap,
	// so a stopped worker's group can be seen to empty.
	if err := proc.BecomeSubreaper(); err != nil {
		log.Warn("cannot become child subreaper", "err", err)
	}

	sigs := signalsFrom(c.Context)
	// As PID 1 (a container's entrypoint), or asked to, otpsv does an
	// init's duties: it reaps every orphan, and once the tree has
	// stopped it ends whatever is left (SPEC §8).
	if c.Bool("init") || os.Getpid() == 1 {
		proc.StartReaper()
		defer endLeftovers(log, sigs.hurry)
	}
	opts := actors.Options{Logger: log, Hurry: sigs.hurry, Store: st, StateDir: dir}
	// Listening before the tree starts: an address in use fails the
	// daemon before any worker runs. Until then the view is empty.
	var live atomic.Pointer[actors.Tree]
	stopMetrics, err := serveMetrics(c, log, cfg.Settings.Metrics, &opts, func() *control.Node {
		if t := live.Load(); t != nil {
			return t.Snapshot()
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer stopMetrics()
	sd := newSystemd(log)
	if sd != nil {
		opts.Observer = sd.observe
	}
	tree, err := actors.Start(cfg, opts)
	if err != nil {
		return exitWith(exitFailed, err)
	}
	if sd != nil {
		go sd.run(tree)
		defer sd.stopping()
	}
	live.Store(tree)
	file, _ := filepath.Abs(cfg.File)
	backend := &daemonBackend{tree: tree, file: file, stateDir: dir, store: st, log: log}
	srv, err := control.Listen(filepath.Join(dir, control.SocketName), backend,
		control.Info{Pid: os.Getpid(), Started: time.Now(), Version: version, Config: file}, log)
	if err != nil {
		_ = tree.Stop(context.Background())
		return exitWith(exitFailed, err)
	}
	defer func() { _ = srv.Close() }()
	log.Info("daemon started", "pid", os.Getpid(), "root", cfg.Tree.Path, "state_dir", dir)
	// Once the tree has started, not while its workers are being forked
	// (a thousand nodes' JSON is some milliseconds of CPU); `plan` asks
	// the daemon meanwhile. The store is closed only after it.
	defsSaved := make(chan struct{})
	go func() {
		defer close(defsSaved)
		select {
		case <-tree.Started():
			saveDefinitions(st, cfg.Tree, log)
		case <-tree.Done():
		}
	}()
	defer func() { <-defsSaved }()
	for {
		select {
		case <-sigs.reload:
			log.Info("SIGHUP: reloading", "file", file)
			go func() { _ = backend.Reload(context.Background()) }()
			continue
		case <-c.Context.Done():
			log.Info("stopping tree")
			if sd != nil {
				sd.stopping()
			}
			if err := tree.Stop(context.Background()); err != nil && !errors.Is(err, actors.ErrRootGaveUp) {
				return exitWith(exitFailed, err)
			}
			log.Info("daemon stopped")
			return nil
		case <-tree.Done():
			err := tree.Err()
			_ = tree.Stop(context.Background())
			if e := tree.Ended(); e != nil && err == nil {
				// A container's main job decides its exit status (SPEC §7).
				log.Info("daemon stopped: the tree shut down automatically", "trigger", e.Trigger, "exit_code", e.Code)
				switch {
				case e.Code == 0:
					return nil
				case e.Code < 0:
					return exitWith(exitFailed, fmt.Errorf("%s; the exit status of %s is not known", e.Reason, e.Trigger))
				}
				return exitWith(e.Code, errors.New(e.Reason))
			}
			if err == nil {
				return nil
			}
			return exitWith(exitFailed, fmt.Errorf("%w; all workers stopped", err))
		}
	}
}

// serveMetrics serves the metrics at the address of --metrics, else of
// settings (none when both are empty), and has opts.Events feed them. It
// returns the function that stops serving.
func serveMetrics(c *cli.Context, log *slog.Logger, setting string, opts *actors.Options, view func() *control.Node) (func(), error) {
	addr := setting
	if c.IsSet("metrics") {
		addr = c.String("metrics")
	}
	if addr == "" {
		return func() {}, nil
	}
	m := metrics.New(version, view)
	stop, err := metrics.Serve(addr, m.Handler())
	switch {
	case errors.Is(err, metrics.ErrAddr):
		return nil, exitWith(exitConfig, err)
	case err != nil:
		return nil, exitWith(exitFailed, err)
	}
	log.Info("serving metrics", "addr", addr)
	if prev := opts.Events; prev != nil {
		opts.Events = func(ev event.Event) { prev(ev); m.Observe(ev) }
	} else {
		opts.Events = m.Observe
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = stop(ctx)
	}, nil
}

// initGrace is how long the processes left after the tree stopped get
// between SIGTERM and SIGKILL, as docker stop gives a container.
const initGrace = 5 * time.Second

// endLeftovers ends what is left once the tree has stopped (an init's
// last duty): SIGTERM, then SIGKILL after initGrace.
func endLeftovers(log *slog.Logger, hurry <-chan struct{}) {
	n, err := proc.EndLeftovers(initGrace, hurry)
	if n > 0 {
		log.Info("init: ended the processes left after the tree stopped", "count", n)
	}
	if err != nil {
		log.Error("init: processes left after the tree stopped survived", "err", err)
	}
}
