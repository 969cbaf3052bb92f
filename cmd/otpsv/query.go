package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otpsv/otpsv/actors"
	"github.com/otpsv/otpsv/actors/control"
	"github.com/otpsv/otpsv/config"
)

// queryStateDir finds the state_dir for verbs that only read state: the
// config is needed only when neither --state-dir nor $OTPSV_STATE_DIR
// names it (the default depends on the root's name).
func queryStateDir(c *cli.Context) (string, error) {
	if d := c.String("state-dir"); d != "" {
		return filepath.Abs(d)
	}
	if d := os.Getenv(config.EnvStateDir); d != "" {
		return filepath.Abs(d)
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return "", err
	}
	return cfg.ResolveStateDir("")
}

// fetchTree asks the running daemon for the tree at path ("" = root).
func fetchTree(c *cli.Context, path string) (*control.Node, error) {
	dir, err := queryStateDir(c)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(c.Context, 10*time.Second)
	defer cancel()
	path = strings.Trim(path, "/")
	n, err := control.NewClient(filepath.Join(dir, control.SocketName)).Tree(ctx, path)
	var se *control.StatusError
	if errors.As(err, &se) {
		return nil, exitWith(exitFailed, err)
	}
	if !errors.Is(err, control.ErrNoDaemon) {
		return n, err
	}
	// No daemon: the last saved state.
	cfg, snaps, saved, err := savedState(c)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c.App.ErrWriter, "otpsv: no daemon is running; state saved %s ago (%s)\n",
		fmtDuration(time.Since(saved)), saved.Local().Format(time.DateTime))
	n = savedTree(cfg, snaps)
	// Services are asked now: their state may have changed since it was
	// saved, and no daemon is watching them.
	probes := actors.ProbeServices(cfg.Tree, nil)
	walkNodes(n, func(x *control.Node, _ int) {
		if p, ok := probes[x.Path]; ok {
			x.State, x.Pid = string(p.State), nil
			if p.Pid > 0 {
				pid := p.Pid
				x.Pid = &pid
			}
		}
	})
	if path != "" {
		if n = control.Find(n, path); n == nil {
			return nil, exitWith(exitFailed, fmt.Errorf("no node %q", path))
		}
	}
	return n, nil
}

// asExpected reports whether a node is in the state it should be in.
func asExpected(n *control.Node) bool {
	switch n.Expected {
	case "stopped":
		return n.State == "stopped"
	default:
		return n.State == "running" || (n.State == "stopped" && n.Done)
	}
}

func walkNodes(n *control.Node, fn func(*control.Node, int)) {
	var walk func(*control.Node, int)
	walk = func(n *control.Node, depth int) {
		fn(n, depth)
		for _, ch := range n.Children {
			walk(ch, depth+1)
		}
	}
	walk(n, 0)
}

// stateLabel is the state as shown to people: a worker that ended as its
// restart type allows is "done", not merely stopped.
func stateLabel(n *control.Node) string {
	switch {
	case n.State == "stopped" && n.Done:
		return "done"
	case n.AdminStopped:
		return n.State + "(operator)"
	}
	return n.State
}
