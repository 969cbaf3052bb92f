package simplevisor

import (
	"fmt"
	"math/big"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// simplevisor 1.3's defaults.
const (
	defaultInterval    = 60 // seconds (bin/simplevisor DEFAULT_OPTIONS)
	defaultWindow      = 12 // cycles (supervisor.py)
	defaultAdjustments = 3
	defaultStrategy    = "one_for_one"
	defaultLogLevel    = "warning"
	defaultTimeout     = 60
	defaultSupervisor  = "supervisor" // a supervisor's name when not given
)

// nameRE is what otpsv accepts as a node name.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// conv maps the blocks read from either format onto otpsv's YAML.
type conv struct {
	*errs
	format  Format
	mainDir string // directory of the main file, to show sources briefly
	// interval is the seconds between two supervision cycles; set says
	// whether the file gave it.
	interval    int
	intervalSet bool
}

// fieldSet is the keys of one block, in order, with lookup by key.
type fieldSet struct {
	order []*item
	by    map[string]*item
}

func (f fieldSet) has(k string) bool { return f.by[k] != nil }

// fields collects the keys of b, refusing duplicates (a variable may be
// given again: Config::General keeps the first for interpolation and
// simplevisor ignores var_ keys) and named blocks.
func (c *conv) fields(b *block, path string) fieldSet {
	f := fieldSet{by: map[string]*item{}}
	for _, it := range b.items {
		if isVar(it.key) {
			if it.block != nil {
				c.addf(it.at, path, ErrInvalidValue, "%s: a variable holds a value, not a block", it.key)
			}
			continue
		}
		if prev := f.by[it.key]; prev != nil {
			c.addf(it.at, path, ErrDuplicateKey, "%s given twice (first at %s)", it.describe(), c.where(prev.at))
			continue
		}
		f.by[it.key] = it
		f.order = append(f.order, it)
	}
	return f
}

func isVar(k string) bool { return strings.HasPrefix(k, "var_") }

// where shows a position for messages and comments: the file relative to
// the main file's directory.
func (c *conv) where(at pos) string {
	f := at.file
	if c.mainDir != "" {
		if abs, err := filepath.Abs(f); err == nil {
			if rel, err := filepath.Rel(c.mainDir, abs); err == nil && !strings.HasPrefix(rel, "..") {
				f = rel
			}
		}
	}
	return fmt.Sprintf("%s:%d", commentText(f), at.line)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + ": " + key
}

// text returns a key's single string value.
func (c *conv) text(it *item, path string) (string, bool) {
	p := join(path, it.key)
	switch {
	case it.block != nil:
		c.addf(it.at, p, ErrInvalidValue, "want a value, got a block")
	case it.list:
		c.addf(it.at, p, ErrInvalidValue, "want one value, got a list")
	case it.value == nil:
		c.addf(it.at, p, ErrInvalidValue, "no value (simplevisor takes it as not given: remove it or give a value)")
	case c.format == JSON && it.kind != kString:
		c.addf(it.at, p, ErrInvalidValue, "want a string, got %s %s", kindName(it.kind), *it.value)
	case strings.IndexByte(*it.value, 0) >= 0:
		c.addf(it.at, p, ErrInvalidValue, "a NUL byte, which no otpsv value may hold")
	default:
		return *it.value, true
	}
	return "", false
}

func kindName(k kind) string {
	switch k {
	case kNumber:
		return "the number"
	case kBool:
		return "the boolean"
	}
	return "the value"
}

// integer returns a whole number, read as Python's int() reads it
// (blanks around, a sign, _ between digits), or a JSON integer. It must
// be at least min.
func (c *conv) integer(it *item, path string, min int, why string) (int, bool) {
	p := join(path, it.key)
	var s string
	switch {
	case it.block != nil || it.list || it.value == nil || it.kind == kBool:
		c.addf(it.at, p, ErrInvalidValue, "want a whole number")
		return 0, false
	default:
		s = *it.value
	}
	n, ok := pyInt(s)
	if it.kind == kNumber {
		f, _, err := big.ParseFloat(s, 10, 64, big.ToNearestEven)
		ok = err == nil && f.IsInt()
		if ok {
			i, acc := f.Int64()
			n, ok = int(i), acc == big.Exact
		}
	}
	if !ok {
		c.addf(it.at, p, ErrInvalidValue, "%q is not a whole number", s)
		return 0, false
	}
	if n < min {
		c.addf(it.at, p, ErrInvalidValue, "%d: %s", n, why)
		return 0, false
	}
	return n, true
}

// pyInt parses an integer the way Python's int(str) does.
func pyInt(s string) (int, bool) {
	s = strings.TrimFunc(s, unicode.IsSpace)
	t := strings.TrimLeft(s, "+-")
	if len(s)-len(t) > 1 || t == "" || t[0] == '_' || t[len(t)-1] == '_' || strings.Contains(t, "__") {
		return 0, false
	}
	n, err := strconv.Atoi(s[:len(s)-len(t)] + strings.ReplaceAll(t, "_", ""))
	return n, err == nil
}

// words splits a command as simplevisor does: on blanks, then each word
// URL-decoded (%20 is a space).
func (c *conv) words(it *item, path string) ([]string, bool) {
	s, ok := c.text(it, path)
	if !ok {
		return nil, false
	}
	fields := strings.FieldsFunc(s, isPySpace)
	if len(fields) == 0 {
		c.addf(it.at, join(path, it.key), ErrInvalidValue, "empty command")
		return nil, false
	}
	out := make([]string, len(fields))
	for i, w := range fields {
		out[i] = unquote(w)
		if strings.IndexByte(out[i], 0) >= 0 {
			c.addf(it.at, join(path, it.key), ErrInvalidValue, "%q decodes to a NUL byte, which no argument can hold", w)
			return nil, false
		}
	}
	return out, true
}

// isPySpace is the whitespace of Python's str.split().
func isPySpace(r rune) bool { return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f }

// unquote is Python 3's urllib.parse.unquote: %XX escapes become bytes,
// read as UTF-8 with invalid sequences replaced; a % not followed by two
// hex digits stays as it is.
func unquote(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			v, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			b = append(b, byte(v))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	if !utf8.Valid(b) {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(b)
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func flow(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = str(w)
	}
	return out
}

// seconds renders a whole number of seconds as a short Go duration.
func seconds(n int) string {
	switch {
	case n == 0:
		return "0s"
	case n%3600 == 0:
		return fmt.Sprintf("%dh", n/3600)
	case n%60 == 0:
		return fmt.Sprintf("%dm", n/60)
	}
	return fmt.Sprintf("%ds", n)
}

// convert maps the top-level block of a simplevisor configuration onto an
// otpsv document.
func (c *conv) convert(root *block, file string) *ymap {
	var section, entry *item
	for _, it := range root.items {
		switch {
		case it.key == "simplevisor":
			if section != nil {
				c.addf(it.at, "", ErrDuplicateKey, "a second <simplevisor> section (first at %s)", c.where(section.at))
				continue
			}
			section = it
		case it.key == "entry":
			if entry != nil {
				c.addf(it.at, "", ErrDuplicateKey, "a second top-level entry (first at %s): simplevisor takes one root entry; make both children of a supervisor", c.where(entry.at))
				continue
			}
			entry = it
		case isVar(it.key):
			c.addf(it.at, "", ErrUnknownKey, "%s outside <simplevisor> and <entry> (simplevisor refuses it too): declare variables inside the block that uses them", it.key)
		default:
			c.addf(it.at, "", ErrUnknownKey, "%s at the top: only <simplevisor> and <entry> belong there (simplevisor refuses the rest)", it.describe())
		}
	}
	doc := &ymap{}
	settings := c.section(section)
	if entry == nil {
		c.addf(pos{file: file}, "", ErrMissingKey, "<entry> (nothing to supervise)")
		return nil
	}
	if entry.block == nil || entry.list || entry.named != "" {
		c.entryShape(entry, "")
		return nil
	}
	tree := c.entry(entry, "", "", true)
	if tree == nil {
		return nil
	}
	doc.fields = append(doc.fields, &yfield{key: "settings", node: settings}, &yfield{key: "tree", node: tree})
	return doc
}

// entryShape reports an entry that is not one block.
func (c *conv) entryShape(it *item, path string) {
	switch {
	case it.named != "":
		c.addf(it.at, path, ErrUnsupported, "named block <%s %s>: simplevisor's entries have no block name; write <%s> and a name key", it.key, it.named, it.key)
	case it.list:
		c.addf(it.at, path, ErrInvalidValue, "the top-level entry is a list: simplevisor takes one root entry; make the entries children of a supervisor")
	default:
		c.addf(it.at, path, ErrInvalidValue, "entry must be a block (an object in JSON), not a value")
	}
}

// section maps the <simplevisor> section onto settings. It sets
// c.interval, which every supervisor's period needs.
func (c *conv) section(it *item) *ymap {
	c.interval = defaultInterval
	s := &ymap{}
	var notes []string
	loglevel, loglevelNote := defaultLogLevel, "its default"
	var store, log, logfile string
	var logAt pos
	if it != nil {
		if it.block == nil || it.named != "" || it.list {
			c.addf(it.at, "", ErrInvalidValue, "simplevisor must be a block (an object in JSON)")
			it = nil
		}
	}
	if it != nil {
		const path = "simplevisor"
		f := c.fields(it.block, path)
		for _, k := range f.order {
			switch k.key {
			case "interval":
				if n, ok := c.integer(k, path, 1, "otpsv needs a check interval above zero"); ok {
					c.interval, c.intervalSet = n, true
				}
			case "store":
				if v, ok := c.text(k, path); ok {
					store = v
				}
			case "pidfile":
				if v, ok := c.text(k, path); ok {
					notes = append(notes, fmt.Sprintf("simplevisor: pidfile = %s: otpsv writes no pidfile; `otpsv status` and `otpsv check` ask the daemon through the socket in state_dir.", commentText(v)))
				}
			case "log":
				if v, ok := c.text(k, path); ok {
					switch v {
					case "stdout", "syslog", "file", "null":
						log, logAt = v, k.at
					default:
						c.addf(k.at, join(path, k.key), ErrInvalidValue, "%q: want stdout, syslog, file or null", v)
					}
				}
			case "logfile":
				if v, ok := c.text(k, path); ok {
					logfile = v
				}
			case "loglevel":
				if v, ok := c.text(k, path); ok {
					switch v {
					case "debug", "info", "warning", "error", "critical":
						loglevel, loglevelNote = v, ""
					default:
						c.addf(k.at, join(path, k.key), ErrInvalidValue, "%q: want debug, info, warning, error or critical", v)
					}
				}
			case "logname":
				if v, ok := c.text(k, path); ok {
					notes = append(notes, fmt.Sprintf("simplevisor: logname = %s (its logger's name) has no otpsv equivalent: otpsv's messages name the node's path.", commentText(v)))
				}
			case "daemon":
				// A boolean in JSON, "true" or any text for Python.
				switch {
				case k.block != nil || k.list || k.value == nil:
					c.text(k, path)
				case !strings.EqualFold(*k.value, "false") && *k.value != "":
					notes = append(notes, "simplevisor: daemon (fork into the background) has no otpsv equivalent: `otpsv daemon` stays in the foreground; run it under an init system (contrib/ has systemd units).")
				}
			case "conftype":
				if _, ok := c.text(k, path); ok {
					notes = append(notes, "simplevisor: conftype only said how to read this file.")
				}
			case "command", "path":
				c.addf(k.at, join(path, k.key), ErrUnsupported, "a command-line argument of simplevisor (the command, or the path of a node), not configuration: give it to the otpsv verb you run instead")
			default:
				c.addf(k.at, join(path, k.key), ErrUnknownKey, "%s in <simplevisor> (simplevisor refuses it too)", k.describe())
			}
		}
	}
	// interval: both how often services are checked and the unit of every
	// supervisor's window.
	intervalText := fmt.Sprintf("interval = %d", c.interval)
	if !c.intervalSet {
		intervalText = fmt.Sprintf("interval not set (its default, %d)", c.interval)
	}
	s.add("check_interval", seconds(c.interval),
		fmt.Sprintf("simplevisor: %s: seconds from the end of one supervision cycle to the start of the next. "+
			"otpsv checks service workers every check_interval, and learns of a process worker's exit at once.", intervalText))
	if store != "" {
		if filepath.IsAbs(store) {
			s.add("state_dir", str(filepath.Join(filepath.Dir(store), "otpsv")),
				fmt.Sprintf("simplevisor: store = %s held simplevisor's state. "+
					"otpsv keeps its own state (simplevisor's is not carried over) in state_dir, here beside it.", commentText(store)))
		} else {
			notes = append(notes, fmt.Sprintf("simplevisor: store = %s is relative to simplevisor's working directory; "+
				"otpsv keeps its own state (simplevisor's is not carried over) in its default state_dir.", commentText(store)))
		}
	} else {
		notes = append(notes, "simplevisor: no store: simplevisor kept no state between runs; otpsv always keeps its state in state_dir (see docs/configuration.md).")
	}
	switch log {
	case "syslog":
		notes = append(notes, "simplevisor: log = syslog: otpsv logs to its standard error; under systemd the journal collects it, elsewhere pipe it to logger(1).")
	case "file":
		if logfile == "" {
			c.addf(logAt, "simplevisor: log", ErrMissingKey, "logfile (log = file needs it; simplevisor refuses it too)")
		}
		notes = append(notes, fmt.Sprintf("simplevisor: log = file, logfile = %s: otpsv logs to its standard error: run `otpsv daemon 2>>%s`.",
			commentText(logfile), commentText(logfile)))
	case "null":
		notes = append(notes, "simplevisor: log = null: otpsv logs to its standard error; send it to /dev/null.")
	case "stdout":
		notes = append(notes, "simplevisor: log = stdout: otpsv logs to its standard error.")
	}
	if logfile != "" && log != "file" {
		notes = append(notes, fmt.Sprintf("simplevisor: logfile = %s was unused (log is not file).", commentText(logfile)))
	}
	level := map[string]string{"debug": "debug", "info": "info", "warning": "warn", "error": "error", "critical": "error"}[loglevel]
	lv := []string{fmt.Sprintf("simplevisor: loglevel = %s", loglevel)}
	if loglevelNote != "" {
		lv[0] += " (" + loglevelNote + ")"
	}
	if loglevel == "critical" {
		lv[0] += "; otpsv's highest level is error"
	}
	lv[0] += "."
	s.add("log_level", level, lv...)
	s.fields[0].head = append(notes, s.fields[0].head...)
	return s
}

// expectedNone is a supervisor's expected state when it imposes nothing.
const expectedNone = "none"

// entry maps one <entry> onto a node. imposed is the expected state the
// supervisors above impose ("" for none): simplevisor imposes a
// supervisor's running as well as its stopped.
func (c *conv) entry(it *item, parent, imposed string, root bool) *ymap {
	if it.block == nil || it.named != "" {
		c.entryShape(it, parent)
		return nil
	}
	// Messages name the entry by its path, before its keys are checked.
	where := entryName(it)
	switch {
	case where == "" && parent == "":
		where = "entry"
	case where == "":
		where = parent
	case parent != "":
		where = parent + "/" + where
	}
	f := c.fields(it.block, where)
	typ := ""
	if t := f.by["type"]; t == nil {
		c.addf(it.at, where, ErrMissingKey, "type (service or supervisor)")
	} else if v, ok := c.text(t, where); ok {
		if v != "service" && v != "supervisor" {
			c.addf(t.at, join(where, "type"), ErrInvalidValue, "%q: want service or supervisor", v)
		} else {
			typ = v
		}
	}
	name := ""
	if n := f.by["name"]; n != nil {
		if v, ok := c.text(n, where); ok {
			name = v
			if !nameRE.MatchString(v) {
				c.addf(n.at, join(where, "name"), ErrInvalidValue, "%q: otpsv names match [A-Za-z0-9_.-]+; rename it", v)
			}
		}
	} else if typ == "service" {
		c.addf(it.at, where, ErrMissingKey, "name (a service needs one)")
	}
	var n *ymap
	switch typ {
	case "service":
		n = c.service(it, f, where, imposed)
	case "supervisor":
		n = c.supervisor(it, f, where, imposed)
	default:
		return nil
	}
	if n == nil {
		return nil
	}
	nameField := &yfield{key: "name", scalar: str(name), line: "from " + c.where(it.at)}
	if name == "" {
		nameField.scalar = defaultSupervisor
		nameField.head = []string{"simplevisor: no name: a supervisor is called " + defaultSupervisor + " then."}
	}
	n.fields = append([]*yfield{nameField}, n.fields...)
	if root && typ == "service" {
		n.head = append(n.head, "simplevisor: a lone service at the top was only started, not supervised, by simplevisor; otpsv supervises it.")
	}
	return n
}

// serviceKeys and supervisorKeys are what simplevisor 1.3 accepts for
// each kind of entry (besides var_ variables). logname is an internal
// option that a file may set too.
var (
	serviceKeys    = []string{"type", "name", "control", "daemon", "expected", "path", "pattern", "restart", "start", "status", "stop", "timeout", "logname"}
	supervisorKeys = []string{"type", "name", "window", "adjustments", "strategy", "expected", "children", "logname"}
)

// unknownKeys refuses the keys of f that are not in known.
func (c *conv) unknownKeys(f fieldSet, path, kind string, known, other []string) {
	for _, it := range f.order {
		if slices.Contains(known, it.key) {
			continue
		}
		msg := fmt.Sprintf("%s for a %s (simplevisor refuses it too)", it.describe(), kind)
		if slices.Contains(other, it.key) {
			msg = fmt.Sprintf("%s belongs to the other kind of entry, not to a %s (simplevisor refuses it too)", it.describe(), kind)
		}
		c.addf(it.at, join(path, it.key), ErrUnknownKey, "%s", msg)
	}
}

// mutex refuses two keys given together, as simplevisor does.
func (c *conv) mutex(f fieldSet, path string, a, b string) bool {
	x, y := f.by[a], f.by[b]
	if x == nil || y == nil || x.value == nil || y.value == nil {
		return false
	}
	later := y
	if later.at.file == x.at.file && later.at.line < x.at.line {
		later = x
	}
	c.addf(later.at, join(path, later.key), ErrConflict, "%s and %s are mutually exclusive (simplevisor refuses both)", a, b)
	return true
}

// serviceExpected reads a service's expected key: simplevisor runs a service
// only when it is exactly "running", so anything but running and stopped
// is refused.
func (c *conv) serviceExpected(f fieldSet, path string) string {
	it := f.by["expected"]
	if it == nil {
		return "running"
	}
	v, ok := c.text(it, path)
	if !ok {
		return "running"
	}
	if v != "running" && v != "stopped" {
		c.addf(it.at, join(path, "expected"), ErrInvalidValue, "%q: want running or stopped", v)
		return "running"
	}
	return v
}

// expectedField writes expected for a worker whose own state is own and
// on which the supervisors above impose imposed.
func expectedField(n *ymap, own, imposed string) {
	eff := own
	if imposed != "" {
		eff = imposed
	}
	switch {
	case eff == own && own == "stopped":
		n.add("expected", "stopped")
	case eff != own && eff == "running":
		n.add("expected", "running",
			"simplevisor: this entry says expected = stopped, but a supervisor above says running, and simplevisor imposed a supervisor's expected state, running included, on its whole subtree (otpsv imposes only stopped): it ran.")
	case eff != own && eff == "stopped":
		// Imposed by a supervisor that says stopped in the output too.
	}
}

func (c *conv) service(it *item, f fieldSet, path, imposed string) *ymap {
	c.unknownKeys(f, path, "service", serviceKeys, supervisorKeys)
	n := &ymap{}
	cmd := func(k string) []string {
		if x := f.by[k]; x != nil {
			w, _ := c.words(x, path)
			return w
		}
		return nil
	}
	control, start, stop, status := cmd("control"), cmd("start"), cmd("stop"), cmd("status")
	if !f.has("start") && !f.has("control") {
		c.addf(it.at, path, ErrMissingKey, "start or control (a service needs one; simplevisor refuses it too)")
	}
	conflict := false
	for _, p := range [][2]string{{"start", "control"}, {"daemon", "control"}, {"pattern", "status"}, {"pattern", "stop"}, {"pattern", "control"}} {
		if c.mutex(f, path, p[0], p[1]) {
			conflict = true
		}
	}
	own := c.serviceExpected(f, path)
	var restart []string
	restartStopStart := false
	if x := f.by["restart"]; x != nil {
		if v, ok := c.text(x, path); ok {
			if v == "stop+start" {
				restartStopStart = true
			} else {
				restart, _ = c.words(x, path)
			}
		}
	}
	timeout, timeoutSet := defaultTimeout, false
	if x := f.by["timeout"]; x != nil {
		if v, ok := c.integer(x, path, 1, "otpsv needs a timeout above zero"); ok {
			timeout, timeoutSet = v, true
		}
	}
	searchPath := ""
	if x := f.by["path"]; x != nil {
		searchPath, _ = c.text(x, path)
	}
	if x := f.by["logname"]; x != nil {
		if v, ok := c.text(x, path); ok {
			n.head = append(n.head, fmt.Sprintf("simplevisor: logname = %s (its logger's name) has no otpsv equivalent.", commentText(v)))
		}
	}
	if conflict {
		return nil
	}

	if d := f.by["daemon"]; d != nil {
		pidfile, ok := c.text(d, path)
		if !ok {
			return nil
		}
		if x := f.by["restart"]; x != nil && !restartStopStart {
			c.addf(x.at, join(path, "restart"), ErrUnsupported, "a restart command on a daemon entry: otpsv runs it as a process worker, which it restarts by stopping and starting it; remove restart")
			return nil
		}
		if start == nil {
			return nil
		}
		n.addFlow("command", flow(start),
			fmt.Sprintf("simplevisor: daemon = %s ran this command through simplevisor-loop, which daemonized it and kept its pid there. "+
				"otpsv runs it in the foreground as its own child (a process worker), learns of its exit at once and needs no pidfile.", commentText(pidfile)))
		var dropped []string
		for _, k := range []string{"stop", "status", "pattern"} {
			if f.has(k) {
				dropped = append(dropped, k)
			}
		}
		if len(dropped) > 0 {
			n.fields[len(n.fields)-1].head = append(n.fields[len(n.fields)-1].head,
				fmt.Sprintf("simplevisor: %s: ignored with daemon, by simplevisor and by this file.", strings.Join(dropped, " and ")))
		}
		if restartStopStart {
			n.fields[len(n.fields)-1].head = append(n.fields[len(n.fields)-1].head,
				"simplevisor: restart = stop+start is how otpsv restarts a process worker anyway.")
		}
		if timeoutSet {
			n.add("stop_timeout", seconds(timeout),
				fmt.Sprintf("simplevisor: timeout = %d bounded each simplevisor-loop command; "+
					"otpsv waits this long after stop_signal before it kills the process group.", timeout))
		}
		if searchPath != "" {
			n.fields = append(n.fields, &yfield{key: "env", node: &ymap{fields: []*yfield{{key: "PATH", scalar: str(searchPath)}}},
				head: []string{
					"simplevisor: path: simplevisor gave the command PATH as its only environment variable; otpsv adds PATH to its own environment.",
				}})
		}
		expectedField(n, own, imposed)
		return n
	}

	if control != nil {
		n.addFlow("control", flow(control))
	}
	if start != nil {
		n.addFlow("start", flow(start))
	}
	if stop != nil {
		n.addFlow("stop", flow(stop))
	}
	if status != nil {
		n.addFlow("status", flow(status))
	}
	switch {
	case restartStopStart:
		n.add("restart", "stop+start")
	case restart != nil:
		n.addFlow("restart", flow(restart))
	case control != nil:
		n.add("restart", "stop+start",
			"simplevisor: no restart: simplevisor 1.3 restarted a service with control by running its stop, then its start (its docs say \"<control> restart\"); otpsv would run <control> restart for `otpsv restart`.")
	}
	if control == nil && status != nil && stop == nil && start != nil {
		n.addFlow("stop", []string{"/bin/true"},
			"simplevisor: no stop command: with a status command simplevisor looked for no pattern, and its stop did nothing. otpsv would fail every stop of such a service, so /bin/true keeps simplevisor's behaviour: give it a real stop command.")
	}
	if x := f.by["pattern"]; x != nil {
		if v, ok := c.text(x, path); ok {
			if v == "" {
				c.addf(x.at, join(path, "pattern"), ErrInvalidValue, "empty pattern")
			} else if _, err := regexp.Compile(v); err != nil {
				c.addf(x.at, join(path, "pattern"), ErrInvalidValue, "%v (simplevisor used Python's re, otpsv Go's RE2: rewrite it in the syntax they share)", err)
			} else {
				n.add("pattern", str(v))
			}
		}
	} else if control == nil && status == nil && start != nil {
		joined := strings.Join(start, " ")
		if _, err := regexp.Compile(joined); err != nil {
			c.addf(f.by["start"].at, join(path, "start"), ErrInvalidValue,
				"as the default pattern: %v (simplevisor compiled the start command as a regular expression and refuses it too: give a pattern)", err)
		} else if regexp.QuoteMeta(joined) != joined && len(n.fields) > 0 {
			f := n.fields[len(n.fields)-1]
			f.head = append(f.head, "simplevisor: no pattern: simplevisor looked for the start command in the process table "+
				"as a regular expression, where "+metaChars(joined)+" are not literal; otpsv looks for it literally.")
		}
	}
	if timeoutSet {
		n.add("timeout", seconds(timeout))
	}
	if searchPath != "" {
		n.add("path", str(searchPath),
			"simplevisor: path was the whole environment of the commands (PATH only); otpsv gives them PATH and HOME, USER, LOGNAME, LANG, LC_ALL and TERM.")
	}
	expectedField(n, own, imposed)
	return n
}

func (c *conv) supervisor(it *item, f fieldSet, path, imposed string) *ymap {
	c.unknownKeys(f, path, "supervisor", supervisorKeys, serviceKeys)
	n := &ymap{}
	strategy := defaultStrategy
	if x := f.by["strategy"]; x != nil {
		if v, ok := c.text(x, path); ok {
			switch v {
			case "one_for_one", "one_for_all", "rest_for_one":
				strategy = v
			default:
				c.addf(x.at, join(path, "strategy"), ErrInvalidValue, "%q: want one_for_one, one_for_all or rest_for_one", v)
			}
		}
	}
	window, adjustments := defaultWindow, defaultAdjustments
	windowSet, adjustmentsSet := false, false
	if x := f.by["window"]; x != nil {
		if v, ok := c.integer(x, path, 1, "want at least one cycle"); ok {
			window, windowSet = v, true
		}
	}
	if x := f.by["adjustments"]; x != nil {
		if v, ok := c.integer(x, path, 0, "adjustments cannot be negative"); ok {
			adjustments, adjustmentsSet = v, true
		}
	}
	own := expectedNone
	if x := f.by["expected"]; x != nil {
		if v, ok := c.text(x, path); ok {
			switch l := strings.ToLower(v); l {
			case "none", "running", "stopped":
				own = l
			default:
				c.addf(x.at, join(path, "expected"), ErrInvalidValue, "%q: want none, running or stopped", v)
			}
		}
	}
	down := imposed
	if down == "" && own != expectedNone {
		down = own
	}
	if x := f.by["logname"]; x != nil {
		if v, ok := c.text(x, path); ok {
			n.head = append(n.head, fmt.Sprintf("simplevisor: logname = %s (its logger's name) has no otpsv equivalent.", commentText(v)))
		}
	}

	n.add("strategy", strategy)
	given := func(set bool) string {
		if set {
			return ""
		}
		return " (its default)"
	}
	period := window * c.interval
	n.add("intensity", strconv.Itoa(adjustments),
		fmt.Sprintf("simplevisor: window = %d%s, adjustments = %d%s: simplevisor gave up when more than %d of its last %d supervision cycles "+
			"needed an adjustment of a child (a start, a stop, or a stop and start): it counted cycles, not restarts, "+
			"and several children adjusted in one cycle counted once. "+
			"otpsv gives up after more than intensity restarts within period "+
			"(window x interval = %d x %ds; simplevisor's cycles also lasted as long as their commands took).",
			window, given(windowSet), adjustments, given(adjustmentsSet), adjustments, window, window, c.interval))
	n.add("period", seconds(period))
	switch {
	case own == "stopped" && down == "stopped":
		n.add("expected", "stopped")
	case own == "stopped" && down == "running":
		n.fields[len(n.fields)-1].head = append(n.fields[len(n.fields)-1].head,
			"simplevisor: expected = stopped here was overridden by a supervisor above that says running.")
	}

	ch := f.by["children"]
	if ch == nil {
		c.addf(it.at, path, ErrMissingKey, "children (simplevisor refuses an empty supervisor)")
		return nil
	}
	if ch.block == nil || ch.named != "" || ch.list {
		c.addf(ch.at, join(path, "children"), ErrInvalidValue, "want one <children> block (an object in JSON) holding the entries")
		return nil
	}
	var kids []*ymap
	names := map[string]pos{}
	count := 0
	for _, k := range ch.block.items {
		switch {
		case k.key == "entry":
			count++
			if k.block == nil || k.named != "" {
				c.entryShape(k, join(path, "children"))
				continue
			}
			kid := c.entry(k, path, down, false)
			if nm := entryName(k); nm != "" {
				if prev, dup := names[nm]; dup {
					c.addf(k.at, path, ErrDuplicateKey, "two entries named %q (first at %s; simplevisor refuses it too)", nm, c.where(prev))
				} else {
					names[nm] = k.at
				}
			}
			if kid != nil {
				kids = append(kids, kid)
			}
		case isVar(k.key):
			if k.block != nil {
				c.addf(k.at, join(path, "children"), ErrInvalidValue, "%s: a variable holds a value, not a block", k.key)
			}
		default:
			c.addf(k.at, join(path, "children"), ErrUnknownKey, "%s: only entries belong in <children> (simplevisor ignores it)", k.describe())
		}
	}
	if count == 0 {
		c.addf(ch.at, join(path, "children"), ErrMissingKey, "entry (simplevisor refuses an empty supervisor)")
		return nil
	}
	if len(kids) != count {
		return nil
	}
	n.fields = append(n.fields, &yfield{key: "children", list: kids})
	return n
}

// entryName is the name an entry block gives (simplevisor's default for
// a supervisor without one), before its keys are checked.
func entryName(k *item) string {
	for _, x := range k.block.items {
		if x.key == "name" && x.value != nil {
			return *x.value
		}
	}
	for _, x := range k.block.items {
		if x.key == "type" && x.value != nil && *x.value == "supervisor" {
			return defaultSupervisor
		}
	}
	return ""
}

// metaChars lists the regular expression metacharacters in s, for a
// comment.
func metaChars(s string) string {
	var found []string
	for _, c := range `\.+*?()|[]{}^$` {
		if strings.ContainsRune(s, c) {
			found = append(found, "`"+string(c)+"`")
		}
	}
	return strings.Join(found, " ")
}
