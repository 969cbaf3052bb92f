package config

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/otpsv/otpsv/actors/policy"
)

// AutoShutdown is when a supervisor shuts itself down because of its
// significant children (`auto_shutdown:`, SPEC §7, OTP's auto_shutdown).
type AutoShutdown int

// Auto-shutdown policies.
const (
	// AutoShutdownNever: significant children are not allowed (the default).
	AutoShutdownNever AutoShutdown = iota
	// AutoShutdownAnySignificant: the first significant child to exit
	// (as its restart type says) shuts the supervisor down.
	AutoShutdownAnySignificant
	// AutoShutdownAllSignificant: the exit of the last significant child
	// still alive does.
	AutoShutdownAllSignificant
)

var autoShutdownNames = [...]string{"never", "any_significant", "all_significant"}

// String returns the YAML spelling: never, any_significant, all_significant.
func (s AutoShutdown) String() string {
	if s >= 0 && int(s) < len(autoShutdownNames) {
		return autoShutdownNames[s]
	}
	return fmt.Sprintf("AutoShutdown(%d)", int(s))
}

// autoShutdown reads a supervisor's auto_shutdown. It reports false
// when the key is given but unreadable, so that its children are not
// also blamed for standing under "never".
func (a *at) autoShutdown(f fields, n *Node) bool {
	v, ok := f.get("auto_shutdown")
	if !ok {
		return true
	}
	s, ok := a.enum("auto_shutdown", "auto_shutdown", v, autoShutdownNames[:]...)
	if !ok {
		return false
	}
	for i, name := range autoShutdownNames {
		if s == name {
			n.AutoShutdown = AutoShutdown(i)
		}
	}
	return true
}

// restartType reads the restart type of a process worker or a
// supervisor (a service worker's restart key is a command, read by
// service). It reports false when the key is given but invalid.
func (a *at) restartType(f fields, n *Node) bool {
	v, ok := f.get("restart")
	if !ok {
		return true
	}
	s, ok := a.str("restart", v)
	if !ok {
		return false
	}
	rt, err := policy.ParseRestartType(s)
	if err != nil {
		a.errf(deref(v).Line, "restart", invalidError{err})
		return false
	}
	n.Restart = rt
	return true
}

// significance reads `significant:` once n's restart type is known
// (restartOK false: it is not, and is not checked against). The check
// against the supervisor's auto_shutdown is made by the supervisor
// (checkSignificant), which may be in another file; the line is kept
// for it in l.significant.
func (l *loader) significance(a *at, f fields, n *Node, restartOK bool) {
	v, ok := f.get("significant")
	if !ok {
		return
	}
	b, ok := a.boolean("significant", v)
	if !ok || !b {
		return
	}
	n.Significant = true
	line := deref(v).Line
	if l.significant == nil {
		l.significant = map[*Node]int{}
	}
	l.significant[n] = line
	if !restartOK || n.Restart != policy.Permanent {
		return
	}
	// OTP refuses it too: a permanent child's exit is always a failure
	// to restart from, never a reason to shut down.
	why := "it is permanent (give it restart: transient or temporary)"
	if n.Type == Service {
		why = "a service worker is always permanent"
	}
	a.errf(line, "significant", fmt.Errorf("%w: %s", ErrSignificant, why))
}

// checkSignificant reports the significant children of supervisor n
// when its auto_shutdown is never, at the line of their significant key.
func (l *loader) checkSignificant(n *Node) {
	if n.AutoShutdown != AutoShutdownNever {
		return
	}
	for _, k := range n.Children {
		if line, ok := l.significant[k]; ok {
			l.errs = append(l.errs, &FieldError{File: k.File, Line: line, Path: k.Path + ": significant",
				Err: fmt.Errorf("%w: its supervisor %s has auto_shutdown: never (give it any_significant or all_significant)", ErrSignificant, n.Path)})
		}
	}
}

// checkRootSignificant reports a significant root: it has no supervisor
// to shut down.
func (l *loader) checkRootSignificant(root *Node) {
	if line, ok := l.significant[root]; ok && root != nil {
		l.errs = append(l.errs, &FieldError{File: root.File, Line: line, Path: root.Path + ": significant",
			Err: fmt.Errorf("%w: the root has no supervisor to shut down", ErrSignificant)})
	}
}

// boolean reads key as true or false (in YAML 1.2's spellings: true,
// True, TRUE...). yes/no and on/off, YAML 1.1 booleans, are refused
// rather than guessed at.
func (a *at) boolean(key string, v *yaml.Node) (bool, bool) {
	s, ok := a.str(key, v)
	if !ok {
		return false, false
	}
	switch s {
	case "true", "True", "TRUE":
		return true, true
	case "false", "False", "FALSE":
		return false, true
	}
	a.errf(deref(v).Line, key, invalidf("%q is not a boolean (want true or false)", strings.TrimSpace(s)))
	return false, false
}
