package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otpsv/otpsv/actors"
	"github.com/otpsv/otpsv/actors/control"
	"github.com/otpsv/otpsv/config"
	"github.com/otpsv/otpsv/persistence"
)

// StoreDir is where the Badger store lives inside state_dir.
const storeDir = "state"

// lockState takes the state_dir's lock, waiting up to wait for a oneshot
// pass that holds it (passes are short); a daemon's hold is reported at
// once, with its pid.
func lockState(dir string, wait time.Duration) (*persistence.Lock, error) {
	deadline := time.Now().Add(wait)
	for {
		l, err := persistence.AcquireLock(dir)
		if err == nil || !errors.Is(err, persistence.ErrLocked) || time.Now().After(deadline) {
			if errors.Is(err, persistence.ErrLocked) {
				return nil, exitWith(exitTempErr, err)
			}
			return l, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ownState resolves and creates the state_dir and takes its lock, as the
// one otpsv acting on it (a daemon, a pass, a direct node command); held by
// another, that is exit status 75, naming the holder's pid.
func ownState(c *cli.Context, cfg *config.Config) (string, *persistence.Lock, error) {
	dir, err := stateDir(c, cfg)
	if err != nil {
		return "", nil, err
	}
	lock, err := persistence.AcquireLock(dir)
	if err != nil {
		if errors.Is(err, persistence.ErrLocked) {
			return "", nil, exitWith(exitTempErr, err)
		}
		return "", nil, exitWith(exitFailed, err)
	}
	return dir, lock, nil
}

// openStore opens the state store; a damaged one is a clear error.
func openStore(dir string) (*persistence.Store, error) {
	st, err := persistence.Open(filepath.Join(dir, storeDir))
	switch {
	case errors.Is(err, persistence.ErrLocked):
		return nil, exitWith(exitTempErr, err)
	case err != nil:
		return nil, exitWith(exitFailed, err)
	}
	return st, nil
}

// savedTree builds the tree of the configuration with each node's last
// saved state: what `tree`, `status`, `check` and `why` show when no daemon
// runs. A process recorded as running whose pid is gone (or was reused) is
// shown failed: it died since the state was saved.
func savedTree(cfg *config.Config, snaps map[string]persistence.Snapshot) *control.Node {
	var build func(n *config.Node, stopped bool) *control.Node
	build = func(n *config.Node, stopped bool) *control.Node {
		s, ok := snaps[n.Path]
		out := &control.Node{
			Name: n.Name, Path: n.Path, Type: n.Type.String(), State: "stopped",
			Expected: n.Expected.String(), Since: s.Since, AdminStopped: s.AdminStopped,
		}
		if ok && s.State != "" {
			out.State = s.State
		}
		if n.Type == config.Supervisor {
			out.Strategy = n.Strategy.String()
		}
		if s.Pid > 0 {
			if persistence.SameProcess(s.Pid, s.PidStart) {
				pid := s.Pid
				out.Pid = &pid
			} else if out.State == "running" {
				out.State = "failed"
			}
		}
		// ended as its restart type allows (the live tree knows it as done)
		if n.Type == config.Process && out.State == "stopped" && n.Restart.String() != "permanent" && !s.LastExitAt.IsZero() {
			out.Done = true
		}
		out.Restarts = restartsIn(s.History, periodOf(cfg.Tree, n))
		stopped = stopped || s.AdminStopped
		if stopped {
			out.Expected = config.Stopped.String()
		}
		for _, c := range n.Children {
			out.Children = append(out.Children, build(c, stopped))
		}
		return out
	}
	return build(cfg.Tree, false)
}

// savedState reads the last saved state when no daemon answers. It needs
// the config (for the tree's shape) and the state_dir's lock.
func savedState(c *cli.Context) (*config.Config, map[string]persistence.Snapshot, time.Time, error) {
	cfg, err := loadConfig(c)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	dir, err := cfg.ResolveStateDir(c.String("state-dir"))
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	noState := fmt.Errorf("%w on %s, and no saved state", control.ErrNoDaemon, dir)
	if !hasFiles(filepath.Join(dir, storeDir)) {
		return nil, nil, time.Time{}, exitWith(exitFailed, noState)
	}
	lock, err := lockState(dir, 5*time.Second)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	defer func() { _ = lock.Release() }()
	st, err := openStore(dir)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	defer func() { _ = persistence.CloseWithin(st, 10*time.Second) }()
	snaps, err := st.All()
	if err != nil {
		return nil, nil, time.Time{}, exitWith(exitFailed, err)
	}
	if len(snaps) == 0 {
		return nil, nil, time.Time{}, exitWith(exitFailed, noState)
	}
	saved, _ := st.SavedAt()
	return cfg, snaps, saved, nil
}

// restartsIn counts the restarts a node went through within period, from
// its history (the daemon counts the same live).
func restartsIn(h []persistence.HistoryEntry, period time.Duration) int {
	n := 0
	for _, e := range h {
		if (e.Event == "failed" || e.Event == "restarted") && e.Action == "restart" && time.Since(e.Time) < period {
			n++
		}
	}
	return n
}

// parentOf returns the supervisor of the node at path, nil for the root.
func parentOf(root *config.Node, path string) *config.Node {
	for _, c := range root.Children {
		if c.Path == path {
			return root
		}
		if c.Type == config.Supervisor {
			if p := parentOf(c, path); p != nil {
				return p
			}
		}
	}
	return nil
}

// periodOf is the restart period that counts for n: its supervisor's.
func periodOf(root, n *config.Node) time.Duration {
	if p := parentOf(root, n.Path); p != nil {
		return p.Period
	}
	return n.Period
}

// savedWhy is `otpsv why` from the saved state.
func savedWhy(cfg *config.Config, snaps map[string]persistence.Snapshot, path string) *control.Why {
	n := cfg.Find(path)
	if n == nil {
		return nil
	}
	node := control.Find(savedTree(cfg, snaps), path)
	node.Children = nil
	w := &control.Why{Node: node, History: actors.HistoryFromStored(snaps[path].History)}
	sup := parentOf(cfg.Tree, path)
	if sup == nil && n.Type == config.Supervisor {
		sup = n
	}
	if sup != nil {
		for _, t := range snaps[sup.Path].Restarts {
			if time.Since(t) < sup.Period {
				w.Used++
			}
		}
		w.Supervisor, w.Intensity, w.Period = sup.Path, sup.Intensity, sup.Period.String()
		w.Left = max(sup.Intensity-w.Used, 0)
	}
	return w
}

func hasFiles(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*"))
	return len(m) > 0
}
