package config

import (
	"errors"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// requireAt checks that err holds exactly one problem, that it is want,
// and that it names file at line (file:line in its text too).
func requireAt(t *testing.T, err error, want error, file string, line int) {
	t.Helper()
	if err == nil {
		t.Fatalf("load succeeded, want %v at %s:%d", want, file, line)
	}
	fe := fieldErrors(t, err)
	if len(fe) != 1 {
		t.Errorf("got %d errors, want 1:\n%v", len(fe), err)
	}
	if !errors.Is(err, want) {
		t.Errorf("error %q is not %v", err, want)
	}
	at := file + ":" + strconv.Itoa(line) + ":"
	for _, e := range fe {
		if e.File != file || e.Line != line || !strings.HasPrefix(e.Error(), at) {
			t.Errorf("error %q (file %q, line %d), want it at %s", e, e.File, e.Line, at)
		}
	}
}

// TestEveryErrorHasFileAndLine: problems found by the YAML library
// itself, or in the bytes of the file, name the file and a line too.
func TestEveryErrorHasFileAndLine(t *testing.T) {
	t.Parallel()
	const tree = "tree:\n  name: r\n  children:\n    - name: a\n"
	cases := []struct {
		name string
		src  string
		line int
		err  error
	}{
		{"empty file", "", 1, ErrMissingKey},
		{"only comments", "# nothing here\n\n", 1, ErrMissingKey},
		{"invalid utf-8 in a value", tree + "      command: \"x\xffy\"\n", 5, ErrSyntax},
		{"invalid utf-8 in a comment", "# caf\xe9\n" + tree + "      command: x\n", 1, ErrSyntax},
		{"truncated utf-8 at the end", tree + "      command: x\n# \xe2\x82", 6, ErrSyntax},
		{"utf-16", "\xff\xfet\x00r\x00e\x00e\x00:\x00", 1, ErrSyntax},
		{"control character", tree + "      command: \"x\x01y\"\n", 5, ErrSyntax},
		{"raw NUL byte", tree + "      command: x\n\x00\n", 6, ErrSyntax},
		{"DEL", tree + "      command: x\x7f\n", 5, ErrSyntax},
		{"C1 control", tree + "      command: x\u0080\n", 5, ErrSyntax},
		{"unknown alias", tree + "      command: *nope\n", 5, ErrSyntax},
		{"unknown alias after lookalikes", "vars:\n  a: \"*nope\"\n  b: '*nope' # *nope\ntree:\n  name: r\n  children: [{name: a, command: *nope}]\n", 6, ErrSyntax},
		{"alias before its anchor", tree + "      command: *c\n    - name: b\n      command: &c x\n", 5, ErrSyntax},
		{"scanner error on line 1", "a: b: c\n", 1, ErrSyntax},
		{"parser error on line 1", ": x\n", 1, ErrSyntax},
		{"parser error line", "x:\n  y: 1\n z: 2\n", 3, ErrSyntax},
		{"unclosed flow mapping", "tree: {name: r,\n  children: [{name: a, command: x}\n  ]\n", 3, ErrSyntax},
		{"unclosed flow at the end", "tree:\n  name: r\n  children: [\n", 3, ErrSyntax},
		{"node alias inside itself", "tree: &t\n  name: r\n  children:\n    - *t\n", 4, ErrAliasCycle},
		{"merged children holding the node", "tree:\n  name: r\n  children:\n    - &a\n      name: a\n      children:\n        - <<: *a\n          name: b\n", 7, ErrAliasCycle},
		{"merge inside itself", tree + "      command: x\n    - &b\n      name: b\n      command: x\n      <<: *b\n", 9, ErrAliasCycle},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			done := make(chan struct{})
			var err error
			go func() {
				defer close(done)
				_, err = loadAs(t, tc.src, 1000)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("load did not return within 10s")
			}
			requireAt(t, err, tc.err, testFile, tc.line)
		})
	}
}

// TestAliasBomb: aliases that multiply nodes are refused before they
// exhaust memory.
func TestAliasBomb(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("tree:\n  name: r\n  children:\n    - &l0\n      name: a\n      command: x\n")
	for i := 1; i <= 6; i++ { // 10^6 leaves
		refs := strings.TrimSuffix(strings.Repeat("*l"+strconv.Itoa(i-1)+", ", 10), ", ")
		b.WriteString("    - &l" + strconv.Itoa(i) + "\n      name: s" + strconv.Itoa(i) + "\n      children: [" + refs + "]\n")
	}
	done := make(chan error, 1)
	go func() {
		_, err := loadAs(t, b.String(), 1000)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrTooManyNodes) {
			t.Fatalf("error %v, want %v", err, ErrTooManyNodes)
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.File != testFile || fe.Line == 0 {
			t.Errorf("error %v does not name %s and a line", err, testFile)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("load did not return within 20s")
	}
}

// TestNULRefused: a NUL byte cannot reach a program (argv, environment,
// paths are C strings), so it is refused wherever it can be written.
func TestNULRefused(t *testing.T) {
	t.Parallel()
	const head = "tree:\n  name: r\n  children:\n    - name: a\n"
	cases := []struct {
		name string
		src  string
		euid int
		line int
	}{
		{"command string", head + "      command: \"x\\0y\"\n", 1000, 5},
		{"command word", head + "      command:\n        - x\n        - \"a\\x00b\"\n", 1000, 7},
		{"command via var", "vars:\n  v: \"a\\0b\"\n" + head + "      command: /bin/${v}\n", 1000, 7},
		{"process status", head + "      command: x\n      status: \"check\\0\"\n", 1000, 6},
		{"env value", head + "      command: x\n      env:\n        A: \"1\\u00002\"\n", 1000, 7},
		{"env key", head + "      command: x\n      env:\n        \"A\\0B\": 1\n", 1000, 7},
		{"dir", head + "      command: x\n      dir: \"/tmp\\0x\"\n", 1000, 6},
		{"stdout", head + "      command: x\n      stdout: \"/tmp/\\0\"\n", 1000, 6},
		{"stderr", head + "      command: x\n      stderr: \"/tmp/\\0\"\n", 1000, 6},
		{"user", head + "      command: x\n      user: \"root\\0\"\n", 0, 6},
		{"group", head + "      command: x\n      group: \"root\\0\"\n", 0, 6},
		{"service control", head + "      control: \"svc\\0\"\n", 1000, 5},
		{"service start", head + "      start: [\"x\\0\"]\n", 1000, 5},
		{"service stop", head + "      start: x\n      stop: \"x\\0\"\n", 1000, 6},
		{"service status", head + "      start: x\n      status: \"x\\0\"\n", 1000, 6},
		{"service restart", head + "      start: x\n      restart: \"x\\0\"\n", 1000, 6},
		{"service path", head + "      start: x\n      path: \"/bin\\0\"\n", 1000, 6},
		{"service pattern", head + "      start: x\n      pattern: \"x\\0\"\n", 1000, 6},
		{"pidfile", head + "      start: x\n      pidfile: \"/run/x\\0.pid\"\n", 1000, 6},
		{"state_dir", "settings:\n  state_dir: \"/var/\\0\"\n" + head + "      command: x\n", 1000, 2},
		{"include", "tree:\n  name: r\n  children:\n    - include: \"conf.d/\\0*.yaml\"\n", 1000, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadAs(t, tc.src, tc.euid)
			requireAt(t, err, ErrInvalidValue, testFile, tc.line)
			if tc.name != "env key" && !errors.Is(err, ErrNUL) {
				t.Errorf("error %q is not %v", err, ErrNUL)
			}
		})
	}
}

// TestUnknownUserGroup: as root, a user or group that does not exist is
// a config error, not a start failure found later.
func TestUnknownUserGroup(t *testing.T) {
	t.Parallel()
	const head = "tree:\n  name: r\n  children:\n    - name: a\n      command: x\n"
	cases := []struct {
		name string
		src  string
		as   error
	}{
		{"user name", head + "      user: otpsv-no-such-user\n", user.UnknownUserError("")},
		{"user id", head + "      user: '3999999999'\n", user.UnknownUserIdError(0)},
		{"group name", head + "      user: root\n      group: otpsv-no-such-group\n", user.UnknownGroupError("")},
		{"group id", head + "      group: '3999999999'\n", user.UnknownGroupIdError("")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadAs(t, tc.src, 0)
			line := strings.Count(tc.src, "\n")
			requireAt(t, err, ErrInvalidValue, testFile, line)
			switch tc.as.(type) {
			case user.UnknownUserError:
				var e user.UnknownUserError
				if !errors.As(err, &e) {
					t.Errorf("error %q is not a user.UnknownUserError", err)
				}
			case user.UnknownUserIdError:
				var e user.UnknownUserIdError
				if !errors.As(err, &e) {
					t.Errorf("error %q is not a user.UnknownUserIdError", err)
				}
			case user.UnknownGroupError:
				var e user.UnknownGroupError
				if !errors.As(err, &e) {
					t.Errorf("error %q is not a user.UnknownGroupError", err)
				}
			case user.UnknownGroupIdError:
				var e user.UnknownGroupIdError
				if !errors.As(err, &e) {
					t.Errorf("error %q is not a user.UnknownGroupIdError", err)
				}
			}
		})
	}
	c, err := loadAs(t, head+"      user: root\n      group: '0'\n", 0)
	if err != nil {
		t.Fatalf("existing user and group: %v", err)
	}
	if a := c.Tree.Children[0]; a.User != "root" || a.Group != "0" {
		t.Errorf("user, group = %q, %q, want root, 0", a.User, a.Group)
	}
}

// TestIncludedFileErrors: problems in an included file's bytes or YAML
// name that file and the line in it.
func TestIncludedFileErrors(t *testing.T) {
	t.Parallel()
	main := "tree:\n  name: r\n  children:\n    - name: a\n      command: x\n    - include: inc.yaml\n"
	cases := []struct {
		name string
		inc  string
		line int
		err  error
	}{
		{"invalid utf-8", "name: b\ncommand: \"\xff\"\n", 2, ErrSyntax},
		{"control character", "name: b\n\ncommand: \"\x02\"\n", 3, ErrSyntax},
		{"bad yaml", "name: b\ncommand: [x\n", 2, ErrSyntax},
		{"syntax on line 1", "name: b: c\n", 1, ErrSyntax},
		{"unknown alias", "name: b\ncommand: *x\n", 2, ErrSyntax},
		{"NUL", "name: b\ncommand: \"x\\0\"\n", 2, ErrNUL},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, _, err := loadDir(t, map[string]string{"otpsv.yaml": main, "inc.yaml": tc.inc})
			requireAt(t, err, tc.err, filepath.Join(dir, "inc.yaml"), tc.line)
		})
	}
	// An empty included file adds no node; it is not an error.
	if _, c, err := loadDir(t, map[string]string{"otpsv.yaml": main, "inc.yaml": ""}); err != nil || len(c.Tree.Children) != 1 {
		t.Errorf("empty include: %v", err)
	}
}

func TestPidfile(t *testing.T) {
	t.Parallel()
	dir, c, err := loadDir(t, map[string]string{
		"otpsv.yaml": `
vars:
  run: /run/shop
tree:
  name: r
  children:
    - name: abs
      start: /opt/x start
      pidfile: ${run}/x.pid
    - name: rel
      start: /opt/y start
      pidfile: run/y.pid
    - include: sub/inc.yaml
`,
		"sub/inc.yaml": "name: inc\ncontrol: /opt/z/ctl\npidfile: z.pid\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"r/abs": "/run/shop/x.pid",
		"r/rel": filepath.Join(dir, "run/y.pid"),
		"r/inc": filepath.Join(dir, "sub/z.pid"),
	} {
		if n := c.Find(path); n == nil || n.Pidfile != want {
			t.Errorf("%s: pidfile = %+v, want %q", path, n, want)
		}
	}
	var b strings.Builder
	if err := Print(&b, c); err != nil {
		t.Fatal(err)
	}
	// The pattern is not shown: the pidfile replaces it.
	if want := `  abs (service) start="/opt/x start" restart=stop+start timeout=1m pidfile="/run/shop/x.pid" expected=running`; !strings.Contains(b.String(), want+"\n") {
		t.Errorf("validate output lacks %s:\n%s", want, b.String())
	}
	n := *c.Find("r/abs")
	fp := n.Fingerprint()
	n.Pidfile = "/run/other.pid"
	if n.Fingerprint() == fp {
		t.Error("a changed pidfile leaves the fingerprint unchanged")
	}

	const head = "tree:\n  name: r\n  children:\n    - name: a\n"
	for _, tc := range []struct {
		name string
		src  string
		line int
		err  error
	}{
		{"on a process worker", head + "      command: x\n      pidfile: /run/a.pid\n", 6, ErrUnknownKey},
		{"on a supervisor", "tree:\n  name: r\n  pidfile: /run/a.pid\n  children: [{name: a, command: x}]\n", 3, ErrUnknownKey},
		{"empty", head + "      start: x\n      pidfile: ''\n", 6, ErrInvalidValue},
		{"not a string", head + "      start: x\n      pidfile: [a]\n", 6, ErrType},
	} {
		_, err := loadAs(t, tc.src, 1000)
		t.Run(tc.name, func(t *testing.T) { requireAt(t, err, tc.err, testFile, tc.line) })
	}
}

// TestAliasReuse: the same aliased node under two supervisors is not a
// cycle.
func TestAliasReuse(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, `
tree:
  name: r
  children:
    - name: g1
      children:
        - &w
          name: w
          command: x
    - name: g2
      children: [*w]
`)
	if c.Find("r/g1/w") == nil || c.Find("r/g2/w") == nil {
		t.Errorf("tree = %v, want w under g1 and g2", names(c))
	}
}
