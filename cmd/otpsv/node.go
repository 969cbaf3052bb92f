package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otpsv/otpsv/actors/control"
	"github.com/otpsv/otpsv/config"
	"github.com/otpsv/otpsv/persistence"
)

// directCommand acts on a node when no daemon runs: the operator's intent
// is recorded in the state (an operator's stop, or its end) and a oneshot
// pass carries it out, so process workers it starts run detached, as in
// oneshot mode. A restart is a pass with the node stopped, then one with
// it started.
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
