package config

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		err  string // substring of the error; "" for none
	}{
		{"0", 0, ""},
		{"1048576", 1 << 20, ""},
		{" 42 ", 42, ""},
		{"512B", 512, ""},
		{"512KiB", 512 << 10, ""},
		{"10MiB", 10 << 20, ""},
		{"10 MiB", 10 << 20, ""},
		{"10mib", 10 << 20, ""},
		{"2GiB", 2 << 30, ""},
		{"1TiB", 1 << 40, ""},
		{"10MB", 10_000_000, ""},
		{"10kB", 10_000, ""},
		{"3GB", 3_000_000_000, ""},
		{"1TB", 1_000_000_000_000, ""},
		{"0MiB", 0, ""},
		{"9223372036854775807", math.MaxInt64, ""},
		{"8388607TiB", 8388607 << 40, ""},
		{"8388608TiB", 0, "out of range"},
		{"9223372036854775808", 0, "out of range"},
		{"99999999999999999999KB", 0, "out of range"},
		{"-1", 0, `negative size "-1"`},
		{"-1MiB", 0, "negative size"},
		{"", 0, `invalid size ""`},
		{"MiB", 0, `invalid size "MiB"`},
		{"lots", 0, "invalid size"},
		{"+5", 0, "invalid size"},
		{"1.5MiB", 0, `invalid size "1.5MiB" (want a whole number`},
		{"10M", 0, `size "10M": ambiguous unit "M" (write MiB for powers of 1024 or MB for powers of 1000)`},
		{"10k", 0, "ambiguous unit"},
		{"10 G", 0, "ambiguous unit"},
		{"10MiBs", 0, `unknown unit "MiBs"`},
		{"10 bytes", 0, "unknown unit"},
		{"1e6", 0, "unknown unit"},
		{"0x10", 0, "unknown unit"},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("parseSize(%q): %v", tt.in, err)
		case tt.err == "" && got != tt.want:
			t.Errorf("parseSize(%q) = %d, want %d", tt.in, got, tt.want)
		case tt.err != "" && err == nil:
			t.Errorf("parseSize(%q) = %d, want an error", tt.in, got)
		case tt.err != "" && (!strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrInvalidValue)):
			t.Errorf("parseSize(%q): %v, want %q (ErrInvalidValue)", tt.in, err, tt.err)
		}
	}
}

// logTree is a tree with settings lines set, a supervisor r with lines
// root, and under it a supervisor r/g with lines grp holding the process
// worker r/g/w with lines kid, the service r/svc and the worker r/o.
func logTree(set, root, grp, kid []string) string {
	var b strings.Builder
	if set != nil {
		b.WriteString("settings:\n" + indent("  ", set))
	}
	b.WriteString("tree:\n  name: r\n" + indent("  ", root) + "  children:\n")
	b.WriteString("    - name: g\n" + indent("      ", grp) + "      children:\n")
	b.WriteString("        - name: w\n          command: x\n" + indent("          ", kid))
	b.WriteString("    - {name: svc, start: y}\n")
	b.WriteString("    - {name: o, command: z}\n")
	return b.String()
}

func TestLogInherited(t *testing.T) {
	t.Parallel()
	file := &LogSpec{To: LogToFile}
	stdout := &LogSpec{To: LogToStdout, Timestamps: true, Prefix: "{path}: "}
	rotated := &LogSpec{To: LogToFile, MaxSize: 10 << 20, Keep: 5}
	tests := []struct {
		name           string
		set, root, grp []string
		kid            []string
		w, o           *LogSpec // of r/g/w and r/o
	}{
		{"none", nil, nil, nil, nil, nil, nil},
		{"empty mapping", nil, nil, nil, []string{"log: {}"}, file, nil},
		{"nothing", nil, nil, nil, []string{"log:"}, file, nil},
		{"file defaults", nil, nil, nil, []string{"log: {to: file}"}, file, nil},
		{"stdout defaults", nil, nil, nil, []string{"log: {to: stdout}"}, stdout, nil},
		{"stdout without timestamps or prefix", nil, nil, nil, []string{"log: {to: stdout, timestamps: false, prefix: \"\"}"},
			&LogSpec{To: LogToStdout}, nil},
		{"file with timestamps and a prefix", nil, nil, nil, []string{"log:", "  timestamps: true", "  prefix: \"[{name}] \""},
			&LogSpec{To: LogToFile, Timestamps: true, Prefix: "[{name}] "}, nil},
		{"rotation with the default keep", nil, nil, nil, []string{"log: {max_size: 10MiB}"}, rotated, nil},
		{"rotation with keep", nil, nil, nil, []string{"log: {max_size: 1000, keep: 2}"}, &LogSpec{To: LogToFile, MaxSize: 1000, Keep: 2}, nil},
		{"keep without rotation", nil, nil, nil, []string{"log: {max_size: 0, keep: 3}"}, file, nil},
		{"from settings", []string{"log: {to: stdout}"}, nil, nil, nil, stdout, stdout},
		{"from the root", nil, []string{"log: {max_size: 10MiB}"}, nil, nil, rotated, rotated},
		{"from the nearer supervisor only", nil, nil, []string{"log: {to: stdout}"}, nil, stdout, nil},
		{"nearest key wins", []string{"log: {max_size: 1MiB, keep: 9}"}, []string{"log: {max_size: 10MiB}"}, nil, []string{"log: {keep: 5}"},
			rotated, &LogSpec{To: LogToFile, MaxSize: 10 << 20, Keep: 9}},
		{"keys merge down the tree", []string{"log: {timestamps: true}"}, []string{"log: {to: stdout, prefix: \"[{name}] \"}"}, nil, []string{"log: {timestamps: false}"},
			&LogSpec{To: LogToStdout, Prefix: "[{name}] "}, &LogSpec{To: LogToStdout, Timestamps: true, Prefix: "[{name}] "}},
		{"defaults follow the nearer to", []string{"log: {to: stdout}"}, nil, []string{"log: {to: file}"}, nil, file, stdout},
		{"inherited rotation ignored for stdout", []string{"log: {max_size: 1MiB, keep: 2}"}, nil, []string{"log: {to: stdout}"}, nil,
			stdout, &LogSpec{To: LogToFile, MaxSize: 1 << 20, Keep: 2}},
		{"one explicit stream", []string{"log: {}"}, nil, nil, []string{"stdout: inherit"}, file, file},
		{"both explicit streams", []string{"log: {}"}, nil, nil, []string{"stdout: inherit", "stderr: discard"}, nil, file},
		{"prefix from a variable", []string{"log: {prefix: \"${p} \"}"}, nil, nil, nil,
			&LogSpec{To: LogToFile, Prefix: "<{name}> "}, &LogSpec{To: LogToFile, Prefix: "<{name}> "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := mustLoad(t, "vars: {p: \"<{name}>\"}\n"+logTree(tt.set, tt.root, tt.grp, tt.kid))
			if got := c.Find("r/g/w").Log; !reflect.DeepEqual(got, tt.w) {
				t.Errorf("r/g/w: log %+v, want %+v", got, tt.w)
			}
			if got := c.Find("r/o").Log; !reflect.DeepEqual(got, tt.o) {
				t.Errorf("r/o: log %+v, want %+v", got, tt.o)
			}
			for _, p := range []string{"r", "r/g", "r/svc"} {
				if got := c.Find(p).Log; got != nil {
					t.Errorf("%s: log %+v, want none (process workers only)", p, got)
				}
			}
		})
	}
}

// TestLogOwnCopy: every worker gets its own LogSpec, so ResolveLogs can
// fill in each one's Path.
func TestLogOwnCopy(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, logTree([]string{"log: {}"}, nil, nil, nil))
	if w, o := c.Find("r/g/w").Log, c.Find("r/o").Log; w == nil || w == o {
		t.Errorf("r/g/w and r/o share a log: %p %p", w, o)
	}
}

func TestLogInheritedThroughInclude(t *testing.T) {
	t.Parallel()
	_, c, err := loadDir(t, map[string]string{
		"otpsv.yaml":    "tree:\n  name: r\n  log: {to: stdout}\n  children:\n    - include: conf.d/*.yaml\n",
		"conf.d/a.yaml": "name: w\ncommand: x\nlog: {prefix: \"\"}\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Find("r/w").Log, (&LogSpec{To: LogToStdout, Timestamps: true}); !reflect.DeepEqual(got, want) {
		t.Errorf("log %+v, want %+v", got, want)
	}
}

func TestLogErrors(t *testing.T) {
	t.Parallel()
	cases := []errCase{
		{"a list", proc("log: [stdout]"), ErrType, "6: r/w: log: ", "want a mapping of to, timestamps, prefix, max_size or keep, got a list"},
		{"a word", proc("log: stdout"), ErrType, "6: r/w: log: ", "got a scalar"},
		{"unknown key", proc("log:", "  to: file", "  rotate: daily"), ErrUnknownKey, "8: r/w: log: ",
			`unknown key "rotate" (want to, timestamps, prefix, max_size or keep)`},
		{"unknown target", proc("log: {to: syslog}"), ErrInvalidValue, "6: r/w: log: to: ", `unknown log target "syslog" (want file or stdout)`},
		{"a path as target", proc("log:", "  to: /var/log/w.log"), ErrInvalidValue, "7: r/w: log: to: ", `unknown log target "/var/log/w.log"`},
		{"timestamps yes", proc("log: {timestamps: yes}"), ErrInvalidValue, "6: r/w: log: timestamps: ", `"yes" is not a boolean`},
		{"unknown placeholder", proc("log: {prefix: \"{nmae}: \"}"), ErrInvalidValue, "6: r/w: log: prefix: ",
			`unknown placeholder {nmae} in prefix "{nmae}: " (want {path} or {name})`},
		{"line break in prefix", proc("log: {prefix: \"a\\nb\"}"), ErrInvalidValue, "6: r/w: log: prefix: ", `prefix "a\nb" holds a line break`},
		{"undefined variable in prefix", proc("log: {prefix: \"${nope}\"}"), ErrUndefinedVar, "6: r/w: log: prefix: ", "${nope}"},
		{"ambiguous size", proc("log:", "  max_size: 10M"), ErrInvalidValue, "7: r/w: log: max_size: ", `ambiguous unit "M"`},
		{"negative size", proc("log: {max_size: -1}"), ErrInvalidValue, "6: r/w: log: max_size: ", `negative size "-1"`},
		{"size in words", proc("log: {max_size: big}"), ErrInvalidValue, "6: r/w: log: max_size: ", `invalid size "big"`},
		{"keep 0", proc("log: {max_size: 1MiB, keep: 0}"), ErrInvalidValue, "6: r/w: log: keep: ", "must be at least 1, got 0"},
		{"keep 0 without max_size", proc("log: {keep: 0}"), ErrInvalidValue, "6: r/w: log: keep: ", "must be at least 1"},
		{"keep in words", proc("log: {max_size: 1MiB, keep: all}"), ErrInvalidValue, "6: r/w: log: keep: ", `"all" is not a whole number`},
		{"max_size with stdout", proc("log:", "  to: stdout", "  max_size: 1MiB"), ErrConflictingKeys, "8: r/w: log: max_size: ",
			"conflicting keys: max_size is for files, and this log goes to stdout"},
		{"keep with stdout", proc("log:", "  keep: 3", "  to: stdout"), ErrConflictingKeys, "7: r/w: log: keep: ", "keep is for files"},
		{"both streams given", proc("stdout: /tmp/o", "stderr: inherit", "log: {timestamps: true}"), ErrConflictingKeys, "8: r/w: log: ",
			"conflicting keys: stdout and stderr are both given, so no stream goes through log"},
		{"on a service", svc("log: {to: stdout}"), ErrUnknownKey, "6: r/w: ",
			`unknown key "log" for a service worker (a service daemonizes away from otpsv, which does not hold its output; the service writes its own logs)`},
		{"on a supervisor", sup("log: {to: journal}"), ErrInvalidValue, "3: r: log: to: ", `unknown log target "journal"`},
		{"in settings", "settings:\n  log:\n    to: journal\n" + proc(), ErrInvalidValue, "3: settings: log: to: ", `unknown log target "journal"`},
		{"unknown key in settings", "settings:\n  log: {colour: red}\n" + proc(), ErrUnknownKey, "2: settings: log: ", `unknown key "colour"`},
	}
	runKeyErrors(t, cases)
}

// TestLogErrorsOnce: a problem in an inherited block is reported once,
// where it is written, not at every worker below it.
func TestLogErrorsOnce(t *testing.T) {
	t.Parallel()
	_, err := loadAs(t, logTree([]string{"log: {max_size: 1X}"}, nil, []string{"log: {to: stdout, keep: 2}"}, nil), 1000)
	var got []string
	for _, fe := range fieldErrors(t, err) {
		got = append(got, fe.Error())
	}
	want := []string{
		testFile + `:2: settings: log: max_size: size "1X": unknown unit "X" (want B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)`,
		testFile + ":7: r/g: log: keep: conflicting keys: keep is for files, and this log goes to stdout",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

func TestLogPrefixFor(t *testing.T) {
	t.Parallel()
	tests := []struct{ prefix, path, want string }{
		{"{path}: ", "site/a/b", "site/a/b: "},
		{"[{name}] ", "site/a/b", "[b] "},
		{"{name}", "site", "site"},
		{"{path}|{name}|{path}", "s/w", "s/w|w|s/w"},
		{"", "s/w", ""},
		{"plain ", "s/w", "plain "},
		{"{ {path} }", "s/w", "{ s/w }"},
	}
	for _, tt := range tests {
		s := &LogSpec{Prefix: tt.prefix}
		if got := s.PrefixFor(tt.path); got != tt.want {
			t.Errorf("%q.PrefixFor(%q) = %q, want %q", tt.prefix, tt.path, got, tt.want)
		}
	}
}

func TestLogTargetString(t *testing.T) {
	t.Parallel()
	for lt, want := range map[LogTarget]string{LogToFile: "file", LogToStdout: "stdout", 5: "LogTarget(5)"} {
		if got := lt.String(); got != want {
			t.Errorf("LogTarget(%d) = %q, want %q", int(lt), got, want)
		}
	}
}

func TestResolveLogsWithLog(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, `
tree:
  name: site
  children:
    - {name: file, command: x, log: {max_size: 1MiB}}
    - {name: out, command: x, log: {to: stdout}}
    - {name: half, command: x, stdout: inherit, log: {}}
    - {name: plain, command: x}
    - {name: svc, start: x}
`)
	c.ResolveLogs("/state")
	logged := Output{Kind: OutputLog}
	tests := []struct {
		path           string
		stdout, stderr Output
		logPath        string
	}{
		{"site/file", logged, logged, "/state/logs/site_file.log"},
		{"site/out", logged, logged, ""},
		{"site/half", Output{Kind: OutputInherit}, logged, "/state/logs/site_half.log"},
		{"site/plain", Output{Kind: OutputFile, Path: "/state/logs/site_plain.log"}, Output{Kind: OutputFile, Path: "/state/logs/site_plain.log"}, ""},
	}
	for _, tt := range tests {
		n := c.Find(tt.path)
		if n.Stdout != tt.stdout || n.Stderr != tt.stderr {
			t.Errorf("%s: outputs %+v %+v, want %+v %+v", tt.path, n.Stdout, n.Stderr, tt.stdout, tt.stderr)
		}
		switch {
		case n.Log == nil && tt.path != "site/plain":
			t.Errorf("%s: no log", tt.path)
		case n.Log != nil && n.Log.Path != tt.logPath:
			t.Errorf("%s: log path %q, want %q", tt.path, n.Log.Path, tt.logPath)
		}
	}
	if s := c.Find("site/svc"); s.Stdout.Kind != OutputDefault || s.Log != nil {
		t.Errorf("service: %+v %+v, want untouched", s.Stdout, s.Log)
	}
}

// TestLogFingerprint: where and how a worker's output is written is how
// it is started, so it is part of its fingerprint; whether it is
// significant is not (see Node.Fingerprint), and a supervisor's
// auto_shutdown is, as its other policy keys.
func TestLogFingerprint(t *testing.T) {
	t.Parallel()
	fp := func(src, path, stateDir string) string {
		t.Helper()
		c := mustLoad(t, src)
		if stateDir != "" {
			c.ResolveLogs(stateDir)
		}
		return c.Find(path).Fingerprint()
	}
	const onAny = "auto_shutdown: any_significant"
	base := fp(job([]string{onAny}, "restart: transient", "log: {to: stdout}"), "r/w", "")
	for _, tt := range []struct {
		name, src string
		same      bool
	}{
		{"keys moved", job([]string{onAny}, "log:", "  to: stdout", "restart: transient"), true},
		{"defaults written", job([]string{onAny}, "restart: transient", "log: {to: stdout, timestamps: true, prefix: \"{path}: \"}"), true},
		{"inherited instead", "settings: {log: {to: stdout}}\n" + job([]string{onAny}, "restart: transient"), true},
		{"significant", job([]string{onAny}, "restart: transient", "significant: true", "log: {to: stdout}"), true},
		{"timestamps", job([]string{onAny}, "restart: transient", "log: {to: stdout, timestamps: false}"), false},
		{"prefix", job([]string{onAny}, "restart: transient", "log: {to: stdout, prefix: \"{name} \"}"), false},
		{"to", job([]string{onAny}, "restart: transient", "log: {to: file}"), false},
		{"no log", job([]string{onAny}, "restart: transient"), false},
	} {
		if got := fp(tt.src, "r/w", ""); (got == base) != tt.same {
			t.Errorf("%s: fingerprint equal %v, want %v", tt.name, got == base, tt.same)
		}
	}
	rot := job(nil, "log: {max_size: 1MiB}")
	if fp(rot, "r/w", "/a") == fp(rot, "r/w", "/b") {
		t.Error("the log file moved but the fingerprint did not change")
	}
	if fp(rot, "r/w", "") == fp(job(nil, "log: {max_size: 2MiB}"), "r/w", "") {
		t.Error("max_size changed but the fingerprint did not")
	}
	if fp(job(nil), "r", "") == fp(job([]string{"auto_shutdown: all_significant"}), "r", "") {
		t.Error("auto_shutdown changed but the supervisor's fingerprint did not")
	}
}

// TestLogDiffResolved: plan and reload compare resolved trees, where a
// log added changes where both streams go.
func TestLogDiffResolved(t *testing.T) {
	t.Parallel()
	load := func(src string) *Node {
		c := mustLoad(t, src)
		c.ResolveLogs("/state")
		return c.Tree
	}
	old := load(job(nil))
	got := lines(Diff(old, load("settings: {log: {}}\n"+job(nil))))
	if want := []string{"= r", "~ r/w restart (changed: stdout, stderr, log)"}; !reflect.DeepEqual(got, want) {
		t.Errorf("log added: %v, want %v", got, want)
	}
	got = lines(Diff(load(job(nil, "log: {}")), load(job(nil, "log: {timestamps: true}"))))
	if want := []string{"= r", "~ r/w restart (changed: log)"}; !reflect.DeepEqual(got, want) {
		t.Errorf("log changed: %v, want %v", got, want)
	}
}
