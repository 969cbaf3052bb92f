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
	"github.com/otpsv/otpsv/persistence"
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

// fetchTree asks the running daemon for the tree at path ("" = root), or
// reads the last saved state when no daemon answers. A daemon that comes
// up while the saved state is being read is asked instead.
func fetchTree(c *cli.Context, path string) (*control.Node, error) {
	dir, err := queryStateDir(c)
	if err != nil {
		return nil, err
	}
	path = strings.Trim(path, "/")
	client := control.NewClient(filepath.Join(dir, control.SocketName))
	var (
		cfg   *config.Config
		snaps map[string]persistence.Snapshot
		saved time.Time
	)
	for attempt := 0; ; attempt++ {
		n, err := askTree(c.Context, client, path)
		if !errors.Is(err, control.ErrNoDaemon) {
			return n, err
		}
		cfg, snaps, saved, err = savedState(c)
		if err == nil {
			break
		}
		// A daemon that answered a moment ago and then went away again
		// is not chased for ever.
		if !errors.Is(err, errDaemonAnswers) || attempt == 2 {
			return nil, err
		}
	}
	fmt.Fprintf(c.App.ErrWriter, "otpsv: no daemon is running; state saved %s ago (%s)\n",
		fmtDuration(time.Since(saved)), saved.Local().Format(time.DateTime))
	n := actors.SavedTree(cfg, snaps)
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

// askTree asks the daemon for the tree at path.
func askTree(ctx context.Context, client *control.Client, path string) (*control.Node, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := client.Tree(ctx, path)
	var se *control.StatusError
	if errors.As(err, &se) {
		return nil, exitWith(exitFailed, err)
	}
	return n, err
}

// asExpected reports whether a node is in the state it should be in.
func asExpected(n *control.Node) bool {
	switch n.Expected {
	case "stopped":
		return n.State == "stopped"
	default:
		return n.State == "running" && (n.Ready == nil || *n.Ready) || (n.State == "stopped" && n.Done)
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
	case n.State == "running" && n.Ready != nil && !*n.Ready:
		return "running(not-ready)"
	}
	return n.State
}
