package main

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otpsv/otpsv/actors"
	"github.com/otpsv/otpsv/actors/control"
	"github.com/otpsv/otpsv/config"
	"github.com/otpsv/otpsv/persistence"
)

// directCommand acts on a node when no daemon runs: the operator's intent
// is recorded in the state (an operator's stop, or its end) and a oneshot
// pass carries it out, so process workers it starts run detached, as in
// oneshot mode. A restart is a pass with the node stopped, then one with
// it started; but a service worker with a restart command, when running
// (not stopped by an operator), is restarted with that command, as the
// daemon does (see restartService).
func directCommand(c *cli.Context, verb, path string) error {
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	n := cfg.Find(path)
	if n == nil {
		return exitWith(exitFailed, fmt.Errorf("%s %s: no such node", verb, path))
	}
	if verb != "stop" && n.Expected != config.Running {
		return exitWith(exitFailed, fmt.Errorf("%s %s: expected: stopped in the config; change the config to run it", verb, path))
	}
	log, err := passLogger(c, cfg)
	if err != nil {
		return err
	}
	dir, lock, err := ownState(c, cfg)
	if err != nil {
		return err
	}
	defer func() { _ = lock.Release() }()
	st, err := openStore(dir)
	if err != nil {
		return err
	}
	defer func() { _ = persistence.CloseWithin(st, 10*time.Second) }()
	if verb == "restart" && actors.RestartCommand(n) != nil {
		stopped, err := operatorStopped(st, path)
		if err != nil {
			return exitWith(exitFailed, err)
		}
		if !stopped {
			return restartService(c, cfg, dir, st, log, n)
		}
	}
	steps := map[string][]bool{"stop": {true}, "start": {false}, "restart": {true, false}}[verb]
	var passErr error
	for _, stopped := range steps {
		snap, err := st.Load(path)
		if err != nil && !errors.Is(err, persistence.ErrNotFound) {
			return exitWith(exitFailed, err)
		}
		snap.Path = path
		snap.AdminStopped = stopped
		event := "operator_start"
		if stopped {
			event = "operator_stop"
		}
		snap.History = append(snap.History, persistence.HistoryEntry{Time: time.Now(), Event: event})
		// The entry is the next one: numbered as the store wants it, as
		// actors.restore then record would.
		snap.HistorySeq = max(snap.HistorySeq, uint64(len(snap.History)-1)) + 1
		if err := st.Save(snap); err != nil {
			return exitWith(exitFailed, err)
		}
		// A pass may exit 1 for another node's sake: a restart still runs
		// its start step, so the node is never left stopped by an operator.
		if err := runPass(c.App.Writer, cfg, dir, st, log); err != nil {
			passErr = err
		}
	}
	return passErr
}

// restartService is `otpsv restart PATH` without a daemon for service
// worker n, which has a restart command: the operator's restart is
// recorded, the command runs once (then otpsv waits for the service to
// report running, as after a start), and a pass brings the tree to its
// expected state and saves it; it counts a failure if the restart left
// the service down. The SPEC keeps that command for this verb alone.
func restartService(c *cli.Context, cfg *config.Config, dir string, st *persistence.Store, log *slog.Logger, n *config.Node) error {
	snap, err := st.Load(n.Path)
	if err != nil && !errors.Is(err, persistence.ErrNotFound) {
		return exitWith(exitFailed, err)
	}
	snap.Path = n.Path
	snap.History = append(snap.History, persistence.HistoryEntry{Time: time.Now(), Event: "operator_restart"})
	if err := st.Save(snap); err != nil {
		return exitWith(exitFailed, err)
	}
	log.Info("operator restart", "node", n.Path)
	restartErr := actors.RestartService(c.Context, n, log)
	passErr := runPass(c.App.Writer, cfg, dir, st, log)
	if restartErr != nil {
		return exitWith(exitFailed, fmt.Errorf("restart %s: %w", n.Path, restartErr))
	}
	return passErr
}

// operatorStopped reports whether an operator's stop, recorded in the
// state, holds the node at path or one of its supervisors.
func operatorStopped(st *persistence.Store, path string) (bool, error) {
	for i := 0; i <= len(path); i++ {
		if i < len(path) && path[i] != '/' {
			continue
		}
		snap, err := st.Load(path[:i])
		if errors.Is(err, persistence.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, err
		}
		if snap.AdminStopped {
			return true, nil
		}
	}
	return false, nil
}

// nodeCommand is `otpsv start|stop|restart PATH`.
func nodeCommand(verb, usage string) *cli.Command {
	return &cli.Command{
		Name:      verb,
		Usage:     usage,
		ArgsUsage: "PATH",
		Flags:     commonFlags(),
		Action: func(c *cli.Context) error {
			path := strings.Trim(c.Args().First(), "/")
			if path == "" || c.NArg() > 1 {
				return exitWith(exitConfig, fmt.Errorf("usage: otpsv %s [flags] PATH", verb))
			}
			dir, err := queryStateDir(c)
			if err != nil {
				return err
			}
			err = control.NewClient(filepath.Join(dir, control.SocketName)).Command(c.Context, verb, path)
			if errors.Is(err, control.ErrNoDaemon) {
				return directCommand(c, verb, path)
			}
			if err != nil {
				return exitWith(exitFailed, fmt.Errorf("%s %s: %w", verb, path, err))
			}
			return nil
		},
	}
}
