package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/otpsv/otpsv/actors"
	"github.com/otpsv/otpsv/actors/control"
	"github.com/otpsv/otpsv/config"
)

func reloadCommand() *cli.Command {
	return &cli.Command{
		Name:  "reload",
		Usage: "ask the daemon to re-read its config and apply the difference (a bad config is refused)",
		Flags: commonFlags(),
		Action: func(c *cli.Context) error {
			dir, err := queryStateDir(c)
			if err != nil {
				return exitWith(exitFailed, err)
			}
			changes, err := control.NewClient(filepath.Join(dir, control.SocketName)).Reload(c.Context)
			if err != nil {
				return exitWith(exitFailed, fmt.Errorf("reload refused: %w", err))
			}
			// What it did, as `otpsv plan` would have said.
			return config.WriteChanges(c.App.Writer, changes, false)
		},
	}
}

// daemonBackend is what the control socket drives: the running tree, and
// reloading it from the config file the daemon was started with.
type daemonBackend struct {
	tree     *actors.Tree
	file     string // absolute path of the config file
	stateDir string
	store    definitionsSaver // the definitions that run are saved there
	log      *slog.Logger
	mu       sync.Mutex // one reload at a time
}

var _ control.Planner = (*daemonBackend)(nil)

// Definitions are the tree's own.
func (d *daemonBackend) Definitions() *config.Node { return d.tree.Definitions() }

// Tree, Why and Command are the tree's own.
func (d *daemonBackend) Tree() *control.Node          { return d.tree.Snapshot() }
func (d *daemonBackend) Why(path string) *control.Why { return d.tree.Why(path) }
func (d *daemonBackend) Command(ctx context.Context, verb, path string) error {
	return d.tree.Command(ctx, verb, path)
}

// Reload re-reads the config file and applies it (see ReloadPlan).
func (d *daemonBackend) Reload(ctx context.Context) error {
	_, err := d.ReloadPlan(ctx)
	return err
}

// ReloadPlan re-reads the config file and applies it, and returns what it
// did: the changes of config.Diff from the definitions that ran to the new
// ones, as `otpsv plan` shows them. A config that does not load, or names
// another root, is refused and the running tree is not touched. Once
// applied, the new definitions are saved for `otpsv plan` without a
// daemon.
func (d *daemonBackend) ReloadPlan(ctx context.Context) ([]config.Change, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cfg, err := config.LoadFile(d.file)
	if err != nil {
		d.log.Error("reload refused: invalid config", "file", d.file, "err", err)
		return nil, fmt.Errorf("invalid config, nothing changed:\n%w", err)
	}
	cfg.ResolveLogs(d.stateDir)
	// Reloads are one at a time (mu): what runs now is what this one
	// changes.
	changes := config.Affected(config.Diff(d.tree.Definitions(), cfg.Tree))
	if err := d.tree.Reload(ctx, cfg); err != nil {
		d.log.Error("reload failed", "err", err)
		return nil, err
	}
	saveDefinitions(d.store, cfg.Tree, d.log)
	d.log.Info("reload applied", "file", d.file, "changes", len(changes))
	return changes, nil
}
