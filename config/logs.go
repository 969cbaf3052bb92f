package config

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// LogTarget is where a worker's log goes (`log: to:`).
type LogTarget int

// Log targets.
const (
	// LogToFile: the worker's file under state_dir/logs/ (the default).
	LogToFile LogTarget = iota
	// LogToStdout: otpsv's own stdout, as containers want.
	LogToStdout
)

// String returns the YAML spelling: file or stdout.
func (t LogTarget) String() string {
	switch t {
	case LogToFile:
		return "file"
	case LogToStdout:
		return "stdout"
	}
	return fmt.Sprintf("LogTarget(%d)", int(t))
}

// Log defaults (SPEC §8).
const (
	// DefaultStdoutPrefix is the prefix of a log with to: stdout, where
	// the lines of every worker meet; a file's lines have none.
	DefaultStdoutPrefix = "{path}: "
	// DefaultLogKeep is how many rotated files are kept when max_size is
	// given without keep.
	DefaultLogKeep = 5
)

// LogSpec is how a process worker's output is written (`log:`, SPEC §8):
// every line of its stdout and stderr goes through otpsv, which adds a
// timestamp and a prefix, and rotates the file.
//
// Inheritance: a worker's log is made key by key from the `log:` blocks
// on the way from `settings:` down through its supervisors to the worker
// itself, the nearest block that sets a key giving its value; keys that
// no block sets take their defaults, which depend on To (timestamps and
// the "{path}: " prefix for stdout, neither for a file). So settings may
// give the rotation and one supervisor send its subtree to stdout.
// max_size and keep apply to files only: written beside to: stdout in
// one block they are an error, inherited into a log that goes to stdout
// they are ignored.
//
// Streams: when a log applies, stdout and stderr both go through it,
// except a stream the worker gives explicitly (stdout: or stderr: as a
// path, inherit or discard), which keeps its meaning; ResolveLogs marks
// the others OutputLog. A worker giving both has no log (Node.Log nil),
// and a log block on such a worker is an error. Service workers have
// none: otpsv does not hold a daemonized service's output, so log on a
// service is an error, and an inherited one passes over them.
type LogSpec struct {
	To LogTarget
	// Path is the file written when To is LogToFile: LogFile(state_dir,
	// node path), filled in by Config.ResolveLogs ("" until then).
	Path string
	// Timestamps prefixes each line with its RFC 3339 UTC time.
	Timestamps bool
	// Prefix is the template written before each line (after the
	// timestamp): {path} and {name} stand for the node's path and name,
	// see PrefixFor.
	Prefix string
	// MaxSize is the size in bytes the file may not exceed; the file is
	// rotated before a line would make it. 0: never rotate. Always 0 for
	// stdout.
	MaxSize int64
	// Keep is how many rotated files are kept: <file>.1 (the newest) to
	// <file>.Keep; at least 1 when MaxSize > 0, else 0.
	Keep int
}

// PrefixFor returns Prefix with {path} replaced by path and {name} by
// its last element.
func (s *LogSpec) PrefixFor(path string) string {
	if !strings.Contains(s.Prefix, "{") {
		return s.Prefix
	}
	name := path[strings.LastIndexByte(path, '/')+1:]
	return strings.NewReplacer("{path}", path, "{name}", name).Replace(s.Prefix)
}

var (
	logKeys       = []string{"to", "timestamps", "prefix", "max_size", "keep"}
	placeholderRE = regexp.MustCompile(`\{[A-Za-z_][A-Za-z0-9_]*\}`)
)

// logBlock is one `log:` mapping as written: the keys it sets (nil: not
// set), and where it is.
type logBlock struct {
	file       string
	line       int
	to         *LogTarget
	timestamps *bool
	prefix     *string
	maxSize    *int64
	keep       *int
}

// over returns b with the keys o sets taken from o. b may be nil.
func (b *logBlock) over(o *logBlock) *logBlock {
	if b == nil {
		c := *o
		return &c
	}
	c := *b
	c.file, c.line = o.file, o.line
	if o.to != nil {
		c.to = o.to
	}
	if o.timestamps != nil {
		c.timestamps = o.timestamps
	}
	if o.prefix != nil {
		c.prefix = o.prefix
	}
	if o.maxSize != nil {
		c.maxSize = o.maxSize
	}
	if o.keep != nil {
		c.keep = o.keep
	}
	return &c
}

// spec fills in the defaults of the keys b leaves out.
func (b *logBlock) spec() *LogSpec {
	s := &LogSpec{}
	if b.to != nil {
		s.To = *b.to
	}
	if s.To == LogToStdout {
		s.Timestamps, s.Prefix = true, DefaultStdoutPrefix
	}
	if b.timestamps != nil {
		s.Timestamps = *b.timestamps
	}
	if b.prefix != nil {
		s.Prefix = *b.prefix
	}
	if s.To == LogToFile && b.maxSize != nil && *b.maxSize > 0 {
		s.MaxSize, s.Keep = *b.maxSize, DefaultLogKeep
		if b.keep != nil {
			s.Keep = *b.keep
		}
	}
	return s
}

// logBlock reads a `log:` mapping; nothing (log: with no value) is a log
// with every default. It returns nil when v is not a mapping. Keys with
// a bad value are reported and left unset.
func (a *at) logBlock(v *yaml.Node) *logBlock {
	f, ok := a.mapping(v, "log", "a mapping of "+orList(logKeys), true)
	if !ok {
		return nil
	}
	b := &logBlock{file: a.src.file, line: deref(v).Line}
	for _, p := range f.list {
		key := "log: " + p.key
		line := deref(p.v).Line
		switch p.key {
		case "to":
			switch s, _ := a.enum(key, "log target", p.v, "file", "stdout"); s {
			case "file":
				b.to = ptr(LogToFile)
			case "stdout":
				b.to = ptr(LogToStdout)
			}
		case "timestamps":
			if t, ok := a.boolean(key, p.v); ok {
				b.timestamps = &t
			}
		case "prefix":
			s, ok := a.str(key, p.v)
			if !ok {
				continue
			}
			if err := checkPrefix(s); err != nil {
				a.errf(line, key, err)
				continue
			}
			b.prefix = &s
		case "max_size":
			s, ok := a.str(key, p.v)
			if !ok {
				continue
			}
			n, err := parseSize(s)
			if err != nil {
				a.errf(line, key, err)
				continue
			}
			b.maxSize = &n
		case "keep":
			s, ok := a.str(key, p.v)
			if !ok {
				continue
			}
			// keep: 0 would make rotation a deletion of the log.
			n, err := strconv.Atoi(strings.TrimSpace(s))
			switch {
			case err != nil:
				a.errf(line, key, invalidf("%q is not a whole number", s))
			case n < 1:
				a.errf(line, key, invalidf("must be at least 1, got %d (rotation renames the file to <file>.1)", n))
			default:
				b.keep = &n
			}
		default:
			a.errf(p.k.Line, "log", fmt.Errorf("%w %q (want %s)", ErrUnknownKey, p.key, orList(logKeys)))
		}
	}
	if b.to != nil && *b.to == LogToStdout {
		for _, key := range []string{"max_size", "keep"} {
			if p, ok := f.by[key]; ok {
				a.errf(deref(p.v).Line, "log: "+key, fmt.Errorf("%w: %s is for files, and this log goes to stdout", ErrConflictingKeys, key))
			}
		}
	}
	return b
}

func ptr[T any](v T) *T { return &v }

// checkPrefix refuses a line break, which would split every line, and a
// {placeholder} other than {path} and {name}, most likely a typo.
func checkPrefix(s string) error {
	if strings.ContainsAny(s, "\r\n") {
		return invalidf("prefix %q holds a line break", s)
	}
	for _, m := range placeholderRE.FindAllString(s, -1) {
		if m != "{path}" && m != "{name}" {
			return invalidf("unknown placeholder %s in prefix %q (want {path} or {name})", m, s)
		}
	}
	return nil
}

// sizeUnits are the units a size may end with, in lower case: SI
// (powers of 1000) and IEC (powers of 1024). A bare K, M or G is refused
// as ambiguous.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1000, "mb": 1000 * 1000, "gb": 1000 * 1000 * 1000, "tb": 1000 * 1000 * 1000 * 1000,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// parseSize reads a size in bytes: a whole number, optionally followed by
// a unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB, in any case, with or
// without a blank before it): 10MiB, 10MB, 512KiB, 1048576.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	switch {
	case strings.HasPrefix(t, "-"):
		return 0, invalidf("negative size %q", s)
	case num == "" || strings.HasPrefix(unit, ".") || strings.HasPrefix(unit, ","):
		return 0, invalidf("invalid size %q (want a whole number, with an optional unit: 1048576, 512KiB, 10MiB, 10MB)", s)
	case !ok && (unit == "k" || unit == "m" || unit == "g" || unit == "t"):
		return 0, invalidf("size %q: ambiguous unit %q (write %siB for powers of 1024 or %sB for powers of 1000)", s, t[i:], strings.ToUpper(unit), strings.ToUpper(unit))
	case !ok:
		return 0, invalidf("size %q: unknown unit %q (want B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)", s, strings.TrimSpace(t[i:]))
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, invalidf("size %q out of range", s)
	}
	return n * mult, nil
}

// inheritLog gives every process worker of the tree under n its log:
// the blocks of settings and its supervisors merged key by key with its
// own (see LogSpec). Each worker gets its own LogSpec.
func (l *loader) inheritLog(n *Node, inherited *logBlock) {
	if n == nil {
		return
	}
	own := l.logs[n]
	if own != nil {
		inherited = inherited.over(own)
	}
	if n.Type == Process && inherited != nil {
		if n.Stdout.Kind != OutputDefault && n.Stderr.Kind != OutputDefault {
			if own != nil {
				l.errs = append(l.errs, &FieldError{File: own.file, Line: own.line, Path: n.Path + ": log",
					Err: fmt.Errorf("%w: stdout and stderr are both given, so no stream goes through log", ErrConflictingKeys)})
			}
		} else {
			n.Log = inherited.spec()
		}
	}
	for _, k := range n.Children {
		l.inheritLog(k, inherited)
	}
}

// serviceLogHint says why log is refused on a service worker.
const serviceLogHint = "a service daemonizes away from otpsv, which does not hold its output; the service writes its own logs"
