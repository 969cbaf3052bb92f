package actors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/otpsv/otpsv/actors/proc"
	"github.com/otpsv/otpsv/config"
	"github.com/otpsv/otpsv/persistence"
)

// What a previous run of otpsv left behind, and what this run does about
// it, decided in one place for the daemon and for a pass.
//
// A previous run can be killed at any moment: between a fork and the save
// of the new pid, while a worker's main process had died and left members
// in its process group, while the store was being written. Two sources
// tell what it left: the saved snapshot (pid and start time) and the
// process table, where every process worker and its descendants carry the
// node's tag (proc.TagVar) in their environment. A pid that was never
// saved is found by its tag.

// leftBehind is what this run finds of one process worker.
type leftBehind struct {
	snap persistence.Snapshot
	// savedLive: the saved pid runs, with the saved start time.
	savedLive bool
	// tagged are the live processes carrying the node's tag.
	tagged []proc.Tagged
}

// takeOver is what this run does with it before the worker runs.
type takeOver struct {
	// adopt is the process to adopt (zero Pid: none; the worker starts a
	// new one, or counts the death, as its snapshot says).
	adopt proc.Tagged
	// found: adopt comes from the process table, not the snapshot (the
	// previous run was killed before it saved the pid).
	found bool
	// empty are the process groups whose leader is gone: what is left in
	// them is the worker's, and is stopped before the worker runs again.
	empty []int
}

// decideTakeOver is the rule, pure so it can be table-tested:
//   - the saved process still runs: adopt it;
//   - else the newest tagged group leader (a process forked by a run
//     killed before it saved the pid) is adopted, if there is one;
//   - the groups of the worker whose leader is gone are emptied before
//     the worker runs: the saved process's, and those of tagged processes
//     (what a dead main process left behind);
//   - tagged processes in a group whose leader lives and is not adopted
//     are left alone: a worker may put a helper in a session of its own,
//     and a running daemon would not stop those either.
func decideTakeOver(l leftBehind) takeOver {
	var t takeOver
	leaders := map[int]proc.Tagged{}
	for _, p := range l.tagged {
		if p.Pid == p.Pgid {
			leaders[p.Pid] = p
		}
	}
	if l.snap.Pid > 0 && l.savedLive {
		t.adopt = proc.Tagged{Pid: l.snap.Pid, Pgid: l.snap.Pid, StartTime: l.snap.PidStart}
		leaders[l.snap.Pid] = t.adopt
	} else {
		for _, p := range leaders {
			if p.StartTime > t.adopt.StartTime || p.StartTime == t.adopt.StartTime && p.Pid > t.adopt.Pid {
				t.adopt, t.found = p, true
			}
		}
		if _, reused := leaders[l.snap.Pid]; l.snap.Pid > 0 && !reused {
			// While a group has members its id is not given to a new
			// process: a pid in use by a leader means the group is empty.
			t.empty = append(t.empty, l.snap.Pid)
		}
	}
	for _, p := range l.tagged {
		if _, alive := leaders[p.Pgid]; !alive && !slices.Contains(t.empty, p.Pgid) {
			t.empty = append(t.empty, p.Pgid)
		}
	}
	slices.Sort(t.empty)
	return t
}

// tagInstance names a state_dir in the tags of its workers: every otpsv
// on the host finds its own workers by it, and never another's.
func tagInstance(stateDir string) string {
	if stateDir == "" {
		return ""
	}
	if abs, err := filepath.Abs(stateDir); err == nil {
		stateDir = abs
	}
	sum := sha256.Sum256([]byte(stateDir))
	return hex.EncodeToString(sum[:6])
}

// tagOf is the tag of the worker at path ("" when workers are not tagged).
func (e *env) tagOf(path string) string {
	if e.instance == "" {
		return ""
	}
	return e.instance + "/" + path
}

// orphanGroup is a process group left by a worker no longer in the
// configuration.
type orphanGroup struct {
	path  string
	group proc.Group
}

// takeOverAll decides, for every process worker of root, what to do with
// what the previous run left (snaps, updated in place with the processes
// found by their tag), and returns the groups left by workers that are
// no longer in the configuration.
func (e *env) takeOverAll(root *config.Node, snaps map[string]persistence.Snapshot) (map[string][]int, []orphanGroup) {
	byTag := map[string][]proc.Tagged{}
	if e.instance != "" {
		tagged, err := proc.FindTagged(e.instance + "/")
		if err != nil {
			e.log.Warn("cannot look for the processes of an earlier run", "err", err)
		}
		for _, p := range tagged {
			byTag[p.Tag] = append(byTag[p.Tag], p)
		}
	}
	empty := map[string][]int{}
	var walk func(n *config.Node)
	walk = func(n *config.Node) {
		for _, c := range n.Children {
			walk(c)
		}
		if n.Type != config.Process {
			return
		}
		tag := e.tagOf(n.Path)
		snap := snaps[n.Path]
		t := decideTakeOver(leftBehind{snap: snap, savedLive: snap.Pid > 0 && sameProcess(snap.Pid, snap.PidStart), tagged: byTag[tag]})
		delete(byTag, tag)
		if t.found {
			e.log.Info("found a process of an earlier run by its tag", "node", n.Path, "pid", t.adopt.Pid)
			snap.Path, snap.Pid, snap.PidStart = n.Path, t.adopt.Pid, t.adopt.StartTime
			if snap.State != string(StateStarting) {
				snap.State = string(StateRunning)
			}
			snaps[n.Path] = snap
		}
		if len(t.empty) > 0 {
			empty[n.Path] = t.empty
		}
	}
	walk(root)

	var orphans []orphanGroup
	for path, s := range snaps {
		if s.Pid > 0 && e.reg.get(path) == nil {
			orphans = append(orphans, orphanGroup{path: path, group: proc.Group{Pgid: s.Pid, LeaderStart: s.PidStart, Tag: e.tagOf(path)}})
		}
	}
	for tag, ps := range byTag {
		path := strings.TrimPrefix(tag, e.instance+"/")
		for _, p := range ps {
			if !slices.ContainsFunc(orphans, func(o orphanGroup) bool { return o.group.Pgid == p.Pgid }) {
				orphans = append(orphans, orphanGroup{path: path, group: proc.Group{Pgid: p.Pgid, Tag: tag}})
			}
		}
	}
	return empty, orphans
}

// sameProcess reports whether pid still runs the process that started at
// start (clock ticks since boot).
func sameProcess(pid int, start uint64) bool {
	info, err := proc.LookupProcess(pid)
	return err == nil && info.StartTime == start && info.State != 'Z' && info.State != 'X'
}

// emptyGroups stops what the worker's earlier processes left in their
// process groups, before the worker runs again (SPEC §3: no process of a
// stopped worker survives).
func (w *processWorker) emptyGroups(snap persistence.Snapshot) {
	for _, pg := range w.birth.empty {
		g := proc.Group{Pgid: pg, Tag: w.env.tagOf(w.node.Path)}
		if pg == snap.Pid {
			g.LeaderStart = snap.PidStart
		}
		ours, unproven, err := g.Leftovers()
		for _, u := range unproven {
			w.env.log.Warn("left alone: a process in the group of an earlier process of the worker, not provably the worker's",
				"node", w.node.Path, "group", pg, "pid", u.Pid)
		}
		if err != nil || len(ours) == 0 {
			continue
		}
		pids := make([]int, len(ours))
		for i, p := range ours {
			pids[i] = p.Pid
		}
		if _, err := g.Stop(context.Background(), w.node.StopSignal, w.node.StopTimeout, w.env.hurry); err != nil {
			w.env.log.Error("stop incomplete", "node", w.node.Path, "group", pg, "err", err)
		}
		w.env.log.Warn("stopped what an earlier process left in its process group", "node", w.node.Path, "group", pg, "pids", pids)
		w.env.report(w.node.Path, fmt.Sprintf("stopped %v: left in process group %d by an earlier process", pids, pg))
	}
}
