package config

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"

	"github.com/otpsv/otpsv/actors/policy"
)

// Actions of a Change, and the sign its line starts with.
const (
	// ActionStart ("+"): the node starts: it was added, or is now
	// expected running.
	ActionStart = "start"
	// ActionAdd ("+"): the node was added but is expected stopped, so
	// nothing starts.
	ActionAdd = "add"
	// ActionStop ("-"): the node stops: it was removed, is now expected
	// stopped, or is a temporary worker stopped with a changed sibling and
	// not started again (OTP never restarts a temporary child).
	ActionStop = "stop"
	// ActionRestart ("~"): the node is stopped and started again.
	ActionRestart = "restart"
	// ActionChange ("~"): the node's definition changes and nothing
	// restarts: a supervisor's own keys (its policy changes in place), or
	// a worker expected stopped before and after.
	ActionChange = "change"
	// ActionSame ("="): nothing changes.
	ActionSame = "same"
)

// Change is what a reload does to one node: one line of `otpsv plan`.
type Change struct {
	Path   string `json:"path"`
	Action string `json:"action"` // one of the Action constants
	// Reason says why, in the words the line shows between parentheses:
	// "changed: command, env", "one_for_all with site/db" (restarted by
	// its supervisor's strategy together with that changed sibling, the
	// first one when several), "under site/backend" (inside a supervisor
	// that restarts), "expected stopped"; "" when the action says it all.
	Reason string `json:"reason"`
	// Fields are the YAML keys of the node's own definition that differ.
	Fields []string `json:"fields"`
}

// String renders c as `otpsv plan` prints it: "~ site/db restart
// (changed: command)", "= site/web".
func (c Change) String() string {
	var b strings.Builder
	b.WriteString(sign(c.Action))
	b.WriteByte(' ')
	b.WriteString(c.Path)
	if c.Action != ActionSame {
		b.WriteByte(' ')
		b.WriteString(c.Action)
	}
	if c.Reason != "" {
		b.WriteString(" (")
		b.WriteString(c.Reason)
		b.WriteByte(')')
	}
	return b.String()
}

func sign(action string) string {
	switch action {
	case ActionStart, ActionAdd:
		return "+"
	case ActionStop:
		return "-"
	case ActionSame:
		return "="
	}
	return "~"
}

// Affected returns the changes that are not ActionSame, in their order.
func Affected(changes []Change) []Change {
	var out []Change
	for _, c := range changes {
		if c.Action != ActionSame {
			out = append(out, c)
		}
	}
	return out
}

// WriteChanges writes one line per change (Change.String); the unchanged
// nodes only when all is set.
func WriteChanges(w io.Writer, changes []Change, all bool) error {
	if !all {
		changes = Affected(changes)
	}
	var b bytes.Buffer
	for _, c := range changes {
		b.WriteString(c.String())
		b.WriteByte('\n')
	}
	_, err := w.Write(b.Bytes())
	return err
}

// WriteChangesJSON writes {"changes":[{"path","action","reason","fields"}]}
// on one line; the unchanged nodes only when all is set. fields is a
// list, empty rather than null.
func WriteChangesJSON(w io.Writer, changes []Change, all bool) error {
	if !all {
		changes = Affected(changes)
	}
	out := struct {
		Changes []Change `json:"changes"`
	}{Changes: make([]Change, 0, len(changes))}
	for _, c := range changes {
		if c.Fields == nil {
			c.Fields = []string{}
		}
		out.Changes = append(out.Changes, c)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Diff returns what a reload from the tree from to the tree to does, one
// Change per node (ActionSame included), in tree order: depth first,
// children in the new list's order, a removed node where it stood in the
// old list. It is what a running tree's supervisors do on a reload
// (actors, supervisor reconfigure), decided from the definitions alone:
//
//   - children are matched by name and type; a node whose type changed is
//     a stop of the old one and a start of the new one;
//   - a worker whose definition changed (any key but backoff and
//     significant, as Node.Fingerprint) is restarted together with what
//     its supervisor's strategy restarts with it (policy.Plan): every
//     sibling under one_for_all, those after it under rest_for_one. A
//     temporary sibling is stopped and not started again. A supervisor
//     restarted this way restarts its whole subtree;
//   - a supervisor whose own keys changed (strategy, intensity,
//     auto_shutdown, restart...) keeps running with its new policy; its
//     children are compared in turn;
//   - a node whose only change is significant is a change, restarting
//     nothing: its supervisor reads it when the node exits;
//   - what a node runs depends on its expected state: a change that only
//     stops or starts it (expected) is a stop or a start, and a node
//     expected stopped before and after restarts nothing.
//
// It knows nothing of the running state: a node an operator stopped, or
// a temporary worker that ended, gets the line its definitions give.
// Neither tree is modified.
func Diff(from, to *Node) []Change {
	var d differ
	switch {
	case from == nil && to == nil:
	case from == nil:
		d.added(to, "")
	case to == nil:
		d.removed(from, "")
	case from.Name != to.Name || from.Type != to.Type:
		reason := ""
		if from.Name == to.Name {
			reason = "changed: type"
		}
		d.removed(from, reason)
		d.added(to, reason)
	default:
		d.matched(from, to, fate{})
	}
	return d.out
}

type differ struct{ out []Change }

// fate is what a node's supervisor, or an ancestor, does to it whatever
// its own definition says.
type fate struct {
	restart  bool   // stopped and started again
	stopOnly bool   // stopped and left stopped (a temporary worker)
	reason   string // "one_for_all with site/db", "under site/sub"
	under    string // the supervisor restarting the whole subtree, if any
}

func (d *differ) emit(n *Node, action, reason string, fields []string) {
	d.out = append(d.out, Change{Path: n.Path, Action: action, Reason: reason, Fields: fields})
}

// added: n and its subtree are new.
func (d *differ) added(n *Node, reason string) {
	switch {
	case n.Expected == Running:
		d.emit(n, ActionStart, reason, nil)
	case reason == "":
		d.emit(n, ActionAdd, "expected stopped", nil)
	default:
		d.emit(n, ActionAdd, reason+"; expected stopped", nil)
	}
	for _, c := range n.Children {
		d.added(c, "")
	}
}

// removed: o and its subtree are gone.
func (d *differ) removed(o *Node, reason string) {
	d.emit(o, ActionStop, reason, nil)
	for _, c := range o.Children {
		d.removed(c, "")
	}
}

// runAction is what becomes of a node that is stopped and started again
// if it is to run: by its expected state before and after.
func runAction(o, n *Node) string {
	switch was, is := o.Expected == Running, n.Expected == Running; {
	case was && is:
		return ActionRestart
	case was:
		return ActionStop
	case is:
		return ActionStart
	}
	return ActionChange
}

// matched: o and n are the same node (name and type) before and after;
// f is what its supervisor or an ancestor does to it.
func (d *differ) matched(o, n *Node, f fate) {
	fields := ChangedFields(o, n)
	action, reason := decide(o, n, f, fields)
	if action == ActionSame {
		fields = nil
	}
	d.emit(n, action, reason, fields)
	if n.Type != Supervisor {
		return
	}
	if (f.restart || f.stopOnly) && f.under == "" {
		f.reason, f.under = "under "+n.Path, n.Path
	}
	d.children(o, n, f)
}

// decide gives the action and reason of a matched node. A worker's own
// change wins over its fate (it restarts either way, and its change is
// the news); a supervisor's own change only changes its policy, so its
// fate decides.
func decide(o, n *Node, f fate, fields []string) (action, reason string) {
	changed := ""
	if len(fields) > 0 {
		changed = "changed: " + strings.Join(fields, ", ")
	}
	a := runAction(o, n)
	switch {
	case restarts(fields) && n.Type != Supervisor:
		return a, changed
	case f.restart && a == ActionRestart:
		return ActionRestart, f.reason
	case f.restart && a != ActionChange:
		return a, changed // its expected state changed: it only stops or starts
	case f.stopOnly && o.Expected == Running:
		return ActionStop, f.reason
	case len(fields) > 0:
		return ActionChange, changed
	}
	return ActionSame, ""
}

// children compares the children of supervisor o (before) and n (after).
// f is the fate of the supervisor's whole subtree (zero when it is not
// restarted): the strategy's collateral restarts apply only without one.
func (d *differ) children(o, n *Node, f fate) {
	olds, news := o.Children, n.Children
	byName := make(map[string]int, len(olds))
	for j, c := range olds {
		byName[c.Name] = j
	}
	newNames := make(map[string]bool, len(news))
	match := make([]int, len(news)) // index in olds, -1: added
	taken := make([]bool, len(olds))
	for i, c := range news {
		newNames[c.Name] = true
		match[i] = -1
		if j, ok := byName[c.Name]; ok && olds[j].Type == c.Type {
			match[i], taken[j] = j, true
		}
	}
	// A removed child is listed after the kept one it followed.
	after := make(map[int][]*Node)
	anchor := -1
	for j, c := range olds {
		if taken[j] {
			anchor = j
		} else {
			after[anchor] = append(after[anchor], c)
		}
	}
	fates := make([]fate, len(news))
	if f.restart || f.stopOnly {
		for i := range fates {
			fates[i] = f
		}
	} else {
		d.collateral(n, olds, match, fates)
	}
	typeChanged := func(name string, in map[string]bool) string {
		if in[name] {
			return "changed: type"
		}
		return ""
	}
	oldNames := make(map[string]bool, len(olds))
	for _, c := range olds {
		oldNames[c.Name] = true
	}
	for _, c := range after[-1] {
		d.removed(c, typeChanged(c.Name, newNames))
	}
	for i, c := range news {
		if match[i] < 0 {
			d.added(c, typeChanged(c.Name, oldNames))
			continue
		}
		d.matched(olds[match[i]], c, fates[i])
		for _, r := range after[match[i]] {
			d.removed(r, typeChanged(r.Name, newNames))
		}
	}
}

// collateral fills in fates with what supervisor n's strategy does to the
// siblings of each changed worker, as a failure of that worker would
// (policy.Plan over the new children list), the first changed worker
// naming the reason.
func (d *differ) collateral(n *Node, olds []*Node, match []int, fates []fate) {
	news := n.Children
	kids := make([]policy.Child, len(news))
	for i, c := range news {
		kids[i] = policy.Child{Name: c.Name, Restart: c.Restart}
	}
	stopBy := make(map[int]int)
	started := make(map[int]bool)
	for i, c := range news {
		if match[i] < 0 || c.Type == Supervisor || !restarts(ChangedFields(olds[match[i]], c)) {
			continue
		}
		act := policy.Plan(n.Strategy, kids, i)
		for _, j := range act.Stop {
			if _, ok := stopBy[j]; !ok {
				stopBy[j] = i
			}
		}
		for _, j := range act.Start {
			started[j] = true
		}
	}
	for j, i := range stopBy {
		if j == i {
			continue
		}
		fates[j] = fate{restart: started[j], stopOnly: !started[j], reason: n.Strategy.String() + " with " + news[i].Path}
	}
}

// diffKeys names, for each Node field a reload compares, the YAML key
// that sets it. notCompared are the fields that are not a node's own
// definition: its identity (matched on), where it was written, its
// children (compared one by one), and its backoff, which only shapes the
// next restart (see Fingerprint).
var (
	diffKeys = map[string]string{
		"Expected": "expected", "Significant": "significant", "Strategy": "strategy", "Intensity": "intensity", "Period": "period",
		"AutoShutdown": "auto_shutdown", "Log": "log",
		"Restart": "restart", "Status": "status", "Timeout": "timeout",
		"Command": "command", "Dir": "dir", "Env": "env", "User": "user", "Group": "group",
		"StopSignal": "stop_signal", "StopTimeout": "stop_timeout", "Stdout": "stdout", "Stderr": "stderr",
		"Control": "control", "Start": "start", "Stop": "stop", "RestartCmd": "restart", "StopStart": "restart",
		"Pattern": "pattern", "PatternSet": "pattern", "SearchPath": "path",
		"Ready": "ready", "ReadyFD": "ready", "ReadyTimeout": "ready_timeout", "Watchdog": "watchdog",
		"Readiness": "readiness", "Liveness": "liveness", "Pidfile": "pidfile",
	}
	notCompared = map[string]bool{"Name": true, "Path": true, "Type": true, "File": true, "Line": true, "Children": true, "Backoff": true}
	// inPlace are the keys compared and reported that are not part of the
	// fingerprint: a reload applies them without restarting the node.
	inPlace = []string{"significant"}
)

// restarts says whether a change of the keys fields restarts a worker:
// whether one of them is in its fingerprint.
func restarts(fields []string) bool {
	for _, f := range fields {
		if !contains(inPlace, f) {
			return true
		}
	}
	return false
}

// ChangedFields returns the YAML keys whose values differ between the
// definitions o and n of one node, in the order of Node's fields, each
// once. Values are compared as Fingerprint sees them (their JSON), so the
// list holds a key outside inPlace (significant) exactly when the
// fingerprints differ.
func ChangedFields(o, n *Node) []string {
	ov, nv := reflect.ValueOf(o).Elem(), reflect.ValueOf(n).Elem()
	t := ov.Type()
	var out []string
	for i := range t.NumField() {
		name := t.Field(i).Name
		if notCompared[name] {
			continue
		}
		a, _ := json.Marshal(ov.Field(i).Interface())
		b, _ := json.Marshal(nv.Field(i).Interface())
		if bytes.Equal(a, b) {
			continue
		}
		key, ok := diffKeys[name]
		if !ok {
			key = name // a field added to Node without a key here (a test catches it)
		}
		if !contains(out, key) {
			out = append(out, key)
		}
	}
	return out
}
