package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otpsv/otpsv/actors"
	"github.com/otpsv/otpsv/actors/control"
	"github.com/otpsv/otpsv/actors/proc"
	"github.com/otpsv/otpsv/config"
	"github.com/otpsv/otpsv/persistence"
)

func oneshotCommand() *cli.Command {
	return &cli.Command{
		Name:  "oneshot",
		Usage: "one supervision pass (for cron): bring every node to its expected state, save, exit",
		Description: "Silent when nothing had to change; otherwise one line per corrective action on stdout.\n" +
			"Exit 0 tree as expected, 1 a node could not be brought to its expected state or a supervisor gave up,\n" +
			"2 bad config, 75 the state is held by another otpsv (a daemon or a running pass).",
		Flags: append(commonFlags(), logFlags()...),
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
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
			return runPass(c.App.Writer, cfg, dir, st, log)
		},
	}
}

// passLogger logs to stderr at warn level unless -v or --log-level says
// otherwise: cron mails whatever a pass prints.
func passLogger(c *cli.Context, cfg *config.Config) (*slog.Logger, error) {
	s := cfg.Settings
	if c.String("log-level") == "" && !c.Bool("verbose") {
		s.LogLevel = "warn"
	}
	return newLogger(c, s, os.Stderr)
}

// runPass runs one oneshot pass over cfg with the state in st: one line
// on out per corrective action, nothing when nothing had to change.
func runPass(out io.Writer, cfg *config.Config, dir string, st *persistence.Store, log *slog.Logger) error {
	cfg.ResolveLogs(dir)
	// Service commands' orphans are reaped by us while the pass runs.
	_ = proc.BecomeSubreaper()
	var mu sync.Mutex
	report := func(path, what string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, "%s: %s\n", path, what)
	}
	tree, err := actors.Start(cfg, actors.Options{Logger: log, Store: st, Pass: true, Report: report, StateDir: dir})
	if errors.Is(err, actors.ErrRootDown) {
		return exitWith(exitFailed, err)
	}
	if err != nil {
		return exitWith(exitFailed, err)
	}
	saveDefinitions(st, cfg.Tree, log)
	<-tree.Started()
	tree.Flush()
	if err := tree.Err(); err != nil {
		return exitWith(exitFailed, err)
	}
	if g := tree.GaveUp(); len(g) > 0 {
		return exitWith(exitFailed, fmt.Errorf("supervisor gave up: %s", strings.Join(g, ", ")))
	}
	var bad []string
	walkNodes(tree.Snapshot(), func(n *control.Node, _ int) {
		if !asExpected(n) {
			bad = append(bad, fmt.Sprintf("%s is %s, expected %s", n.Path, stateLabel(n), n.Expected))
		}
	})
	if len(bad) > 0 {
		return exitWith(exitFailed, fmt.Errorf("not as expected: %s", strings.Join(bad, "; ")))
	}
	return nil
}
