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
			err = control.NewClient(filepath.Join(dir, control.SocketName)).Reload(c.Context)
			if err != nil {
				return exitWith(exitFailed, fmt.Errorf("reload refused: %w", err))
			}
			return nil
		},
	}
}

// daemonBackend is what the control socket drives: the running tree, and
// reloading it from the config file the daemon was started with.
type daemonBackend struct {
	tree     *actors.Tree
	file     string // absolute path of the config file
	stateDir string
	log      *slog.Logger
	mu       sync.Mutex // one reload at a time
}

// Tree, Why and Command are the tree's own.
func (d *daemonBackend) Tree() *control.Node          { return d.tree.Snapshot() }
func (d *daemonBackend) Why(path string) *control.Why { return d.tree.Why(path) }
func (d *daemonBackend) Command(ctx context.Context, verb, path string) error {
	return d.tree.Command(ctx, verb, path)
}

// Reload re-reads the config file and applies it. A config that does not
// load, or names another root, is refused and the running tree is not
// touched.
func (d *daemonBackend) Reload(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	cfg, err := config.LoadFile(d.file)
	if err != nil {
		d.log.Error("reload refused: invalid config", "file", d.file, "err", err)
		return fmt.Errorf("invalid config, nothing changed:\n%w", err)
	}
	cfg.ResolveLogs(d.stateDir)
	if err := d.tree.Reload(ctx, cfg); err != nil {
		d.log.Error("reload failed", "err", err)
		return err
	}
	d.log.Info("reload applied", "file", d.file)
	return nil
}
