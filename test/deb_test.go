package test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// The files `make install` puts under PREFIX, and `make uninstall` takes away.
var installed = []string{
	"bin/otpsv",
	"share/man/man1/otpsv.1",
	"share/bash-completion/completions/otpsv",
	"share/zsh/site-functions/_otpsv",
	"share/fish/vendor_completions.d/otpsv.fish",
}

// makeIn runs make in the module root with the generated files and the
// binary redirected to dir, so that tests neither touch the checkout's
// bin/, man/ and dist/ nor each other's.
func makeIn(t *testing.T, ctx context.Context, dir string, args ...string) string {
	t.Helper()
	args = append([]string{"-C", "..",
		"BIN=" + filepath.Join(dir, "gen", "otpsv"),
		"MAN=" + filepath.Join(dir, "gen", "man", "otpsv.1"),
		"COMPDIR=" + filepath.Join(dir, "gen", "completion"),
		"DEBDIR=" + filepath.Join(dir, "gen", "deb"),
		"DIST=" + filepath.Join(dir, "dist"),
	}, args...)
	cmd := exec.CommandContext(ctx, "make", args...)
	cmd.Env = testEnv()
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("make %v: not done in time:\n%s", args, out)
	}
	if err != nil {
		t.Fatalf("make %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// regularFiles lists the files (everything but directories) under root,
// relative to it.
func regularFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		out = append(out, rel)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestInstall: `make install DESTDIR=... PREFIX=/usr` installs exactly the
// binary, the man page and the three completions; the man page is valid
// roff; `make uninstall` removes them all.
func TestInstall(t *testing.T) {
	begin(t)
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	dest := filepath.Join(tmp, "dest")
	makeIn(t, ctx, tmp, "install", "DESTDIR="+dest, "PREFIX=/usr")

	var want []string
	for _, f := range installed {
		want = append(want, filepath.Join("usr", f))
	}
	slices.Sort(want)
	if got := regularFiles(t, dest); !slices.Equal(got, want) {
		t.Errorf("make install put\n  %v\nwant exactly\n  %v", got, want)
	}
	if st, err := os.Stat(filepath.Join(dest, "usr/bin/otpsv")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("usr/bin/otpsv: %v, %v; want mode 0755", st, err)
	}
	man := filepath.Join(dest, "usr/share/man/man1/otpsv.1")
	page := readFile(t, man)
	for _, want := range []string{".TH otpsv 1", ".SH NAME", "daemon", "completion", ".SH EXIT STATUS"} {
		if !strings.Contains(page, want) {
			t.Errorf("man page lacks %q", want)
		}
	}
	if strings.Contains(page, "log-writer") || strings.Contains(page, "\n.SH man\n") {
		t.Error("man page shows hidden verbs")
	}
	if _, err := exec.LookPath("groff"); err == nil {
		// -ww: every warning; -z: no output. Warnings go to stderr.
		out, err := exec.CommandContext(ctx, "groff", "-man", "-ww", "-z", man).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("groff -man -ww: %v\n%s", err, out)
		}
	}

	makeIn(t, ctx, tmp, "uninstall", "DESTDIR="+dest, "PREFIX=/usr")
	if got := regularFiles(t, dest); len(got) > 0 {
		t.Errorf("make uninstall left %v", got)
	}
}

// TestCompletion: `otpsv completion bash|zsh|fish` prints scripts the
// shells accept, and the bash script completes verbs, flags and node
// paths by asking otpsv, and never runs a verb.
func TestCompletion(t *testing.T) {
	begin(t)
	dir := t.TempDir()
	checkers := map[string][]string{"bash": {"bash", "-n"}, "zsh": {"zsh", "-n"}, "fish": {"fish", "--no-execute"}}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		r := otpsv(t, dir, "completion", sh)
		if r.code != 0 || !strings.Contains(r.stdout, "otpsv") {
			t.Errorf("completion %s: exit %d, stdout %q, stderr %q", sh, r.code, r.stdout, r.stderr)
			continue
		}
		script := filepath.Join(dir, "otpsv."+sh)
		if err := os.WriteFile(script, []byte(r.stdout), 0o644); err != nil {
			t.Fatal(err)
		}
		check := checkers[sh]
		if _, err := exec.LookPath(check[0]); err != nil {
			t.Logf("%s not installed: syntax of the %s script not checked", check[0], sh)
			continue
		}
		if out, err := exec.Command(check[0], append(check[1:], script)...).CombinedOutput(); err != nil {
			t.Errorf("%s %s: %v\n%s", strings.Join(check, " "), script, err, out)
		}
	}
	for _, args := range [][]string{{"completion"}, {"completion", "tcsh"}} {
		if r := otpsv(t, dir, args...); r.code != 2 {
			t.Errorf("otpsv %v: exit %d, want 2 (usage)", args, r.code)
		}
	}

	cfg := filepath.Join(dir, "otpsv.yaml")
	if err := os.WriteFile(cfg, []byte(`tree:
  name: site
  children:
    - name: web
      command: sleep 3600
    - name: backend
      children:
        - name: db
          command: sleep 3600
`), 0o644); err != nil {
		t.Fatal(err)
	}
	// complete runs _otpsv on a command line, the last word being the one
	// completed, as bash would on TAB; the answers one a line.
	complete := func(words ...string) []string {
		t.Helper()
		prog := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _otpsv; printf '%s\n' "${COMPREPLY[@]}"`
		args := append([]string{"-c", prog, "bash", filepath.Join(dir, "otpsv.bash"), otpsvBin}, words...)
		cmd := exec.Command("bash", args...)
		cmd.Dir = dir
		cmd.Env = testEnv()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("completing %q: %v", words, err)
		}
		return strings.Fields(string(out))
	}
	for _, tc := range []struct {
		words []string
		want  []string
	}{
		{[]string{"st"}, []string{"status", "start", "stop"}},
		{[]string{"comp"}, []string{"completion"}},
		{[]string{"completion", ""}, []string{"bash", "zsh", "fish"}},
		{[]string{"status", "--st"}, []string{"--state-dir"}},
		{[]string{"why", "-c", cfg, "site/b"}, []string{"site/backend", "site/backend/db"}},
		{[]string{"stop", "-c", cfg, ""}, []string{"site", "site/web", "site/backend", "site/backend/db"}},
		// A PATH given: nothing more; a config that does not load: nothing.
		{[]string{"stop", "-c", cfg, "site/web", ""}, nil},
		{[]string{"stop", "-c", filepath.Join(dir, "missing.yaml"), ""}, nil},
		// After --, urfave/cli would run the verb: the script must not ask.
		{[]string{"daemon", "-c", cfg, "--", ""}, nil},
	} {
		if got := complete(tc.words...); !slices.Equal(got, tc.want) {
			t.Errorf("completing %q = %q, want %q", tc.words, got, tc.want)
		}
	}
	// Had the last case started a daemon, its state would be here.
	if _, err := os.Stat(filepath.Join(dir, "otpsv.sock")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("completion after -- started something: %v", err)
	}
}

// TestDeb builds the Debian package with `make deb`, installs it into this
// machine with dpkg -i, runs the installed otpsv, and removes it with
// dpkg -r, which must leave nothing behind. It needs root and dpkg, and
// skips where an otpsv package or /usr/bin/otpsv already exists.
func TestDeb(t *testing.T) {
	begin(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root: installs the package into this machine")
	}
	for _, tool := range []string{"dpkg", "dpkg-deb", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	if exec.Command("dpkg", "-s", "otpsv").Run() == nil {
		t.Skip("an otpsv package is known to dpkg here; not touching it")
	}
	if _, err := os.Lstat("/usr/bin/otpsv"); err == nil {
		t.Skip("/usr/bin/otpsv exists; not touching it")
	}
	// The first run builds nfpm (about 80 s on the 2-vCPU VM).
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return string(out)
	}

	tmp := t.TempDir()
	start := time.Now()
	makeIn(t, ctx, tmp, "deb")
	t.Logf("make deb: %v", time.Since(start).Round(time.Second))
	debs, _ := filepath.Glob(filepath.Join(tmp, "dist", "*.deb"))
	if len(debs) != 1 {
		t.Fatalf("make deb made %v, want one .deb", debs)
	}
	deb := debs[0]
	arch := strings.TrimSpace(run("dpkg", "--print-architecture"))
	m := regexp.MustCompile(`^otpsv_([0-9][A-Za-z0-9.+~]*)_([a-z0-9]+)\.deb$`).FindStringSubmatch(filepath.Base(deb))
	if m == nil || m[2] != arch {
		t.Errorf("package file %s, want otpsv_<version>_%s.deb", filepath.Base(deb), arch)
	}

	// What existed before the install may stay after the removal if it
	// is a directory (/usr/bin, say); nothing else may.
	existed := map[string]bool{}
	for _, line := range strings.Split(run("dpkg-deb", "-c", deb), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		p := strings.TrimSuffix(strings.TrimPrefix(f[len(f)-1], "."), "/")
		if _, err := os.Lstat(p); p != "" && err == nil {
			existed[p] = true
		}
	}

	t.Cleanup(func() {
		// Whatever happened above, the machine gets no otpsv to keep.
		if out, err := exec.Command("dpkg", "--purge", "otpsv").CombinedOutput(); err != nil {
			t.Errorf("cleanup: dpkg --purge otpsv: %v\n%s", err, out)
		}
	})
	// Slim images exclude /usr/share/doc and man pages from dpkg; the
	// test needs the examples.
	run("dpkg", "--path-include=/usr/share/doc/otpsv/*", "-i", deb)

	var listed []string
	for _, p := range strings.Split(strings.TrimSpace(run("dpkg", "-L", "otpsv")), "\n") {
		if p != "/." {
			listed = append(listed, p)
		}
	}
	for _, want := range []string{
		"/usr/bin/otpsv",
		"/usr/share/man/man1/otpsv.1.gz",
		"/usr/share/bash-completion/completions/otpsv",
		"/usr/share/zsh/vendor-completions/_otpsv",
		"/usr/share/fish/vendor_completions.d/otpsv.fish",
		"/lib/systemd/system/otpsv.service",
		"/usr/lib/systemd/user/otpsv.service",
		"/usr/share/doc/otpsv/examples/demo.yaml",
		"/usr/share/doc/otpsv/examples/container.yaml",
		"/etc/otpsv",
	} {
		if !slices.Contains(listed, want) {
			t.Errorf("dpkg -L otpsv lacks %s", want)
		}
	}
	if st, err := os.Stat("/etc/otpsv"); err != nil || !st.IsDir() {
		t.Errorf("/etc/otpsv after install: %v, %v; want a directory", st, err)
	} else if ents, _ := os.ReadDir("/etc/otpsv"); len(ents) > 0 {
		t.Errorf("/etc/otpsv holds %v; the package ships no config (it would be a conffile)", ents)
	}
	if conf := run("dpkg-query", "-W", "-f=${Conffiles}", "otpsv"); strings.TrimSpace(conf) != "" {
		t.Errorf("conffiles %q: dpkg -r would leave them behind", conf)
	}

	if out := run("/usr/bin/otpsv", "version"); !strings.HasPrefix(out, "otpsv ") {
		t.Errorf("otpsv version = %q", out)
	}
	for _, ex := range []string{"demo.yaml", "container.yaml"} {
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, "/usr/bin/otpsv", "validate", "-c", "/usr/share/doc/otpsv/examples/"+ex)
		cmd.Env = testEnv()
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Errorf("otpsv validate %s: %v\n%s", ex, err, stderr.String())
		}
	}

	run("dpkg", "-r", "otpsv")
	for _, p := range listed {
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		// Stat, not Lstat: with a merged /usr, /lib is a link to usr/lib.
		st, err := os.Stat(p)
		if err == nil && st.IsDir() && existed[p] {
			continue
		}
		t.Errorf("after dpkg -r: %s is still there (%v)", p, err)
	}
	out, err := exec.Command("dpkg", "-s", "otpsv").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not installed") {
		t.Errorf("dpkg -s otpsv after dpkg -r: %v\n%s", err, out)
	}
	if left, _ := filepath.Glob("/var/lib/dpkg/info/otpsv.*"); len(left) > 0 {
		t.Errorf("dpkg keeps %v after dpkg -r", left)
	}
	t.Logf("make deb, install, remove: %v", time.Since(start).Round(time.Second))
}
