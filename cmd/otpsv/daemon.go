package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otpsv/otpsv/actors"
	"github.com/otpsv/otpsv/actors/control"
	"github.com/otpsv/otpsv/actors/proc"
	"github.com/otpsv/otpsv/persistence"
)

func daemonCommand() *cli.Command {
	return &cli.Command{
		Name:  "daemon",
		Usage: "start the tree and supervise it until SIGTERM/SIGINT",
		Description: "Runs in the foreground. SIGTERM or SIGINT stops the tree in reverse order and exits 0;\n" +
			"a second one skips the stop grace periods. Exits 1 when the root supervisor gives up.",
		Flags:  append(commonFlags(), logFlags()...),
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
	tree, err := actors.Start(cfg, actors.Options{Logger: log, Hurry: sigs.hurry, Store: st, StateDir: dir})
	if err != nil {
		return exitWith(exitFailed, err)
	}
	file, _ := filepath.Abs(cfg.File)
	backend := &daemonBackend{tree: tree, file: file, stateDir: dir, log: log}
	srv, err := control.Listen(filepath.Join(dir, control.SocketName), backend,
		control.Info{Pid: os.Getpid(), Started: time.Now(), Version: version, Config: file}, log)
	if err != nil {
		_ = tree.Stop(context.Background())
		return exitWith(exitFailed, err)
	}
	defer func() { _ = srv.Close() }()
	log.Info("daemon started", "pid", os.Getpid(), "root", cfg.Tree.Path, "state_dir", dir)
	for {
		select {
		case <-sigs.reload:
			log.Info("SIGHUP: reloading", "file", file)
			go func() { _ = backend.Reload(context.Background()) }()
			continue
		case <-c.Context.Done():
			log.Info("stopping tree")
			if err := tree.Stop(context.Background()); err != nil && !errors.Is(err, actors.ErrRootGaveUp) {
				return exitWith(exitFailed, err)
			}
			log.Info("daemon stopped")
			return nil
		case <-tree.Done():
			err := tree.Err()
			_ = tree.Stop(context.Background())
			if err == nil {
				return nil
			}
			return exitWith(exitFailed, fmt.Errorf("%w; all workers stopped", err))
		}
	}
}
