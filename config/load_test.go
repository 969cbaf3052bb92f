package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otpsv/otpsv/actors/policy"
)

const testFile = "/etc/otpsv/otpsv.yaml"

// loadAs loads src as testFile with the given effective uid.
func loadAs(t *testing.T, src string, euid int) (*Config, error) {
	t.Helper()
	return load(strings.NewReader(src), testFile, euid)
}

func mustLoad(t *testing.T, src string) *Config {
	t.Helper()
	c, err := loadAs(t, src, 1000)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return c
}

// fieldErrors unpacks the joined error of Load.
func fieldErrors(t *testing.T, err error) []*FieldError {
	t.Helper()
	var out []*FieldError
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("error %v (%T) is not a *FieldError", e, e)
		}
		out = append(out, fe)
	}
	return out
}

func TestSpecExample(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, `
settings:
  state_dir: /var/lib/otpsv/site
  check_interval: 30s
  log_level: info
  log_format: text
vars:
  base: /opt/whatever
tree:
  name: site
  strategy: one_for_one
  intensity: 3
  period: 60s
  children:
    - name: httpd
      control: service httpd
      expected: stopped
    - name: custom1
      start: /path/to/script --conf /path/to/conf --daemon
      pattern: "/path/to/script --conf /path/to/conf"
    - name: api
      command: ["${base}/bin/service", "--option", "1", "--other", "foo bar"]
      restart: permanent
      stop_signal: TERM
      stop_timeout: 10s
`)
	want := Settings{StateDir: "/var/lib/otpsv/site", CheckInterval: 30 * time.Second, LogLevel: "info", LogFormat: "text"}
	if c.Settings != want {
		t.Errorf("settings = %+v, want %+v", c.Settings, want)
	}
	root := c.Tree
	if root.Name != "site" || root.Path != "site" || root.Type != Supervisor || len(root.Children) != 3 {
		t.Fatalf("root = %+v", root)
	}
	if root.File != testFile || root.Line != 10 {
		t.Errorf("root at %s:%d, want %s:10", root.File, root.Line, testFile)
	}
	httpd, custom, api := root.Children[0], root.Children[1], root.Children[2]
	if httpd.Path != "site/httpd" || httpd.Type != Service || httpd.Expected != Stopped || httpd.Line != 15 {
		t.Errorf("httpd = %+v", httpd)
	}
	if got, want := httpd.Start, []string{"service", "httpd", "start"}; !reflect.DeepEqual(got, want) {
		t.Errorf("httpd start = %q, want %q", got, want)
	}
	if custom.Type != Service || !custom.PatternSet || custom.Pattern != "/path/to/script --conf /path/to/conf" || !custom.StopStart {
		t.Errorf("custom1 = %+v", custom)
	}
	if got, want := api.Command, []string{"/opt/whatever/bin/service", "--option", "1", "--other", "foo bar"}; !reflect.DeepEqual(got, want) {
		t.Errorf("api command = %q, want %q", got, want)
	}
	if api.Type != Process || api.Restart != policy.Permanent || api.StopSignal != syscall.SIGTERM || api.StopTimeout != 10*time.Second {
		t.Errorf("api = %+v", api)
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, `
tree:
  name: root
  children:
    - name: p
      command: /bin/true
    - name: s
      start: /usr/sbin/daemon --flag  "a  b"
`)
	if want := (Settings{CheckInterval: 30 * time.Second, LogLevel: "info", LogFormat: "text"}); c.Settings != want {
		t.Errorf("settings = %+v, want %+v", c.Settings, want)
	}
	r := c.Tree
	if r.Strategy != policy.OneForOne || r.Intensity != 3 || r.Period != 60*time.Second || r.Expected != Running {
		t.Errorf("supervisor defaults = %v %d %v %v", r.Strategy, r.Intensity, r.Period, r.Expected)
	}
	p := r.Children[0]
	wantP := &Node{
		Name: "p", Path: "root/p", Type: Process, File: testFile, Line: 5,
		Restart: policy.Permanent, Timeout: 60 * time.Second, ReadyTimeout: 60 * time.Second,
		Command: []string{"/bin/true"}, StopSignal: syscall.SIGTERM, StopTimeout: 10 * time.Second,
	}
	if !reflect.DeepEqual(p, wantP) {
		t.Errorf("process = %+v\nwant %+v", p, wantP)
	}
	s := r.Children[1]
	wantS := &Node{
		Name: "s", Path: "root/s", Type: Service, File: testFile, Line: 7,
		Restart: policy.Permanent, Timeout: 60 * time.Second,
		Start: []string{"/usr/sbin/daemon", "--flag", "a  b"}, StopStart: true,
		Pattern: `/usr/sbin/daemon --flag a  b`,
	}
	if !reflect.DeepEqual(s, wantS) {
		t.Errorf("service = %+v\nwant %+v", s, wantS)
	}
}

func TestSettings(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, `
vars: {d: /srv/state}
settings:
  state_dir: ${d}/x
  check_interval: 5
  log_level: debug
  log_format: json
tree: {name: r, children: [{name: a, command: x}]}
`)
	want := Settings{StateDir: "/srv/state/x", CheckInterval: 5 * time.Second, LogLevel: "debug", LogFormat: "json"}
	if c.Settings != want {
		t.Errorf("settings = %+v, want %+v", c.Settings, want)
	}
}

// errCase is a configuration that must fail with err at file:line.
type errCase struct {
	name string
	src  string
	err  error  // sentinel, for errors.Is
	at   string // "LINE" or "LINE: PATH", matched after "FILE:"
	msg  string // substring of the message
}

// runKeyErrors loads each case (as uid 1000) and requires its sentinel,
// at "FILE:" followed by its at (which starts with the line), with its
// message.
func runKeyErrors(t *testing.T, cases []errCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadAs(t, tc.src, 1000)
			line, _ := strconv.Atoi(tc.at[:strings.IndexByte(tc.at, ':')])
			requireAt(t, err, tc.err, testFile, line)
			if err == nil {
				return
			}
			if msg, at := err.Error(), testFile+":"+tc.at; !strings.HasPrefix(msg, at) || !strings.Contains(msg, tc.msg) {
				t.Errorf("error = %q, want prefix %q and %q", msg, at, tc.msg)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	const ok2 = "\n    - name: ok\n      command: x\n"
	cases := []errCase{
		{"unknown top key", "foo: 1\ntree: {name: r, children: [{name: a, command: x}]}", ErrUnknownKey, "1", `unknown key "foo"`},
		{"unknown node key", "tree:\n  name: r\n  children:\n    - name: a\n      command: x\n      colour: red\n", ErrUnknownKey, "6: r/a", `unknown key "colour"`},
		{"unknown settings key", "settings:\n  foo: 1\ntree: {name: r, children: [{name: a, command: x}]}", ErrUnknownKey, "2: settings", `unknown key "foo"`},
		{"missing tree", "settings: {}\n", ErrMissingKey, "1", `"tree"`},
		{"empty file", "", ErrMissingKey, "", `"tree"`},
		{"tree not a mapping", "tree: [1]\n", ErrType, "1: tree", "want a mapping"},
		{"top not a mapping", "- 1\n", ErrType, "1", "want a mapping"},
		{"syntax", "tree:\n  name: r\n  children: [\n", ErrSyntax, "", "invalid yaml"},
		{"syntax line", "a: 1\nb: 2\nc 2\nd: 3\n", ErrSyntax, "3", "could not find expected ':'"},
		{"two documents", "tree: {name: r, children: [{name: a, command: x}]}\n---\ntree: {}\n", ErrSyntax, "2", "more than one document"},
		{"duplicate key", "tree:\n  name: r\n  name: s\n  children: [{name: a, command: x}]\n", ErrDuplicateKey, "3: tree", `duplicate key "name" (first at line 2)`},
		{"missing name", "tree:\n  name: r\n  children:\n    - command: x\n", ErrMissingKey, "4: r/children[0]", `"name"`},
		{"invalid name", "tree:\n  name: r\n  children:\n    - name: a b\n      command: x\n", ErrInvalidName, "4: r/children[0]: name", `"a b"`},
		{"invalid name slash", "tree:\n  name: r/s\n  children: [{name: a, command: x}]\n", ErrInvalidName, "2", `"r/s"`},
		{"duplicate name", "tree:\n  name: r\n  children:\n    - name: a\n      command: x\n    - name: a\n      command: y\n", ErrDuplicateName, "6: r/a", `first at /etc/otpsv/otpsv.yaml:4`},
		{"no type", "tree:\n  name: r\n  children:\n    - name: a\n      dir: /\n", ErrNodeType, "4: r/a", "give children"},
		{"two types", "tree:\n  name: r\n  children:\n    - name: a\n      command: x\n      start: y\n", ErrNodeType, "4: r/a", "both command and start"},
		{"children and command", "tree:\n  name: r\n  command: x\n  children: [{name: a, command: x}]\n", ErrNodeType, "2: r", "both children and command"},
		{"unknown type", "tree:\n  name: r\n  type: thing\n  children: [{name: a, command: x}]\n", ErrInvalidValue, "3: r: type", `unknown node type "thing"`},
		{"process key on service", "tree:\n  name: r\n  children:\n    - name: a\n      start: x\n      stop_signal: TERM\n", ErrUnknownKey, "6: r/a", `unknown key "stop_signal" for a service worker`},
		{"service key on process", "tree:\n  name: r\n  children:\n    - name: a\n      command: x\n      pattern: y\n", ErrUnknownKey, "6: r/a", `unknown key "pattern" for a process worker`},
		{"control on explicit process", "tree:\n  name: r\n  children:\n    - name: a\n      type: process\n      command: x\n      control: y\n", ErrUnknownKey, "7: r/a", `"control" for a process worker`},
		{"worker key on supervisor", "tree:\n  name: r\n  timeout: 5s\n  children: [{name: a, command: x}]\n", ErrUnknownKey, "3: r", `"timeout" for a supervisor`},
		{"explicit process without command", "tree:\n  name: r\n  children:\n    - name: a\n      type: process\n", ErrMissingKey, "4: r/a", `"command"`},
		{"explicit service without start", "tree:\n  name: r\n  children:\n    - name: a\n      type: service\n      stop: x\n", ErrMissingKey, "4: r/a", `"control" or "start"`},
		{"explicit supervisor without children", "tree:\n  name: r\n  type: supervisor\n", ErrMissingKey, "2: r", `"children"`},
		{"empty children", "tree:\n  name: r\n  children: []\n", ErrEmptyChildren, "3: r: children", "at least one child"},
		{"null children", "tree:\n  name: r\n  children:\n", ErrEmptyChildren, "3: r: children", ""},
		{"children not a list", "tree:\n  name: r\n  children: {name: a}\n", ErrType, "3: r: children", "want a list"},
		{"child not a mapping", "tree:\n  name: r\n  children:\n    - just a string\n", ErrType, "4: r/children[0]", "want a mapping"},
		{"unknown strategy", "tree:\n  name: r\n  strategy: all_for_one\n  children: [{name: a, command: x}]\n", ErrInvalidValue, "3: r: strategy", `unknown strategy "all_for_one"`},
		{"negative intensity", "tree:\n  name: r\n  intensity: -1\n  children: [{name: a, command: x}]\n", ErrInvalidValue, "3: r: intensity", "negative"},
		{"intensity not int", "tree:\n  name: r\n  intensity: 2.5\n  children: [{name: a, command: x}]\n", ErrInvalidValue, "3: r: intensity", "whole number"},
		{"zero period", "tree:\n  name: r\n  period: 0s\n  children: [{name: a, command: x}]\n", ErrInvalidValue, "3: r: period", "greater than zero"},
		{"negative period", "tree:\n  name: r\n  period: -5s\n  children: [{name: a, command: x}]\n", ErrInvalidValue, "3: r: period", "negative duration"},
		{"bad duration", "tree:\n  name: r\n  children:\n    - name: a\n      command: x\n      stop_timeout: 10 seconds\n", ErrInvalidValue, "6: r/a: stop_timeout", "invalid duration"},
		{"unknown restart type", "tree:\n  name: r\n  children:\n    - name: a\n      command: x\n      restart: always\n", ErrInvalidValue, "6: r/a: restart", `unknown restart type "always"`},
		{"unknown expected", "tree:\n  name: r\n  expected: up\n  children: [{name: a, command: x}]\n", ErrInvalidValue, "3: r: expected", `unknown expected state "up" (want running or stopped)`},
		{"unknown log level", "settings: {log_level: verbose}\ntree: {name: r, children: [{name: a, command: x}]}\n", ErrInvalidValue, "1: settings: log_level", `"verbose" (want debug, info, warn or error)`},
		{"unknown log format", "settings:\n  log_format: xml\ntree: {name: r, children: [{name: a, command: x}]}\n", ErrInvalidValue, "2: settings: log_format", `"xml"`},
		{"zero check interval", "settings:\n  check_interval: 0\ntree: {name: r, children: [{name: a, command: x}]}\n", ErrInvalidValue, "2: settings: check_interval", ""},
		{"unknown signal", "tree:\n  name: r\n  children:\n    - name: a\n      command: x\n      stop_signal: SIGFOO\n", ErrInvalidValue, "6: r/a: stop_signal", `unknown signal "SIGFOO"`},
		{"signal out of range", "tree:\n  name: r\n  children:\n    - name: a\n      command: x\n      stop_signal: 65\n", ErrInvalidValue, "6: r/a: stop_signal", "out of range"},
		{"undefined var", "tree:\n  name: r\n  children:\n    - name: a\n      command: ${nope}/bin/x\n", ErrUndefinedVar, "5: r/a: command", "undefined variable ${nope}"},
		{"undefined var in vars", "vars:\n  a: ${b}\ntree: {name: r, children: [{name: a, command: x}]}\n", ErrUndefinedVar, "2: vars: a", "${b}"},
		{"var defined later", "vars:\n  a: ${b}\n  b: 1\ntree: {name: r, children: [{name: a, command: x}]}\n", ErrUndefinedVar, "2", "${b}"},
		{"unterminated var", "tree:\n  name: r\n  children:\n    - name: a\n      command: ${x\n", ErrInvalidValue, "5: r/a: command", "unterminated ${"},
		{"bad var reference", "tree:\n  name: r\n  children:\n    - name: a\n      command: ${a b}\n", ErrInvalidName, "5", "${a b}"},
		{"bad var name", "vars:\n  a-b: 1\ntree: {name: r, children: [{name: a, command: x}]}\n", ErrInvalidName, "2: vars: a-b", ""},
		{"vars not a mapping", "vars: [1]\ntree: {name: r, children: [{name: a, command: x}]}\n", ErrType, "1: vars", ""},
		{"var not a scalar", "vars:\n  a: [1]\ntree: {name: r, children: [{name: a, command: x}]}\n", ErrType, "2: vars: a", "want a string"},
		{"empty command", "tree:\n  name: r\n  children:\n    - name: a\n      command: \"\"\n", ErrInvalidValue, "5: r/a: command", "empty command"},
		{"empty command list", "tree:\n  name: r\n  children:\n    - name: a\n      command: []\n", ErrInvalidValue, "5: r/a: command", "empty command"},
		{"null command", "tree:\n  name: r\n  children:\n    - name: a\n      command:\n", ErrType, "5: r/a: command", "got nothing"},
		{"command mapping", "tree:\n  name: r\n  children:\n    - name: a\n      command: {x: 1}\n", ErrType, "5: r/a: command", "want a command"},
		{"command list of lists", "tree:\n  name: r\n  children:\n    - name: a\n      command: [[x]]\n", ErrType, "5: r/a: command", "want a string"},
		{"unterminated quote", "tree:\n  name: r\n  children:\n    - name: a\n      command: echo 'foo\n", ErrInvalidValue, "5: r/a: command", "unterminated single quote"},
		{"bad pattern", "tree:\n  name: r\n  children:\n    - name: a\n      start: x\n      pattern: \"(a\"\n", ErrInvalidValue, "6: r/a: pattern", "missing closing )"},
		{"env not a mapping", "tree:\n  name: r\n  children:\n    - name: a\n      command: x\n      env: [A=1]\n", ErrType, "6: r/a: env", "want a mapping"},
		{"empty stdout", "tree:\n  name: r\n  children:\n    - name: a\n      command: x\n      stdout: ''\n", ErrInvalidValue, "6: r/a: stdout", ""},
		{"user not root", "tree:\n  name: r\n  children:\n    - name: a\n      command: x\n      user: nobody\n", ErrNotRoot, "6: r/a: user", "only honoured when otpsv runs as root"},
		{"group not root", "tree:\n  name: r\n  children:\n    - name: a\n      command: x\n      group: nogroup\n", ErrNotRoot, "6: r/a: group", ""},
		{"service restart mapping", "tree:\n  name: r\n  children:\n    - name: a\n      start: x\n      restart: {a: 1}\n", ErrType, "6: r/a: restart", ""},
		{"include beside keys", "tree:\n  name: r\n  children:\n    - include: no-such-dir/*.yaml\n      name: a\n", ErrUnknownKey, "5: r", `"name" beside include`},
		{"error in nested child", "tree:\n  name: r\n  children:\n    - name: s\n      children:\n        - name: t\n          command: x\n          stop_signal: nope\n" + ok2, ErrInvalidValue, "8: r/s/t: stop_signal", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := loadAs(t, tc.src, 1000)
			if err == nil {
				t.Fatalf("load succeeded (%+v), want %v", c, tc.err)
			}
			if c != nil {
				t.Errorf("config = %+v, want nil on error", c)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("error %q is not %v", err, tc.err)
			}
			fe := fieldErrors(t, err)
			if len(fe) != 1 {
				t.Errorf("got %d errors, want 1: %v", len(fe), err)
			}
			prefix := testFile + ":" + tc.at
			if tc.at == "" {
				prefix = testFile + ":"
			}
			if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tc.msg) {
				t.Errorf("error = %q, want prefix %q and %q", msg, prefix, tc.msg)
			}
		})
	}
}

func TestAllErrorsReported(t *testing.T) {
	t.Parallel()
	_, err := loadAs(t, `
settings:
  log_level: loud
tree:
  name: r
  strategy: nope
  children:
    - name: a
      command: x
      stop_signal: BOGUS
    - name: b
      bogus: 1
      command: "unterminated 'quote"
    - name: a
      start: ${undefined}
`, 1000)
	fe := fieldErrors(t, err)
	want := []struct {
		line int
		err  error
	}{
		{3, ErrInvalidValue},
		{6, ErrInvalidValue},
		{10, ErrInvalidValue},
		{12, ErrUnknownKey},
		{13, ErrInvalidValue},
		{15, ErrUndefinedVar},
		{14, ErrDuplicateName},
	}
	if len(fe) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(fe), len(want), err)
	}
	for i, w := range want {
		if fe[i].Line != w.line || !errors.Is(fe[i], w.err) || fe[i].File != testFile {
			t.Errorf("error %d = %v, want line %d, %v", i, fe[i], w.line, w.err)
		}
	}
}

func TestFieldError(t *testing.T) {
	t.Parallel()
	cases := []struct {
		fe   FieldError
		want string
	}{
		{FieldError{File: "a.yaml", Line: 3, Path: "site/api: stop_signal", Err: ErrInvalidValue}, "a.yaml:3: site/api: stop_signal: invalid value"},
		{FieldError{File: "a.yaml", Line: 3, Err: ErrSyntax}, "a.yaml:3: invalid yaml"},
		{FieldError{File: "a.yaml", Path: "p", Err: ErrSyntax}, "a.yaml: p: invalid yaml"},
	}
	for _, tc := range cases {
		if got := tc.fe.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
		if !errors.Is(&tc.fe, tc.fe.Err) {
			t.Errorf("%v does not unwrap to %v", &tc.fe, tc.fe.Err)
		}
	}
}

func TestUserGroupAsRoot(t *testing.T) {
	t.Parallel()
	c, err := loadAs(t, "tree:\n  name: r\n  children:\n    - name: a\n      command: x\n      user: nobody\n      group: '65534'\n", 0)
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Tree.Children[0]; a.User != "nobody" || a.Group != "65534" {
		t.Errorf("user, group = %q, %q", a.User, a.Group)
	}
}

func TestVars(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, `
vars:
  base: /opt/app
  sfx: "1"
  bin: ${base}/bin
  sec: 7
settings:
  state_dir: ${base}/state
tree:
  name: site${sfx}
  period: ${sec}
  children:
    - name: outer
      command: ${bin}/x --cost $$5 --home $HOME end$
    - name: grp
      vars:
        base: ${base}/sub
        sig: HUP
      children:
        - name: inner
          vars: {who: inner}
          command: ["${base}/run", "${who}", "${sfx}"]
          stop_signal: ${sig}
          dir: ${base}
        - name: svc
          start: ${base}/svc start
          pattern: ^${base}/svc$
`)
	if c.Settings.StateDir != "/opt/app/state" {
		t.Errorf("state_dir = %q", c.Settings.StateDir)
	}
	if c.Tree.Name != "site1" || c.Tree.Period != 7*time.Second {
		t.Errorf("root = %q, period %v", c.Tree.Name, c.Tree.Period)
	}
	outer := c.Find("site1/outer")
	if want := []string{"/opt/app/bin/x", "--cost", "$5", "--home", "$HOME", "end$"}; !reflect.DeepEqual(outer.Command, want) {
		t.Errorf("outer command = %q, want %q", outer.Command, want)
	}
	inner := c.Find("site1/grp/inner")
	if want := []string{"/opt/app/sub/run", "inner", "1"}; !reflect.DeepEqual(inner.Command, want) {
		t.Errorf("inner command = %q, want %q", inner.Command, want)
	}
	if inner.StopSignal != syscall.SIGHUP || inner.Dir != "/opt/app/sub" {
		t.Errorf("inner stop_signal %v dir %q", inner.StopSignal, inner.Dir)
	}
	if svc := c.Find("site1/grp/svc"); svc.Pattern != "^/opt/app/sub/svc$" || !svc.PatternSet {
		t.Errorf("svc pattern = %q", svc.Pattern)
	}
}

func TestVarsScopeEndsWithSubtree(t *testing.T) {
	t.Parallel()
	_, err := loadAs(t, `
tree:
  name: r
  children:
    - name: a
      vars: {x: 1}
      command: echo ${x}
    - name: b
      command: echo ${x}
`, 1000)
	if !errors.Is(err, ErrUndefinedVar) || !strings.HasPrefix(err.Error(), testFile+":9: r/b: command") {
		t.Errorf("got %v, want undefined ${x} at line 9", err)
	}
}

func TestExpectedImposed(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, `
tree:
  name: r
  children:
    - name: off
      expected: stopped
      children:
        - name: a
          command: x
          expected: running
        - name: deep
          expected: running
          children:
            - name: b
              command: x
    - name: on
      expected: running
      children:
        - name: c
          command: x
          expected: stopped
        - name: d
          command: x
`)
	want := map[string]Expected{
		"r": Running, "r/off": Stopped, "r/off/a": Stopped, "r/off/deep": Stopped, "r/off/deep/b": Stopped,
		"r/on": Running, "r/on/c": Stopped, "r/on/d": Running,
	}
	_ = c.Tree.Walk(func(n *Node) error {
		if n.Expected != want[n.Path] {
			t.Errorf("%s expected %v, want %v", n.Path, n.Expected, want[n.Path])
		}
		return nil
	})
}

func TestServiceWorker(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, `
tree:
  name: r
  children:
    - name: ctl
      control: /opt/x/bin/ctl --instance "a b"
    - name: ctl_custom
      control: service httpd
      status: /usr/local/bin/check-httpd
      restart: stop+start
    - name: own
      start: [/opt/y/start, --daemon]
      stop: /opt/y/stop
      restart: /opt/y/restart now
      timeout: 5s
      path: /opt/y/bin:/usr/bin
    - name: typed
      type: service
      start: "/usr/bin/a.b+c --x"
`)
	ctl := c.Find("r/ctl")
	pre := []string{"/opt/x/bin/ctl", "--instance", "a b"}
	for _, tc := range []struct {
		got  []string
		verb string
	}{{ctl.Start, "start"}, {ctl.Stop, "stop"}, {ctl.Status, "status"}, {ctl.RestartCmd, "restart"}} {
		if want := append(append([]string(nil), pre...), tc.verb); !reflect.DeepEqual(tc.got, want) {
			t.Errorf("ctl %s = %q, want %q", tc.verb, tc.got, want)
		}
	}
	if !reflect.DeepEqual(ctl.Control, pre) || ctl.StopStart || ctl.Restart != policy.Permanent {
		t.Errorf("ctl = %+v", ctl)
	}
	cc := c.Find("r/ctl_custom")
	if !cc.StopStart || cc.RestartCmd != nil || !reflect.DeepEqual(cc.Status, []string{"/usr/local/bin/check-httpd"}) ||
		!reflect.DeepEqual(cc.Stop, []string{"service", "httpd", "stop"}) {
		t.Errorf("ctl_custom = %+v", cc)
	}
	own := c.Find("r/own")
	if own.StopStart || !reflect.DeepEqual(own.RestartCmd, []string{"/opt/y/restart", "now"}) || own.Status != nil ||
		own.Timeout != 5*time.Second || own.SearchPath != "/opt/y/bin:/usr/bin" || own.Pattern != "/opt/y/start --daemon" || own.PatternSet {
		t.Errorf("own = %+v", own)
	}
	if typed := c.Find("r/typed"); typed.Type != Service || typed.Pattern != `/usr/bin/a\.b\+c --x` {
		t.Errorf("typed = %+v", typed)
	}
}

func TestProcessWorker(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, `
tree:
  name: r
  children:
    - name: p
      command: "run --other 'foo bar' \"x \\\"y\\\"\""
      dir: work
      env:
        ZED: last
        A: 1
        EMPTY:
      stop_signal: sigusr1
      stop_timeout: 0
      restart: transient
      stdout: logs/p.out
      stderr: /var/log/p.err
      status: [check, --p]
      timeout: 1500ms
    - name: q
      command: q
      restart: temporary
      stdout: inherit
      stderr: discard
`)
	p := c.Find("r/p")
	if want := []string{"run", "--other", "foo bar", `x "y"`}; !reflect.DeepEqual(p.Command, want) {
		t.Errorf("command = %q, want %q", p.Command, want)
	}
	if want := []string{"A=1", "EMPTY=", "ZED=last"}; !reflect.DeepEqual(p.Env, want) {
		t.Errorf("env = %q, want %q", p.Env, want)
	}
	if p.Dir != "/etc/otpsv/work" || p.StopSignal != syscall.SIGUSR1 || p.StopTimeout != 0 || p.Restart != policy.Transient {
		t.Errorf("p = %+v", p)
	}
	if p.Stdout != (Output{Kind: OutputFile, Path: "/etc/otpsv/logs/p.out"}) || p.Stderr != (Output{Kind: OutputFile, Path: "/var/log/p.err"}) {
		t.Errorf("outputs = %+v %+v", p.Stdout, p.Stderr)
	}
	if !reflect.DeepEqual(p.Status, []string{"check", "--p"}) || p.Timeout != 1500*time.Millisecond {
		t.Errorf("status %q timeout %v", p.Status, p.Timeout)
	}
	q := c.Find("r/q")
	if q.Restart != policy.Temporary || q.Stdout.Kind != OutputInherit || q.Stderr.Kind != OutputDiscard {
		t.Errorf("q = %+v", q)
	}
}

func TestAnchorsAndMerge(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, `
tree:
  name: r
  children:
    - &base
      name: a
      command: x
      stop_signal: INT
    - <<: *base
      name: b
`)
	b := c.Find("r/b")
	if b == nil || b.StopSignal != syscall.SIGINT || !reflect.DeepEqual(b.Command, []string{"x"}) {
		t.Errorf("b = %+v", b)
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := LoadFile(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want fs.ErrNotExist", err)
	}
	path := writeFile(t, dir, "otpsv.yaml", "tree:\n  name: r\n  children:\n    - name: a\n      command: x\n      stdout: a.log\n")
	c, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.File != path || c.Tree.File != path {
		t.Errorf("file = %q, %q, want %q", c.File, c.Tree.File, path)
	}
	if got := c.Tree.Children[0].Stdout.Path; got != filepath.Join(dir, "a.log") {
		t.Errorf("stdout = %q", got)
	}
}
