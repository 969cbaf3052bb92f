package actors

import (
	"time"

	"github.com/otpsv/otpsv/actors/control"
	"github.com/otpsv/otpsv/actors/policy"
	"github.com/otpsv/otpsv/config"
	"github.com/otpsv/otpsv/persistence"
)

// The view of a tree (`tree`, `status`, `check`, `why`) is built by one
// piece of code, the registry's, whether from a running tree or from the
// state it saved: the two cannot disagree on what a state, a restart count
// or a budget means.

// SavedTree is the tree of cfg as the snapshots saved by the last run say
// it was. A process recorded as running whose pid is gone (or is another
// process now) shows as failed.
func SavedTree(cfg *config.Config, snaps map[string]persistence.Snapshot) *control.Node {
	return savedRegistry(cfg, snaps).snapshot(cfg.Tree)
}

// SavedWhy is `otpsv why` of the node at path from the saved snapshots,
// nil when cfg has no such node.
func SavedWhy(cfg *config.Config, snaps map[string]persistence.Snapshot, path string) *control.Why {
	return whyOf(savedRegistry(cfg, snaps), cfg.Tree, path, time.Now())
}

func savedRegistry(cfg *config.Config, snaps map[string]persistence.Snapshot) *registry {
	r := newRegistry(cfg.Tree, nil)
	for path, ni := range r.nodes {
		s, ok := snaps[path]
		n := ni.node
		ni.saved = true
		ni.state, ni.pid, ni.since = StateStopped, 0, s.Since
		if ok && s.State != "" {
			ni.state = State(s.State)
		}
		ni.adminStopped = s.AdminStopped
		ni.restarts, ni.supRestarts = s.Restarted, s.Restarts
		ni.history = HistoryFromStored(s.History)
		switch {
		case s.Pid > 0 && n.Type == config.Service:
			// A service's pid (from its pidfile) is saved without a start
			// time; the service itself is asked live where it matters.
			ni.pid = s.Pid
		case s.Pid > 0:
			if persistence.SameProcess(s.Pid, s.PidStart) {
				ni.pid = s.Pid
			} else if ni.state == StateRunning {
				ni.state = StateFailed
			}
		}
		// ended as its restart type allows (the live tree knows it as done)
		if n.Type == config.Process && ni.state == StateStopped && n.Restart != policy.Permanent && !s.LastExitAt.IsZero() {
			ni.done = true
		}
	}
	return r
}

// whyOf assembles `otpsv why` of the node at path of the tree root.
func whyOf(r *registry, root *config.Node, path string, now time.Time) *control.Why {
	var parent, node *config.Node
	var find func(n, p *config.Node) bool
	find = func(n, p *config.Node) bool {
		if n.Path == path {
			node, parent = n, p
			return true
		}
		for _, c := range n.Children {
			if find(c, n) {
				return true
			}
		}
		return false
	}
	if !find(root, nil) {
		return nil
	}
	return r.why(node, parent, now)
}
