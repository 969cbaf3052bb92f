package test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestWorkerOutput: a worker's stdout and stderr go by default to
// state_dir/logs/<path with / replaced by _>.log; "stdout: FILE" appends to
// FILE (across restarts too); "discard" keeps nothing.
func TestWorkerOutput(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	outFile := ws.file("out/tofile.out", "preexisting line\n")
	errFile := filepath.Join(ws.dir, "out", "tofile.err")
	d := ws.startDaemon(ws.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: dflt
      command: %s
    - name: sub
      children:
        - name: nested
          command: %s
    - name: tofile
      stdout: %s
      stderr: %s
      command: %s
    - name: quiet
      stdout: discard
      stderr: discard
      command: %s
`, ws.cmd("dflt", "-log-line", "hello-default"), ws.cmd("nested", "-log-line", "hello-nested"),
		strconv.Quote(outFile), strconv.Quote(errFile), ws.cmd("tofile", "-log-line", "hello-file"),
		ws.cmd("quiet", "-log-line", "hello-discard"))))
	waitFor(t, d.events, is("tree started"))
	// The fixture prints before it writes its ready line.
	for _, n := range []string{"dflt", "nested", "quiet"} {
		d.waitReady(n, 1)
	}
	tofile := d.waitReady("tofile", 1)

	logs := filepath.Join(ws.stateDir, "logs")
	for file, text := range map[string]string{"site_dflt.log": "hello-default", "site_sub_nested.log": "hello-nested"} {
		got := readFile(t, filepath.Join(logs, file))
		for _, want := range []string{"out: " + text, "err: " + text} {
			if !strings.Contains(got, want) {
				t.Errorf("%s = %q, want it to contain %q", file, got, want)
			}
		}
	}
	if got, want := readFile(t, outFile), "preexisting line\nout: hello-file\n"; got != want {
		t.Errorf("stdout file = %q, want %q", got, want)
	}
	if got, want := readFile(t, errFile), "err: hello-file\n"; got != want {
		t.Errorf("stderr file = %q, want %q", got, want)
	}

	// A restarted worker appends to the same file.
	killChild(t, d, tofile, []string{"tofile"})
	d.waitReady("tofile", 2)
	if got, want := readFile(t, outFile), "preexisting line\nout: hello-file\nout: hello-file\n"; got != want {
		t.Errorf("stdout file after a restart = %q, want %q", got, want)
	}
	d.stop()

	// discard: the text is nowhere in the workspace.
	err := filepath.WalkDir(ws.dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		if data, err := os.ReadFile(p); err == nil && (strings.Contains(string(data), "out: hello-discard") || strings.Contains(string(data), "err: hello-discard")) {
			t.Errorf("%s contains the output of a discarded worker", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ws.requireAllDead()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestConfigErrors: a bad config makes validate and daemon exit 2 with an
// error naming the file and line, and nothing starts.
func TestConfigErrors(t *testing.T) {
	begin(t)
	for _, tc := range []struct {
		name  string
		files map[string]string // the first listed in main is the config
		main  string
		where []string // one of these file:line must be in stderr
	}{
		{
			name: "unknown key",
			main: "bad.yaml",
			files: map[string]string{"bad.yaml": `tree:
  name: site
  children:
    - name: a
      command: CMD
      bogus: 1
`},
			where: []string{"bad.yaml:6"},
		},
		{
			name: "include cycle",
			main: "c1.yaml",
			files: map[string]string{
				"c1.yaml": `tree:
  name: site
  children:
    - name: a
      command: CMD
    - include: c2.yaml
`,
				"c2.yaml": `- name: x
  children:
    - include: c1.yaml
`},
			where: []string{"c1.yaml:6", "c2.yaml:3"},
		},
		{
			name: "unknown strategy",
			main: "s.yaml",
			files: map[string]string{"s.yaml": `tree:
  name: site
  strategy: one_for_some
  children:
    - name: a
      command: CMD
`},
			where: []string{"s.yaml:3"},
		},
		{
			name: "duplicate sibling",
			main: "d.yaml",
			files: map[string]string{"d.yaml": `tree:
  name: site
  children:
    - name: a
      command: CMD
    - name: a
      command: CMD
`},
			where: []string{"d.yaml:6"},
		},
		{
			name: "undefined variable",
			main: "v.yaml",
			files: map[string]string{"v.yaml": `tree:
  name: site
  children:
    - name: a
      command: CMD
    - name: b
      command: ["${nowhere}/bin/b"]
`},
			where: []string{"v.yaml:7"},
		},
		{
			name: "unknown signal",
			main: "g.yaml",
			files: map[string]string{"g.yaml": `tree:
  name: site
  children:
    - name: a
      command: CMD
      stop_signal: SIGWHAT
`},
			where: []string{"g.yaml:6"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ws := newWorkspace(t)
			var cfg string
			for name, content := range tc.files {
				content = strings.ReplaceAll(content, "CMD", ws.cmd("a"))
				p := ws.file(name, content)
				if name == tc.main {
					cfg = p
				}
			}
			for _, verb := range [][]string{
				{"validate", "-c", cfg},
				{"daemon", "--log-format", "json", "--state-dir", ws.stateDir, "-c", cfg},
			} {
				r := otpsv(t, ws.dir, verb...)
				if r.code != 2 {
					t.Errorf("otpsv %s: exit status %d, want 2; stderr:\n%s", verb[0], r.code, r.stderr)
				}
				found := false
				for _, w := range tc.where {
					found = found || strings.Contains(r.stderr, w)
				}
				if !found {
					t.Errorf("otpsv %s: stderr %q names none of %v", verb[0], r.stderr, tc.where)
				}
			}
			if lines, _ := parseReady(ws.ready); len(lines) > 0 {
				t.Errorf("workers started from a bad config: %v", lines)
			}
		})
	}
}

// TestSecondDaemonSameStateDir: a second daemon on the same state_dir
// exits 75 naming the first one's pid, and leaves the first alone.
func TestSecondDaemonSameStateDir(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	cfg := ws.config(fmt.Sprintf(`tree:
  name: site
  children:
    - name: a
      command: %s
`, ws.cmd("a")))
	first := ws.startDaemon(cfg)
	started := waitFor(t, first.events, is("daemon started"))
	if started.num("pid") != first.pid() {
		t.Errorf(`"daemon started" pid %d, want %d`, started.num("pid"), first.pid())
	}
	a := first.waitReady("a", 1)

	r := otpsv(t, ws.dir, "daemon", "--log-format", "json", "-c", cfg)
	if r.code != 75 {
		t.Errorf("second daemon: exit status %d, want 75; stderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, strconv.Itoa(first.pid())) {
		t.Errorf("second daemon's stderr %q does not name the first's pid %d", r.stderr, first.pid())
	}
	if n := len(ws.runs("a")); n != 1 {
		t.Errorf("a started %d times, want 1 (the second daemon started workers)", n)
	}
	requireAlive(t, a.pid, "the first daemon's worker a")
	if first.exited() {
		t.Fatal("the first daemon exited")
	}
	first.stop()
	ws.requireAllDead()
}

// TestVersion: one line on stdout, exit 0.
func TestVersion(t *testing.T) {
	begin(t)
	r := otpsv(t, t.TempDir(), "version")
	if r.code != 0 {
		t.Fatalf("exit status %d, want 0; stderr: %s", r.code, r.stderr)
	}
	if lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n"); len(lines) != 1 || strings.TrimSpace(lines[0]) == "" || !strings.HasSuffix(r.stdout, "\n") {
		t.Errorf("stdout %q, want one non-empty line", r.stdout)
	}
}
