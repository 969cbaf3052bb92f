package test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateStrictInput: input the YAML library itself refuses, a NUL
// byte that no program could receive, and a user that does not exist
// make `otpsv validate` exit 2 naming the file and line, as root and as
// an ordinary user.
func TestValidateStrictInput(t *testing.T) {
	begin(t)
	const head = "tree:\n  name: site\n  children:\n    - name: a\n"
	for _, tc := range []struct {
		name  string
		files map[string]string // main.yaml is the config
		where string            // file:line: in stderr
	}{
		{"empty file", map[string]string{"main.yaml": ""}, "main.yaml:1:"},
		{"invalid utf-8", map[string]string{"main.yaml": head + "      command: \"/bin/\xff\"\n"}, "main.yaml:5:"},
		{"control character", map[string]string{"main.yaml": head + "      command: /bin/\x1b\n"}, "main.yaml:5:"},
		{"unknown alias", map[string]string{"main.yaml": head + "      command: *cmd\n"}, "main.yaml:5:"},
		{"syntax error on line 1", map[string]string{"main.yaml": "tree: a: b\n"}, "main.yaml:1:"},
		{"alias inside itself", map[string]string{"main.yaml": "tree: &t\n  name: site\n  children:\n    - *t\n"}, "main.yaml:4:"},
		{"NUL in a command", map[string]string{"main.yaml": head + "      command: \"/bin/sleep\\0 1\"\n"}, "main.yaml:5:"},
		{"NUL in a command word", map[string]string{"main.yaml": head + "      command: [/bin/sleep, \"1\\x00\"]\n"}, "main.yaml:5:"},
		{"NUL in a service command", map[string]string{"main.yaml": head + "      start: /bin/true\n      stop: \"/bin/kill\\0\"\n"}, "main.yaml:6:"},
		{"NUL in env", map[string]string{"main.yaml": head + "      command: /bin/true\n      env: {A: \"\\0\"}\n"}, "main.yaml:6:"},
		{"unknown user", map[string]string{"main.yaml": head + "      command: /bin/true\n      user: otpsv-no-such-user\n"}, "main.yaml:6:"},
		{"unknown group", map[string]string{"main.yaml": head + "      command: /bin/true\n      group: otpsv-no-such-group\n"}, "main.yaml:6:"},
		{"pidfile on a process worker", map[string]string{"main.yaml": head + "      command: /bin/true\n      pidfile: /run/a.pid\n"}, "main.yaml:6:"},
		{"included file bad yaml", map[string]string{"main.yaml": head + "      command: /bin/true\n    - include: inc.yaml\n", "inc.yaml": "name: b\ncommand: [x\n"}, "inc.yaml:2:"},
		{"included file invalid utf-8", map[string]string{"main.yaml": head + "      command: /bin/true\n    - include: inc.yaml\n", "inc.yaml": "name: b\n\ncommand: \xc3\n"}, "inc.yaml:3:"},
		{"included file unknown alias", map[string]string{"main.yaml": head + "      command: /bin/true\n    - include: inc.yaml\n", "inc.yaml": "name: b\ncommand: *c\n"}, "inc.yaml:2:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := openDir(t)
			for name, content := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cfg := filepath.Join(dir, "main.yaml")
			check := func(who string, r result) {
				t.Helper()
				if r.code != 2 {
					t.Errorf("validate %s: exit %d, want 2; stdout %q; stderr %q", who, r.code, r.stdout, r.stderr)
				}
				if !strings.Contains(r.stderr, filepath.Join(dir, tc.where)) {
					t.Errorf("validate %s: stderr %q does not name %s", who, r.stderr, tc.where)
				}
			}
			check("as "+whoami(), otpsv(t, dir, "validate", "-c", cfg))
			if r, ok := validateAsNobody(t, dir, cfg); ok {
				check("as uid 65534", r)
			}
		})
	}
}

// TestValidatePidfile: validate shows a service's pidfile, made absolute
// from the directory of the file that holds it.
func TestValidatePidfile(t *testing.T) {
	begin(t)
	dir := openDir(t)
	cfg := filepath.Join(dir, "main.yaml")
	src := "tree:\n  name: site\n  children:\n    - name: svc\n      start: /bin/true\n      pidfile: run/svc.pid\n"
	if err := os.WriteFile(cfg, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	want := `pidfile="` + filepath.Join(dir, "run/svc.pid") + `"`
	r := otpsv(t, dir, "validate", "-c", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Errorf("validate: exit %d, stdout %q, want 0 and %s; stderr %q", r.code, r.stdout, want, r.stderr)
	}
	if r, ok := validateAsNobody(t, dir, cfg); ok && (r.code != 0 || !strings.Contains(r.stdout, want)) {
		t.Errorf("validate as uid 65534: exit %d, stdout %q, want 0 and %s; stderr %q", r.code, r.stdout, want, r.stderr)
	}
}

// openDir is a temporary directory every user can read, so that an
// unprivileged otpsv reads the configs in it.
func openDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "otpsv-config-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func whoami() string {
	if os.Geteuid() == 0 {
		return "root"
	}
	return "an ordinary user"
}

// validateAsNobody runs `otpsv validate -c cfg` as uid and gid 65534;
// false when this test cannot change users (not root, no setpriv).
func validateAsNobody(t *testing.T, dir, cfg string) (result, bool) {
	t.Helper()
	setpriv, err := exec.LookPath("setpriv")
	if os.Geteuid() != 0 || err != nil {
		t.Log("validate as uid 65534 skipped: needs root and setpriv")
		return result{}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandGuard)
	defer cancel()
	cmd := exec.CommandContext(ctx, setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", otpsvBin, "validate", "-c", cfg)
	cmd.Dir = dir
	cmd.Env = testEnv()
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("validate as uid 65534: no exit within %v", commandGuard)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("validate as uid 65534: %v", err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}, true
}
