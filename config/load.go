package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/otpsv/otpsv/actors/policy"
)

// Defaults filled in by Load.
const (
	DefaultCheckInterval = 30 * time.Second
	DefaultLogLevel      = "info"
	DefaultLogFormat     = "text"
	DefaultStrategy      = policy.OneForOne
	DefaultIntensity     = 3
	DefaultPeriod        = 60 * time.Second
	DefaultStopSignal    = syscall.SIGTERM
	DefaultStopTimeout   = 10 * time.Second
	DefaultTimeout       = 60 * time.Second
)

// StopStart is the value of a service worker's restart key meaning "stop,
// then start" instead of a restart command.
const StopStart = "stop+start"

// LoadFile reads and validates the configuration in path. See Load.
func LoadFile(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Load(f, path)
}

// Load reads and validates a configuration from r. file names r in error
// messages and in Node.File, and its directory is the base of relative
// include patterns and relative paths (dir, stdout, stderr, state_dir).
//
// Load reports every problem it finds, not just the first: the error is
// an errors.Join of *FieldError values, each naming a file and line. On
// error the returned Config is nil.
func Load(r io.Reader, file string) (*Config, error) {
	return load(r, file, os.Geteuid())
}

// load is Load with the effective uid given, for tests.
func load(r io.Reader, file string, euid int) (*Config, error) {
	l := &loader{euid: euid, open: map[*yaml.Node]bool{}, merging: map[*yaml.Node]bool{}}
	c := l.config(r, file)
	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	return c, nil
}

// loader walks the YAML node trees of the main file and its includes,
// collecting every problem into errs.
type loader struct {
	euid int
	errs []error
	// chain is the include chain being loaded, outermost first.
	chain []chainLink
	// open holds the YAML mappings of the nodes being read, and merging
	// those whose merge keys are being followed: an alias to one of them
	// would make the walk endless.
	open, merging map[*yaml.Node]bool
	// nodes counts the nodes read; tooMany is set past MaxNodes.
	nodes   int
	tooMany bool
	// backoffs holds the nodes that have a backoff key, with its value
	// (nil for none), for inheritBackoff.
	backoffs map[*Node]*policy.Backoff
	// logs holds the log blocks of nodes, and settingsLog that of
	// settings, for inheritLog.
	logs        map[*Node]*logBlock
	settingsLog *logBlock
	// significant holds the nodes with significant: true, with the line
	// of the key, for their supervisor's check.
	significant map[*Node]int
}

// MaxNodes is the most nodes a configuration may hold. Aliases can
// repeat a subtree at every level, so a short file could otherwise
// describe billions of nodes.
const MaxNodes = 100000

type chainLink struct {
	id   string // absolute, symlink-free path: the file's identity
	name string // as shown in messages
}

// src is the file being read.
type src struct {
	file string // name used in messages and Node.File
	dir  string // base directory for relative paths
}

func newSrc(file string) src { return src{file: file, dir: filepath.Dir(file)} }

// at is where a value is read: a file, a node path and a scope.
type at struct {
	l    *loader
	src  src
	path string // node path, or a top-level section name
	sc   *scope
}

// errf records err at line for key (which may be empty).
func (a *at) errf(line int, key string, err error) {
	p := a.path
	if key != "" {
		if p != "" {
			p += ": "
		}
		p += key
	}
	a.l.errs = append(a.l.errs, &FieldError{File: a.src.file, Line: line, Path: p, Err: err})
}

// pair is one key and its value in a mapping.
type pair struct {
	key  string
	k, v *yaml.Node
}

// fields is a mapping's pairs, in order, with lookup by key.
type fields struct {
	list []pair
	by   map[string]pair
}

func (f fields) get(key string) (*yaml.Node, bool) {
	p, ok := f.by[key]
	return p.v, ok
}

func (f fields) has(key string) bool { _, ok := f.by[key]; return ok }

// deref follows aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// kindName describes a YAML node's type for messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		return "a scalar"
	}
	return "a document"
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// mapping returns the pairs of mapping m (nil, or an empty mapping, for a
// null when nullOK), reporting duplicate keys and non-scalar keys. YAML
// merge keys (<<: *anchor) are honoured: explicit keys win over merged ones.
func (a *at) mapping(m *yaml.Node, key string, what string, nullOK bool) (fields, bool) {
	f := fields{by: map[string]pair{}}
	m = deref(m)
	if nullOK && isNull(m) {
		return f, true
	}
	if m.Kind != yaml.MappingNode {
		a.errf(m.Line, key, fmt.Errorf("%w: want %s, got %s", ErrType, what, kindName(m)))
		return f, false
	}
	var merged []pair
	a.l.merging[m] = true
	defer delete(a.l.merging, m)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			a.errf(k.Line, key, fmt.Errorf("%w: want a string key, got %s", ErrType, kindName(k)))
			continue
		}
		if k.ShortTag() == "!!merge" {
			dv := deref(v)
			srcs := []*yaml.Node{v}
			if dv.Kind == yaml.SequenceNode {
				srcs = dv.Content
			}
			for _, s := range srcs {
				if a.l.merging[deref(s)] {
					a.errf(s.Line, key, fmt.Errorf("%w (*%s)", ErrAliasCycle, s.Value))
					continue
				}
				sf, _ := a.mapping(s, key, "a mapping to merge", false)
				merged = append(merged, sf.list...)
			}
			continue
		}
		if prev, ok := f.by[k.Value]; ok {
			a.errf(k.Line, key, fmt.Errorf("%w %q (first at line %d)", ErrDuplicateKey, k.Value, prev.k.Line))
			continue
		}
		p := pair{key: k.Value, k: k, v: v}
		f.list = append(f.list, p)
		f.by[k.Value] = p
	}
	for _, p := range merged {
		if !f.has(p.key) {
			f.list = append(f.list, p)
			f.by[p.key] = p
		}
	}
	return f, true
}

// str returns the ${var}-expanded text of the scalar v, read for key.
// Every value ends up in an argv, an environment, a path or a pattern,
// none of which can hold a NUL byte, so one is refused here.
func (a *at) str(key string, v *yaml.Node) (string, bool) {
	s, ok := a.text(key, v)
	if ok && strings.IndexByte(s, 0) >= 0 {
		a.errf(deref(v).Line, key, invalidf("%w in %q", ErrNUL, s))
		return "", false
	}
	return s, ok
}

// text is str without the NUL check, for variables: a NUL is reported
// where a variable is used, not where it is defined.
func (a *at) text(key string, v *yaml.Node) (string, bool) {
	v = deref(v)
	if v.Kind != yaml.ScalarNode || isNull(v) {
		a.errf(v.Line, key, fmt.Errorf("%w: want a string, got %s", ErrType, kindName(v)))
		return "", false
	}
	s, err := expand(v.Value, a.sc)
	if err != nil {
		a.errf(v.Line, key, err)
		return "", false
	}
	return s, true
}

// duration reads key as a duration; positive requires > 0.
func (a *at) duration(key string, v *yaml.Node, positive bool) (time.Duration, bool) {
	s, ok := a.str(key, v)
	if !ok {
		return 0, false
	}
	d, err := parseDuration(s)
	if err == nil && positive && d == 0 {
		err = invalidf("duration must be greater than zero")
	}
	if err != nil {
		a.errf(deref(v).Line, key, err)
		return 0, false
	}
	return d, true
}

// enum reads key as one of the words in choices; label names the kind of
// value in messages ("log level").
func (a *at) enum(key, label string, v *yaml.Node, choices ...string) (string, bool) {
	s, ok := a.str(key, v)
	if !ok {
		return "", false
	}
	for _, c := range choices {
		if s == c {
			return s, true
		}
	}
	a.errf(deref(v).Line, key, invalidf("unknown %s %q (want %s)", label, s, orList(choices)))
	return "", false
}

// orList renders a, b or c.
func orList(xs []string) string { return list(xs, "or") }

// andList renders a, b and c.
func andList(xs []string) string { return list(xs, "and") }

func list(xs []string, conj string) string {
	if len(xs) == 1 {
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " " + conj + " " + xs[len(xs)-1]
}

// command reads key as a command: a list of words (argv), or a string
// split with shell-like quoting after ${var} expansion.
func (a *at) command(key string, v *yaml.Node) ([]string, bool) {
	v = deref(v)
	var argv []string
	switch {
	case v.Kind == yaml.SequenceNode:
		ok := true
		for _, w := range v.Content {
			s, wok := a.str(key, w)
			ok = ok && wok
			argv = append(argv, s)
		}
		if !ok {
			return nil, false
		}
	case v.Kind == yaml.ScalarNode && !isNull(v):
		s, ok := a.str(key, v)
		if !ok {
			return nil, false
		}
		words, err := splitWords(s)
		if err != nil {
			a.errf(v.Line, key, err)
			return nil, false
		}
		argv = words
	default:
		a.errf(v.Line, key, fmt.Errorf("%w: want a command (a string or a list of strings), got %s", ErrType, kindName(v)))
		return nil, false
	}
	if len(argv) == 0 || argv[0] == "" {
		a.errf(v.Line, key, invalidf("empty command"))
		return nil, false
	}
	return argv, true
}

// localPath reads key as a path, relative to the file's directory, made
// absolute.
func (a *at) localPath(key string, v *yaml.Node) (string, bool) {
	s, ok := a.str(key, v)
	if !ok {
		return "", false
	}
	if s == "" {
		a.errf(deref(v).Line, key, invalidf("empty path"))
		return "", false
	}
	return absIn(a.src.dir, s), true
}

// absIn makes p absolute, relative to dir when it is relative.
func absIn(dir, p string) string {
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// vars reads a vars mapping into a new scope under outer. Each value may
// use the variables defined before it: in outer scopes, or above it in
// the same mapping.
func (a *at) vars(v *yaml.Node, outer *scope) *scope {
	sc := &scope{parent: outer, vars: map[string]string{}}
	f, ok := a.mapping(v, "vars", "a mapping of names to values", true)
	if !ok {
		return sc
	}
	va := *a
	va.sc = sc
	for _, p := range f.list {
		key := "vars: " + p.key
		if a.path == "vars" {
			key = p.key
		}
		if !varRE.MatchString(p.key) {
			a.errf(p.k.Line, key, fmt.Errorf("%w %q (want [A-Za-z_][A-Za-z0-9_]*)", ErrInvalidName, p.key))
			continue
		}
		val := deref(p.v)
		if isNull(val) {
			sc.vars[p.key] = ""
			continue
		}
		if s, ok := va.text(key, val); ok {
			sc.vars[p.key] = s
		}
	}
	return sc
}

// config reads the main file.
func (l *loader) config(r io.Reader, file string) *Config {
	s := newSrc(file)
	c := &Config{
		File: file,
		Settings: Settings{
			CheckInterval: DefaultCheckInterval,
			LogLevel:      DefaultLogLevel,
			LogFormat:     DefaultLogFormat,
		},
	}
	doc, ok := l.parse(r, s)
	if !ok {
		return nil
	}
	top := &at{l: l, src: s}
	if doc == nil {
		// The file has no line, but editors show one to point at.
		top.errf(1, "", fmt.Errorf("%w \"tree\" (the file is empty)", ErrMissingKey))
		return nil
	}
	f, ok := top.mapping(doc, "", "a mapping with settings, vars and tree", false)
	if !ok {
		return nil
	}
	for _, p := range f.list {
		switch p.key {
		case "settings", "vars", "tree":
		default:
			top.errf(p.k.Line, "", fmt.Errorf("%w %q (want settings, vars or tree)", ErrUnknownKey, p.key))
		}
	}
	sc := &scope{vars: map[string]string{}}
	if v, ok := f.get("vars"); ok {
		va := &at{l: l, src: s, path: "vars"}
		sc = va.vars(v, nil)
	}
	if v, ok := f.get("settings"); ok {
		l.settings(&at{l: l, src: s, path: "settings", sc: sc}, v, &c.Settings)
	}
	v, ok := f.get("tree")
	if !ok {
		top.errf(doc.Line, "", fmt.Errorf("%w \"tree\"", ErrMissingKey))
		return nil
	}
	l.chain = []chainLink{{id: fileID(file), name: file}}
	c.Tree = l.node(v, s, sc, "", "tree", false)
	// After the whole tree: included subtrees inherit too.
	l.inheritBackoff(c.Tree, nil)
	l.inheritLog(c.Tree, l.settingsLog)
	l.checkRootSignificant(c.Tree)
	return c
}

// parse decodes one YAML document from r. It returns nil, true for an
// empty file (or one holding only null), and records syntax errors,
// returning false.
func (l *loader) parse(r io.Reader, s src) (*yaml.Node, bool) {
	data, err := io.ReadAll(r)
	if err != nil {
		l.errs = append(l.errs, &FieldError{File: s.file, Err: err})
		return nil, false
	}
	if line, err := checkText(data); err != nil {
		l.errs = append(l.errs, &FieldError{File: s.file, Line: line, Err: err})
		return nil, false
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, true
		}
		l.yamlErr(s, data, err)
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			l.yamlErr(s, data, err)
			return nil, false
		}
		l.errs = append(l.errs, &FieldError{File: s.file, Line: extra.Line,
			Err: fmt.Errorf("%w: more than one document (---) in one file", ErrSyntax)})
		return nil, false
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, true
		}
		root = root.Content[0]
	}
	if isNull(deref(root)) {
		return nil, true
	}
	return root, true
}

// yamlErr records a yaml.v3 decoding error of data with its line.
func (l *loader) yamlErr(s src, data []byte, err error) {
	msg, line := yamlErrLine(data, err)
	l.errs = append(l.errs, &FieldError{File: s.file, Line: line, Err: fmt.Errorf("%w: %s", ErrSyntax, msg)})
}

// settings reads the settings section into st.
func (l *loader) settings(a *at, v *yaml.Node, st *Settings) {
	f, ok := a.mapping(v, "", "a mapping", true)
	if !ok {
		return
	}
	for _, p := range f.list {
		switch p.key {
		case "state_dir":
			if s, ok := a.str(p.key, p.v); ok {
				if s == "" {
					a.errf(deref(p.v).Line, p.key, invalidf("empty path"))
				}
				st.StateDir = s
			}
		case "check_interval":
			if d, ok := a.duration(p.key, p.v, true); ok {
				st.CheckInterval = d
			}
		case "log_level":
			if s, ok := a.enum(p.key, "log level", p.v, "debug", "info", "warn", "error"); ok {
				st.LogLevel = s
			}
		case "log_format":
			if s, ok := a.enum(p.key, "log format", p.v, "text", "json"); ok {
				st.LogFormat = s
			}
		case "metrics":
			if s, ok := a.str(p.key, p.v); ok {
				if err := checkMetricsAddr(s); err != nil {
					a.errf(deref(p.v).Line, p.key, err)
				}
				st.Metrics = s
			}
		case "log":
			l.settingsLog = a.logBlock(p.v)
		default:
			a.errf(p.k.Line, "", fmt.Errorf("%w %q (want state_dir, check_interval, log_level, log_format, metrics or log)", ErrUnknownKey, p.key))
		}
	}
}

// checkMetricsAddr accepts what the metrics listener can serve on:
// HOST:PORT with a numeric port, or unix:/ABSOLUTE/PATH. (The listener,
// in actors/metrics, checks the same; config must not import it.)
func checkMetricsAddr(s string) error {
	if p, ok := strings.CutPrefix(s, "unix:"); ok {
		if !filepath.IsAbs(p) {
			return invalidf("metrics address %q: want unix:/absolute/path", s)
		}
		return nil
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return invalidf("metrics address %q: want HOST:PORT (127.0.0.1:9184) or unix:/PATH", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return invalidf("metrics address %q: port %q: want a number from 1 to 65535", s, port)
	}
	return nil
}

// Keys of each kind of node.
var (
	commonKeys     = []string{"name", "type", "expected", "vars", "significant"}
	supervisorKeys = []string{"strategy", "intensity", "period", "children", "backoff", "restart", "auto_shutdown", "log"}
	processKeys    = []string{"command", "dir", "env", "user", "group", "stop_signal", "stop_timeout", "restart", "stdout", "stderr", "status", "timeout", "ready", "ready_timeout", "watchdog", "probes", "backoff", "log"}
	serviceKeys    = []string{"control", "start", "stop", "status", "restart", "pattern", "timeout", "path", "pidfile", "probes", "backoff"}
)

func keysOf(t Type) []string {
	switch t {
	case Supervisor:
		return supervisorKeys
	case Process:
		return processKeys
	default:
		return serviceKeys
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// kindDesc names a node type in messages.
func kindDesc(t Type) string {
	if t == Supervisor {
		return "a supervisor"
	}
	return "a " + t.String() + " worker"
}

// node reads the node in mapping m. parent is the parent's path ("" for
// the root), where names the node in messages when it has no usable name,
// stopped says an ancestor imposes expected: stopped. It returns nil when
// the node is too broken to build.
func (l *loader) node(m *yaml.Node, s src, sc *scope, parent, where string, stopped bool) *Node {
	a := &at{l: l, src: s, path: where, sc: sc}
	ref := m
	m = deref(m)
	if l.open[m] {
		err := ErrAliasCycle
		if ref.Kind == yaml.AliasNode {
			err = fmt.Errorf("%w (*%s)", ErrAliasCycle, ref.Value)
		}
		a.errf(ref.Line, "", err)
		return nil
	}
	if l.nodes++; l.nodes > MaxNodes {
		if !l.tooMany {
			l.tooMany = true
			a.errf(ref.Line, "", fmt.Errorf("%w: more than %d (do aliases repeat a subtree?)", ErrTooManyNodes, MaxNodes))
		}
		return nil
	}
	l.open[m] = true
	defer delete(l.open, m)
	f, ok := a.mapping(m, "", "a mapping (a node)", false)
	if !ok {
		return nil
	}
	if v, ok := f.get("vars"); ok {
		a.sc = a.vars(v, sc)
	}
	n := &Node{File: s.file, Line: m.Line}
	broken := false

	// name
	if v, ok := f.get("name"); !ok {
		a.errf(m.Line, "", fmt.Errorf("%w \"name\"", ErrMissingKey))
		broken = true
	} else if name, ok := a.str("name", v); !ok {
		broken = true
	} else if !nameRE.MatchString(name) {
		a.errf(deref(v).Line, "name", fmt.Errorf("%w %q (want [A-Za-z0-9_.-]+)", ErrInvalidName, name))
		broken = true
	} else {
		n.Name = name
		n.Path = name
		if parent != "" {
			n.Path = parent + "/" + name
		}
		a.path = n.Path
	}
	path := a.path // for children of a nameless node too

	// type
	typeOK := true
	if v, ok := f.get("type"); ok {
		t, ok := a.enum("type", "node type", v, "supervisor", "process", "service")
		switch t {
		case "supervisor":
			n.Type = Supervisor
		case "process":
			n.Type = Process
		case "service":
			n.Type = Service
		}
		typeOK = ok
	} else {
		var kinds []string
		if f.has("children") {
			kinds = append(kinds, "children")
			n.Type = Supervisor
		}
		if f.has("command") {
			kinds = append(kinds, "command")
			n.Type = Process
		}
		if f.has("control") || f.has("start") {
			k := "control"
			if !f.has("control") {
				k = "start"
			}
			kinds = append(kinds, k)
			n.Type = Service
		}
		switch len(kinds) {
		case 0:
			a.errf(m.Line, "", fmt.Errorf("%w: give children (supervisor), command (process worker) or control/start (service worker)", ErrNodeType))
			typeOK = false
		case 1:
		default:
			a.errf(m.Line, "", fmt.Errorf("%w: it has both %s; remove one or set type", ErrNodeType, andList(kinds)))
			typeOK = false
		}
	}

	// keys
	for _, p := range f.list {
		switch {
		case contains(commonKeys, p.key):
		case !typeOK:
			if !contains(supervisorKeys, p.key) && !contains(processKeys, p.key) && !contains(serviceKeys, p.key) {
				a.errf(p.k.Line, "", fmt.Errorf("%w %q", ErrUnknownKey, p.key))
			}
		case !contains(keysOf(n.Type), p.key):
			if contains(supervisorKeys, p.key) || contains(processKeys, p.key) || contains(serviceKeys, p.key) {
				a.errf(p.k.Line, "", fmt.Errorf("%w %q for %s%s", ErrUnknownKey, p.key, kindDesc(n.Type), keyHint(n.Type, p.key)))
			} else {
				a.errf(p.k.Line, "", fmt.Errorf("%w %q", ErrUnknownKey, p.key))
			}
		}
	}

	// expected
	if v, ok := f.get("expected"); ok {
		if e, ok := a.enum("expected", "expected state", v, "running", "stopped"); ok && e == "stopped" {
			stopped = true
		}
	}
	if stopped {
		n.Expected = Stopped
	}

	if !typeOK {
		// Still look into the children for their own problems.
		if v, ok := f.get("children"); ok && deref(v).Kind == yaml.SequenceNode {
			l.children(a, v, path, stopped)
		}
		return nil
	}
	restartOK := true
	switch n.Type {
	case Supervisor:
		restartOK = l.supervisor(a, f, m, n, path, stopped)
	case Process:
		restartOK = l.process(a, f, m, n)
	case Service:
		l.service(a, f, m, n)
	}
	l.health(a, f, n)
	l.significance(a, f, n, restartOK)
	if v, ok := f.get("log"); ok && n.Type != Service {
		if b := a.logBlock(v); b != nil {
			if l.logs == nil {
				l.logs = map[*Node]*logBlock{}
			}
			l.logs[n] = b
		}
	}
	if broken {
		return nil
	}
	return n
}

// supervisor reads a supervisor's own keys and its children. It reports
// whether its restart type is known (see significance).
func (l *loader) supervisor(a *at, f fields, m *yaml.Node, n *Node, path string, stopped bool) bool {
	n.Restart = policy.Permanent
	n.Strategy = DefaultStrategy
	n.Intensity = DefaultIntensity
	n.Period = DefaultPeriod
	if v, ok := f.get("strategy"); ok {
		if s, ok := a.str("strategy", v); ok {
			st, err := policy.ParseStrategy(s)
			if err != nil {
				a.errf(deref(v).Line, "strategy", invalidError{err})
			}
			n.Strategy = st
		}
	}
	if v, ok := f.get("intensity"); ok {
		if s, ok := a.str("intensity", v); ok {
			i, err := strconv.Atoi(strings.TrimSpace(s))
			switch {
			case err != nil:
				a.errf(deref(v).Line, "intensity", invalidf("intensity %q is not a whole number", s))
			case i < 0:
				a.errf(deref(v).Line, "intensity", invalidf("negative intensity %d", i))
			default:
				n.Intensity = i
			}
		}
	}
	if v, ok := f.get("period"); ok {
		if d, ok := a.duration("period", v, true); ok {
			n.Period = d
		}
	}
	restartOK := a.restartType(f, n)
	autoOK := a.autoShutdown(f, n)
	v, ok := f.get("children")
	if !ok {
		a.errf(m.Line, "", fmt.Errorf("%w \"children\" (a supervisor needs at least one child)", ErrMissingKey))
		return restartOK
	}
	n.Children = l.children(a, v, path, stopped)
	if autoOK {
		l.checkSignificant(n)
	}
	return restartOK
}

// children reads a supervisor's children list, expanding include items,
// and checks that sibling names are unique.
func (l *loader) children(a *at, v *yaml.Node, path string, stopped bool) []*Node {
	v = deref(v)
	if isNull(v) || (v.Kind == yaml.SequenceNode && len(v.Content) == 0) {
		a.errf(v.Line, "children", fmt.Errorf("%w: a supervisor needs at least one child", ErrEmptyChildren))
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		a.errf(v.Line, "children", fmt.Errorf("%w: want a list of nodes, got %s", ErrType, kindName(v)))
		return nil
	}
	var kids []*Node
	for i, item := range v.Content {
		kids = append(kids, l.item(a, item, path, fmt.Sprintf("children[%d]", i), stopped)...)
	}
	if l.tooMany {
		// The tree is cut short; duplicates in it would only be noise.
		return kids
	}
	seen := map[string]*Node{}
	for _, k := range kids {
		if first, ok := seen[k.Name]; ok {
			l.errs = append(l.errs, &FieldError{File: k.File, Line: k.Line, Path: k.Path,
				Err: fmt.Errorf("%w %q among the children of %s (first at %s:%d)", ErrDuplicateName, k.Name, path, first.File, first.Line)})
			continue
		}
		seen[k.Name] = k
	}
	return kids
}

// item reads one entry of a children list: a node, or an include.
// index names the entry in messages when it has no usable name.
func (l *loader) item(a *at, item *yaml.Node, path, index string, stopped bool) []*Node {
	where := index
	if path != "" {
		where = path + "/" + index
	}
	if d := deref(item); d.Kind == yaml.MappingNode {
		ipath := path
		if ipath == "" {
			ipath = where
		}
		ia := &at{l: l, src: a.src, path: ipath, sc: a.sc}
		for i := 0; i+1 < len(d.Content); i += 2 {
			if d.Content[i].Value == "include" {
				return l.include(ia, d, path, stopped)
			}
		}
	}
	n := l.node(item, a.src, a.sc, path, where, stopped)
	if n == nil {
		return nil
	}
	return []*Node{n}
}

// sortedEnv renders env as sorted K=V strings.
func sortedEnv(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// process reads a process worker's keys. It reports whether its restart
// type is known (see significance).
func (l *loader) process(a *at, f fields, m *yaml.Node, n *Node) bool {
	n.Restart = policy.Permanent
	n.StopSignal = DefaultStopSignal
	n.StopTimeout = DefaultStopTimeout
	n.Timeout = DefaultTimeout
	if v, ok := f.get("command"); ok {
		n.Command, _ = a.command("command", v)
	} else {
		a.errf(m.Line, "", fmt.Errorf("%w \"command\" (a process worker needs one)", ErrMissingKey))
	}
	if v, ok := f.get("dir"); ok {
		n.Dir, _ = a.localPath("dir", v)
	}
	if v, ok := f.get("env"); ok {
		if ef, ok := a.mapping(v, "env", "a mapping of names to values", true); ok {
			env := map[string]string{}
			for _, p := range ef.list {
				if p.key == "" || strings.ContainsAny(p.key, "=\x00") {
					a.errf(p.k.Line, "env", invalidf("invalid environment variable name %q", p.key))
					continue
				}
				if isNull(deref(p.v)) {
					env[p.key] = ""
				} else if s, ok := a.str("env: "+p.key, p.v); ok {
					env[p.key] = s
				}
			}
			n.Env = sortedEnv(env)
		}
	}
	for _, key := range []string{"user", "group"} {
		if v, ok := f.get(key); ok {
			s, ok := a.str(key, v)
			if !ok {
				continue
			}
			if a.l.euid != 0 {
				a.errf(deref(v).Line, key, ErrNotRoot)
				continue
			}
			if s == "" {
				a.errf(deref(v).Line, key, invalidf("empty %s", key))
				continue
			}
			if err := lookupAccount(key, s); err != nil {
				a.errf(deref(v).Line, key, err)
				continue
			}
			if key == "user" {
				n.User = s
			} else {
				n.Group = s
			}
		}
	}
	if v, ok := f.get("stop_signal"); ok {
		if s, ok := a.str("stop_signal", v); ok {
			sig, err := parseSignal(s)
			if err != nil {
				a.errf(deref(v).Line, "stop_signal", err)
			} else {
				n.StopSignal = sig
			}
		}
	}
	if v, ok := f.get("stop_timeout"); ok {
		if d, ok := a.duration("stop_timeout", v, false); ok {
			n.StopTimeout = d
		}
	}
	restartOK := a.restartType(f, n)
	for _, key := range []string{"stdout", "stderr"} {
		v, ok := f.get(key)
		if !ok {
			continue
		}
		var out Output
		s, ok := a.str(key, v)
		switch {
		case !ok:
			continue
		case s == "inherit":
			out.Kind = OutputInherit
		case s == "discard":
			out.Kind = OutputDiscard
		case s == "":
			a.errf(deref(v).Line, key, invalidf("empty %s (want a file path, inherit or discard)", key))
			continue
		default:
			out = Output{Kind: OutputFile, Path: absIn(a.src.dir, s)}
		}
		if key == "stdout" {
			n.Stdout = out
		} else {
			n.Stderr = out
		}
	}
	if v, ok := f.get("status"); ok {
		n.Status, _ = a.command("status", v)
	}
	if v, ok := f.get("timeout"); ok {
		if d, ok := a.duration("timeout", v, true); ok {
			n.Timeout = d
		}
	}
	return restartOK
}

// lookupAccount checks that the user or group (kind) named name exists,
// by name or else by number, as the worker's start will look it up: a
// typo must stop the load, not surface as a start failure later.
func lookupAccount(kind, name string) error {
	byName := func(s string) error { _, err := user.Lookup(s); return err }
	byID := func(s string) error { _, err := user.LookupId(s); return err }
	if kind == "group" {
		byName = func(s string) error { _, err := user.LookupGroup(s); return err }
		byID = func(s string) error { _, err := user.LookupGroupId(s); return err }
	}
	err := byName(name)
	if err != nil && isNumber(name) {
		err = byID(name)
	}
	switch err.(type) {
	case nil:
		return nil
	case user.UnknownUserError, user.UnknownUserIdError, user.UnknownGroupError, user.UnknownGroupIdError:
		return invalidf("%w", quietError{fmt.Sprintf("no %s %q on this system", kind, name), err})
	}
	return invalidf("looking up %s %q: %w", kind, name, err)
}

// quietError wraps err under a message of its own.
type quietError struct {
	msg string
	err error
}

func (e quietError) Error() string { return e.msg }
func (e quietError) Unwrap() error { return e.err }

func isNumber(s string) bool { return digitsRE.MatchString(s) }

// withVerb returns prefix followed by verb, in a new slice.
func withVerb(prefix []string, verb string) []string {
	return append(append([]string(nil), prefix...), verb)
}

func (l *loader) service(a *at, f fields, m *yaml.Node, n *Node) {
	n.Restart = policy.Permanent
	n.Timeout = DefaultTimeout
	if v, ok := f.get("control"); ok {
		n.Control, _ = a.command("control", v)
	}
	if v, ok := f.get("start"); ok {
		n.Start, _ = a.command("start", v)
	}
	if v, ok := f.get("stop"); ok {
		n.Stop, _ = a.command("stop", v)
	}
	if v, ok := f.get("status"); ok {
		n.Status, _ = a.command("status", v)
	}
	restartGiven := false
	if v, ok := f.get("restart"); ok {
		restartGiven = true
		if dv := deref(v); dv.Kind == yaml.ScalarNode && dv.Value == StopStart {
			n.StopStart = true
		} else {
			n.RestartCmd, _ = a.command("restart", v)
		}
	}
	if !f.has("control") && !f.has("start") {
		a.errf(m.Line, "", fmt.Errorf("%w \"control\" or \"start\" (a service worker needs one)", ErrMissingKey))
	}
	if n.Control != nil {
		if !f.has("start") {
			n.Start = withVerb(n.Control, "start")
		}
		if !f.has("stop") {
			n.Stop = withVerb(n.Control, "stop")
		}
		if !f.has("status") {
			n.Status = withVerb(n.Control, "status")
		}
		if !restartGiven {
			n.RestartCmd = withVerb(n.Control, "restart")
		}
	} else if !restartGiven {
		n.StopStart = true
	}
	if v, ok := f.get("pattern"); ok {
		if s, ok := a.str("pattern", v); ok {
			if s == "" {
				a.errf(deref(v).Line, "pattern", invalidf("empty pattern"))
			} else if _, err := regexp.Compile(s); err != nil {
				a.errf(deref(v).Line, "pattern", invalidf("%w", err))
			} else {
				n.Pattern, n.PatternSet = s, true
			}
		}
	} else if len(n.Start) > 0 {
		n.Pattern = regexp.QuoteMeta(strings.Join(n.Start, " "))
	}
	if v, ok := f.get("timeout"); ok {
		if d, ok := a.duration("timeout", v, true); ok {
			n.Timeout = d
		}
	}
	if v, ok := f.get("path"); ok {
		n.SearchPath, _ = a.str("path", v)
	}
	if v, ok := f.get("pidfile"); ok {
		n.Pidfile, _ = a.localPath("pidfile", v)
	}
}
