package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFile writes content to dir/name, creating directories, and
// returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// names lists the paths of every node under c, in Walk order.
func names(c *Config) []string {
	var out []string
	_ = c.Tree.Walk(func(n *Node) error {
		out = append(out, n.Path)
		return nil
	})
	return out
}

func loadDir(t *testing.T, files map[string]string) (string, *Config, error) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		writeFile(t, dir, name, content)
	}
	c, err := load(strings.NewReader(files["otpsv.yaml"]), filepath.Join(dir, "otpsv.yaml"), 1000)
	return dir, c, err
}

func TestIncludes(t *testing.T) {
	t.Parallel()
	dir, c, err := loadDir(t, map[string]string{
		"otpsv.yaml": `
vars:
  base: /opt
  sub: conf.d
tree:
  name: site
  children:
    - name: first
      command: x
    - include: ${sub}/*.yaml
    - name: grp
      vars: {base: /srv, extra: lib}
      children:
        - include: grp.d/one.yaml
    - include: empty.d/*.yaml
    - include: blank.yaml
    - name: last
      command: x
`,
		// Lexical order: 10-b before 2-a; a single node and a list.
		"conf.d/2-a.yaml":   "name: a\ncommand: ${base}/a\n",
		"conf.d/10-b.yaml":  "- name: b1\n  command: ${base}/b1\n- name: b2\n  command: x\n- include: ../more/*.yaml\n",
		"conf.d/dir.yaml/x": "a directory matched by the glob is skipped",
		"conf.d/notes.txt":  "not matched",
		"more/m.yaml":       "name: m\nvars: {base: /m}\ncommand: ${base}/m\n",
		"grp.d/one.yaml":    "name: one\ncommand: [\"${base}/one\", \"${extra}\"]\nstdout: out.log\n",
		"blank.yaml":        "",
		"empty.d/.keep":     "",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"site", "site/first", "site/b1", "site/b2", "site/m", "site/a", "site/grp", "site/grp/one", "site/last"}
	if got := names(c); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("nodes = %q, want %q", got, want)
	}
	for path, cmd := range map[string]string{
		"site/a": "/opt/a", "site/b1": "/opt/b1", "site/m": "/m/m", "site/grp/one": "/srv/one lib",
	} {
		if got := strings.Join(c.Find(path).Command, " "); got != cmd {
			t.Errorf("%s command = %q, want %q", path, got, cmd)
		}
	}
	a := c.Find("site/a")
	if a.File != filepath.Join(dir, "conf.d/2-a.yaml") || a.Line != 1 {
		t.Errorf("a defined at %s:%d", a.File, a.Line)
	}
	b2 := c.Find("site/b2")
	if b2.File != filepath.Join(dir, "conf.d/10-b.yaml") || b2.Line != 3 {
		t.Errorf("b2 defined at %s:%d", b2.File, b2.Line)
	}
	// Relative paths in an included file are relative to that file.
	if got, want := c.Find("site/grp/one").Stdout.Path, filepath.Join(dir, "grp.d/out.log"); got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
}

func TestIncludeOnlyEmptyGlob(t *testing.T) {
	t.Parallel()
	_, c, err := loadDir(t, map[string]string{
		"otpsv.yaml": "tree:\n  name: r\n  children:\n    - include: conf.d/*.yaml\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Tree.Children) != 0 || c.Tree.Type != Supervisor {
		t.Errorf("root = %+v, want a supervisor without children", c.Tree)
	}
}

func TestIncludeErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		files map[string]string
		err   error
		at    string // file relative to the temp dir, then ":LINE"
		msg   string
	}{
		{
			name:  "missing literal",
			files: map[string]string{"otpsv.yaml": "tree:\n  name: r\n  children:\n    - include: nope.yaml\n"},
			err:   fs.ErrNotExist, at: "otpsv.yaml:4: r: include", msg: "nope.yaml: file does not exist",
		},
		{
			name: "cycle",
			files: map[string]string{
				"otpsv.yaml": "tree:\n  name: r\n  children:\n    - include: a.yaml\n",
				"a.yaml":     "- name: a\n  command: x\n- include: sub/b.yaml\n",
				"sub/b.yaml": "- include: ../a.yaml\n",
			},
			err: ErrIncludeCycle, at: "sub/b.yaml:1: r: include", msg: "DIR/a.yaml -> DIR/sub/b.yaml -> DIR/a.yaml",
		},
		{
			name: "self include",
			files: map[string]string{
				"otpsv.yaml": "tree:\n  name: r\n  children:\n    - name: a\n      command: x\n    - include: otpsv.yaml\n",
			},
			err: ErrIncludeCycle, at: "otpsv.yaml:6: r: include", msg: "DIR/otpsv.yaml -> DIR/otpsv.yaml",
		},
		{
			name: "error in included file",
			files: map[string]string{
				"otpsv.yaml":    "tree:\n  name: r\n  children:\n    - name: a\n      command: x\n    - include: conf.d/*.yaml\n",
				"conf.d/x.yaml": "name: x\ncommand: x\n\nstop_signal: WHAT\n",
			},
			err: ErrInvalidValue, at: "conf.d/x.yaml:4: r/x: stop_signal", msg: `"WHAT"`,
		},
		{
			name: "syntax in included file",
			files: map[string]string{
				"otpsv.yaml":    "tree:\n  name: r\n  children:\n    - name: a\n      command: x\n    - include: conf.d/*.yaml\n",
				"conf.d/x.yaml": "name: x\ncommand: [x\n",
			},
			err: ErrSyntax, at: "conf.d/x.yaml:", msg: "invalid yaml",
		},
		{
			name: "duplicate across files",
			files: map[string]string{
				"otpsv.yaml":    "tree:\n  name: r\n  children:\n    - name: a\n      command: x\n    - include: conf.d/*.yaml\n",
				"conf.d/x.yaml": "# comment\nname: a\ncommand: x\n",
			},
			err: ErrDuplicateName, at: "conf.d/x.yaml:2: r/a", msg: "first at DIR/otpsv.yaml:4",
		},
		{
			name: "undefined var in included file",
			files: map[string]string{
				"otpsv.yaml":    "tree:\n  name: r\n  children:\n    - name: g\n      vars: {x: 1}\n      children: [{name: a, command: x}]\n    - include: conf.d/*.yaml\n",
				"conf.d/x.yaml": "name: b\ncommand: ${x}\n",
			},
			err: ErrUndefinedVar, at: "conf.d/x.yaml:2: r/b: command", msg: "${x}",
		},
		{
			name: "undefined var in include pattern",
			files: map[string]string{
				"otpsv.yaml": "tree:\n  name: r\n  children:\n    - include: ${dir}/*.yaml\n",
			},
			err: ErrUndefinedVar, at: "otpsv.yaml:4: r: include", msg: "${dir}",
		},
		{
			name: "bad glob",
			files: map[string]string{
				"otpsv.yaml": "tree:\n  name: r\n  children:\n    - include: \"conf.d/[\"\n",
			},
			err: filepath.ErrBadPattern, at: "otpsv.yaml:4: r: include", msg: "bad pattern",
		},
		{
			name: "included file not a node",
			files: map[string]string{
				"otpsv.yaml": "tree:\n  name: r\n  children:\n    - include: x.yaml\n",
				"x.yaml":     "just text\n",
			},
			err: ErrType, at: "x.yaml:1: r/x.yaml", msg: "want a mapping",
		},
		{
			name: "literal directory",
			files: map[string]string{
				"otpsv.yaml":    "tree:\n  name: r\n  children:\n    - include: conf.d\n",
				"conf.d/a.yaml": "name: a\ncommand: x\n",
			},
			err: ErrInvalidValue, at: "otpsv.yaml:4: r: include", msg: "is a directory",
		},
		{
			name: "include not a string",
			files: map[string]string{
				"otpsv.yaml": "tree:\n  name: r\n  children:\n    - include: [a, b]\n",
			},
			err: ErrType, at: "otpsv.yaml:4: r: include", msg: "want a string",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, _, err := loadDir(t, tc.files)
			if !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
			fe := fieldErrors(t, err)
			if len(fe) != 1 {
				t.Errorf("got %d errors, want 1: %v", len(fe), err)
			}
			prefix := filepath.Join(dir, tc.at)
			msg := strings.ReplaceAll(tc.msg, "DIR", dir)
			if got := err.Error(); !strings.HasPrefix(got, prefix) || !strings.Contains(got, msg) {
				t.Errorf("error = %q, want prefix %q and %q", got, prefix, msg)
			}
		})
	}
}
