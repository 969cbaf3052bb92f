package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otpsv/otpsv/actors/control"
	"github.com/otpsv/otpsv/config"
	"github.com/otpsv/otpsv/persistence"
)

func planCommand() *cli.Command {
	return &cli.Command{
		Name:  "plan",
		Usage: "what a reload to the config file (-c) would do to the running daemon: nodes started, stopped, restarted",
		Description: "Compares the config file with the definitions the daemon runs, or without a daemon with those of\n" +
			"the last daemon or pass. One line per affected node: + PATH start, - PATH stop, ~ PATH restart (why).\n" +
			"Exit 0 no change, 1 changes, 2 invalid config or nothing to compare with.",
		Flags: append(commonFlags(),
			&cli.BoolFlag{Name: "json", Usage: `print {"changes":[{"path","action","reason","fields"}]}`},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "list the unchanged nodes too (= PATH)"},
		),
		Action: runPlan,
	}
}

func runPlan(c *cli.Context) error {
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	dir, err := cfg.ResolveStateDir(c.String("state-dir"))
	if err != nil {
		return exitWith(exitConfig, err)
	}
	// As the daemon resolves a config it reloads.
	cfg.ResolveLogs(dir)
	running, err := runningDefinitions(c, dir)
	if err != nil {
		return planError(err)
	}
	if running.Name != cfg.Tree.Name {
		return exitWith(exitConfig, fmt.Errorf("a reload would be refused: the root's name changed from %q to %q (that is another tree, with another state_dir)", running.Name, cfg.Tree.Name))
	}
	changes := config.Diff(running, cfg.Tree)
	if c.Bool("json") {
		err = config.WriteChangesJSON(c.App.Writer, changes, c.Bool("verbose"))
	} else {
		err = config.WriteChanges(c.App.Writer, changes, c.Bool("verbose"))
	}
	if err != nil {
		return exitWith(exitConfig, err)
	}
	if len(config.Affected(changes)) > 0 {
		return exitWith(exitFailed, errors.New(""))
	}
	return nil
}

// planError: exit status 1 means changes, so any failure to compare is 2
// (as diff(1) has it), but for 75 (the state held by a pass).
func planError(err error) error {
	var ee *exitError
	if errors.As(err, &ee) && ee.code == exitTempErr {
		return err
	}
	return exitWith(exitConfig, err)
}

// runningDefinitions returns the definitions the daemon runs, or, when no
// daemon answers, those the last daemon or pass saved (saying so on
// stderr). A daemon that comes up while they are read is asked instead.
func runningDefinitions(c *cli.Context, dir string) (*config.Node, error) {
	client := control.NewClient(filepath.Join(dir, control.SocketName))
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(c.Context, 10*time.Second)
		n, err := client.Definitions(ctx)
		cancel()
		if !errors.Is(err, control.ErrNoDaemon) {
			return n, err
		}
		n, err = savedDefinitions(c, dir)
		if err == nil {
			fmt.Fprintln(c.App.ErrWriter, "otpsv: no daemon is running; comparing with the definitions of the last daemon or pass")
			return n, nil
		}
		// A daemon that answered a moment ago and then went away again
		// is not chased for ever.
		if !errors.Is(err, errDaemonAnswers) || attempt == 2 {
			return nil, err
		}
	}
}

// savedDefinitions reads the definitions saved in the state store, under
// the state_dir's read lock (see readLock).
func savedDefinitions(c *cli.Context, dir string) (*config.Node, error) {
	none := fmt.Errorf("%w on %s, and no saved definitions to compare with", control.ErrNoDaemon, dir)
	if !hasFiles(filepath.Join(dir, storeDir)) {
		return nil, none
	}
	lock, err := readLock(c.Context, dir)
	if err != nil {
		return nil, err
	}
	defer func() { _ = lock.Release() }()
	st, err := openStore(dir)
	if err != nil {
		return nil, err
	}
	defer func() { _ = persistence.CloseWithin(st, 10*time.Second) }()
	b, err := st.Definitions()
	if errors.Is(err, persistence.ErrNotFound) {
		return nil, none
	}
	if err != nil {
		return nil, err
	}
	var n config.Node
	if err := json.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("saved definitions: %w", err)
	}
	return &n, nil
}

// definitionsSaver is the state store, open for the whole run (a pass) or
// lazily (a daemon).
type definitionsSaver interface {
	SaveDefinitions(defs []byte) error
}

// saveDefinitions records the definitions the tree now runs, for a later
// `otpsv plan` without a daemon. The tree runs whether or not they could
// be saved; a failure is logged.
func saveDefinitions(st definitionsSaver, tree *config.Node, log *slog.Logger) {
	b, err := json.Marshal(tree)
	if err == nil {
		err = st.SaveDefinitions(b)
	}
	if err != nil {
		log.Warn("saving the definitions for otpsv plan", "err", err)
	}
}
