package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFindTagParser(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("v", 5000)
	tests := []struct {
		name, environ string
		want          string
		found         bool
	}{
		{name: "first", environ: "OTPSV_NODE=i/a\x00A=1\x00", want: "i/a", found: true},
		{name: "middle", environ: "A=1\x00OTPSV_NODE=i/a\x00B=2\x00", want: "i/a", found: true},
		{name: "last, no final NUL", environ: "A=1\x00OTPSV_NODE=i/a", want: "i/a", found: true},
		{name: "empty value", environ: "A=1\x00OTPSV_NODE=\x00B=2\x00", want: "", found: true},
		{name: "value with = and /", environ: "OTPSV_NODE=i/a=b/c\x00", want: "i/a=b/c", found: true},
		{name: "first of two", environ: "OTPSV_NODE=i/a\x00OTPSV_NODE=i/b\x00", want: "i/a", found: true},
		{name: "inside another value", environ: "A=OTPSV_NODE=i/x\x00B=1\x00", found: false},
		{name: "inside, then real", environ: "A=xOTPSV_NODE=i/x\x00OTPSV_NODE=i/a\x00", want: "i/a", found: true},
		{name: "longer name", environ: "XOTPSV_NODE=i/x\x00OTPSV_NODES=1\x00", found: false},
		{name: "long value", environ: "A=" + long + "\x00OTPSV_NODE=" + long + "\x00", want: long, found: true},
		{name: "after a long entry", environ: "A=" + long + "OTPSV_NODE=x\x00OTPSV_NODE=i/a\x00", want: "i/a", found: true},
		{name: "none", environ: "A=1\x00B=2\x00", found: false},
		{name: "empty", environ: "", found: false},
	}
	for _, tt := range tests {
		// Every buffer size, so that every entry is cut at every place
		// by the end of a read.
		for size := 1; size <= 40; size++ {
			rest := tt.environ
			read := func(b []byte) (int, error) {
				n := copy(b, rest)
				rest = rest[n:]
				return n, nil
			}
			buf := make([]byte, size)
			got, found, err := findTag(&buf, read)
			if err != nil || got != tt.want || found != tt.found {
				t.Errorf("%s, buffer %d: got %.20q, %v, %v; want %.20q, %v", tt.name, size, got, found, err, tt.want, tt.found)
			}
		}
	}
	// A large enough buffer takes one read, and stops at the tag.
	buf := make([]byte, 64)
	rest := "OTPSV_NODE=i/a\x00" + long
	reads := 0
	if got, found, _ := findTag(&buf, func(b []byte) (int, error) {
		reads++
		n := copy(b, rest)
		rest = rest[n:]
		return n, nil
	}); got != "i/a" || !found || reads != 1 {
		t.Errorf("got %q, %v after %d reads; want i/a after 1", got, found, reads)
	}
	readErr := errors.New("read error")
	if _, found, err := findTag(&buf, func([]byte) (int, error) { return 0, readErr }); found || !errors.Is(err, readErr) {
		t.Errorf("got %v, %v; want the read error", found, err)
	}
}

// environOf returns pid's environment as its /proc file gives it.
func environOf(t *testing.T, pid int) []string {
	t.Helper()
	// Start returns once the child has released otpsv's memory (vfork),
	// which is before the kernel has set up the new program's
	// environment: for a few microseconds /proc/PID/environ reads empty.
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 || time.Now().After(deadline) {
			return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		}
		time.Sleep(time.Millisecond) // poll interval
	}
}

func TestStartTag(t *testing.T) {
	t.Setenv(TagVar, "inherited/x") // an otpsv run as another's worker
	tests := []struct {
		name string
		env  []string
		tag  string
		want []string // the environment, in order; nil: os.Environ()
	}{
		{name: "own environment", tag: "i/a"},
		{name: "configured", env: []string{"A=1", "B=2"}, tag: "i/a", want: []string{TagVar + "=i/a", "A=1", "B=2"}},
		{name: "replaces", env: []string{"A=1", TagVar + "=old", "B=2", TagVar + "=older"}, tag: "i/a",
			want: []string{TagVar + "=i/a", "A=1", "B=2"}},
		{name: "no tag", env: []string{"A=1", TagVar + "=old"}, want: []string{"A=1", TagVar + "=old"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := slices.Clone(tt.env)
			p, err := Start(Spec{Argv: []string{"/bin/sleep", "600"}, Env: env, Tag: tt.tag})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Stop(context.Background(), syscall.SIGKILL, 0, nil) })
			want := tt.want
			if want == nil {
				want = []string{TagVar + "=" + tt.tag}
				for _, kv := range os.Environ() {
					if !strings.HasPrefix(kv, TagVar+"=") {
						want = append(want, kv)
					}
				}
			}
			if got := environOf(t, p.Pid); !slices.Equal(got, want) {
				t.Errorf("environment got %q, want %q", got, want)
			}
			if !slices.Equal(env, tt.env) {
				t.Errorf("Spec.Env modified: got %q, want %q", env, tt.env)
			}
		})
	}
}

// tagPrefix is a tag prefix no other test (or test run) uses.
func tagPrefix(t *testing.T) string {
	return fmt.Sprintf("test-%d-%s/", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "_"))
}

// findTaggedPids returns the pids FindTagged finds, sorted.
func findTaggedPids(t *testing.T, prefix string) []int {
	t.Helper()
	found, err := FindTagged(prefix)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range found {
		pids = append(pids, f.Pid)
	}
	slices.Sort(pids)
	return pids
}

func sorted(pids ...int) []int {
	pids = slices.Clone(pids)
	slices.Sort(pids)
	return pids
}

func TestFindTagged(t *testing.T) {
	t.Parallel()
	prefix := tagPrefix(t)
	dir := t.TempDir()
	start := func(tag, script string) *Process {
		t.Helper()
		spec := sh(script)
		spec.Tag = tag
		p, err := Start(spec)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Stop(context.Background(), syscall.SIGKILL, 0, nil) })
		return p
	}
	// a: a leader with a grandchild, which inherits the tag.
	aPids := filepath.Join(dir, "a")
	a := start(prefix+"a", `sleep 600 & echo $! >`+aPids+`; exec sleep 600`)
	// ab: a node whose name has a's as a prefix.
	ab := start(prefix+"ab", `exec sleep 600`)
	// an untagged process, and one of another instance.
	start("", `exec sleep 600`)
	start("other-"+prefix+"a", `exec sleep 600`)
	grandchild := readPids(t, aPids, 1)[0]

	if got, want := findTaggedPids(t, prefix), sorted(a.Pid, grandchild, ab.Pid); !slices.Equal(got, want) {
		t.Errorf("prefix %q: got %v, want %v", prefix, got, want)
	}
	found, err := FindTagged(prefix + "a")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		pi, err := LookupProcess(f.Pid)
		if err != nil {
			t.Fatal(err)
		}
		want := Tagged{Pid: pi.Pid, PPid: pi.PPid, Pgid: a.Pid, Sid: pi.Sid, StartTime: pi.StartTime, Tag: prefix + "a"}
		if f.Pid == ab.Pid {
			want.Pgid, want.Tag = ab.Pid, prefix+"ab"
		}
		if f != want {
			t.Errorf("got %+v, want %+v", f, want)
		}
	}
	if len(found) != 3 {
		t.Errorf("prefix %q: got %+v, want a, its grandchild and ab", prefix+"a", found)
	}
}

// tagHelperEnv, when set, makes TestHelperFindTagged print the pids that
// FindTagged finds with it as the prefix.
const tagHelperEnv = "OTPSV_PROC_TEST_TAGGED"

// TestHelperFindTagged is not a test: it runs FindTagged in a process of
// its own (as another user, or tagged itself).
func TestHelperFindTagged(t *testing.T) {
	prefix := os.Getenv(tagHelperEnv)
	if prefix == "" {
		t.Skip("helper process only")
	}
	found, err := FindTagged(prefix)
	if err != nil {
		helperFail("%v", err)
	}
	var pids []int
	for _, f := range found {
		pids = append(pids, f.Pid)
	}
	slices.Sort(pids)
	fmt.Println("found:", pids)
	os.Exit(0)
}

// helperExe returns the test binary: a copy that any user may run when
// unprivileged is set (the go tool's build directory is root's only).
func helperExe(t *testing.T, unprivileged bool) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if !unprivileged {
		return exe
	}
	// Not t.TempDir(): its parents are not searchable by other users.
	dir, err := os.MkdirTemp("", "otpsv-proc-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(dir, "proc.test")
	if err := os.WriteFile(copied, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return copied
}

// nobody is the uid and gid of the unprivileged variants.
const nobody = 65534

// asNobody returns the argv prefix that runs a command as uid and gid
// nobody, skipping t where that cannot be done.
func asNobody(t *testing.T) []string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a process as another uid")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv")
	}
	return []string{setpriv, fmt.Sprintf("--reuid=%d", nobody), fmt.Sprintf("--regid=%d", nobody), "--clear-groups"}
}

// runHelper runs the test binary exe as argv's prefix says, with
// -test.run=^name$ and env added, and returns its output.
func runHelper(t *testing.T, prefix []string, exe, name string, env ...string) string {
	t.Helper()
	argv := append(slices.Clone(prefix), exe, "-test.run=^"+name+"$")
	res := Run(t.Context(), Command{Argv: argv, Env: append(os.Environ(), env...), Timeout: time.Minute, MaxOutput: 1 << 16})
	if res.Err != nil || !res.Status.Normal() {
		t.Fatalf("helper %s: %v %v\n%s", name, res.Status, res.Err, res.Output)
	}
	return res.Output
}

// FindTagged leaves out its own process and its ancestors, which carry a
// tag when otpsv runs as another otpsv's worker.
func TestFindTaggedExcludesSelf(t *testing.T) {
	t.Parallel()
	prefix := tagPrefix(t)
	p, err := Start(Spec{Argv: []string{"sleep", "600"}, Tag: prefix + "a"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background(), syscall.SIGKILL, 0, nil) })
	exe := helperExe(t, false)
	// The helper runs under a shell (its parent), both tagged.
	out := runHelper(t, []string{"/bin/sh", "-c", `"$@"; exit $?`, "sh"}, exe, "TestHelperFindTagged",
		tagHelperEnv+"="+prefix, TagVar+"="+prefix+"outer")
	if want := fmt.Sprintf("found: [%d]\n", p.Pid); out != want {
		t.Errorf("helper got %q, want %q", out, want)
	}
}

// As an ordinary user, the environments of other users' processes cannot
// be read: FindTagged finds the user's own tagged processes, and no error.
func TestFindTaggedUnprivileged(t *testing.T) {
	t.Parallel()
	setpriv := asNobody(t)
	prefix := tagPrefix(t)
	cred := &syscall.Credential{Uid: nobody, Gid: nobody}
	var pids []int
	for _, c := range []*syscall.Credential{nil, cred} {
		p, err := Start(Spec{Argv: []string{"sleep", "600"}, Tag: prefix + "a", Credential: c})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Stop(context.Background(), syscall.SIGKILL, 0, nil) })
		pids = append(pids, p.Pid)
	}
	if got, want := findTaggedPids(t, prefix), sorted(pids...); !slices.Equal(got, want) {
		t.Fatalf("as root: got %v, want %v", got, want)
	}
	out := runHelper(t, setpriv, helperExe(t, true), "TestHelperFindTagged", tagHelperEnv+"="+prefix)
	if want := fmt.Sprintf("found: [%d]\n", pids[1]); out != want {
		t.Errorf("as uid %d: got %q, want %q (only its own process)", nobody, out, want)
	}
}

// BenchmarkFindTagged scans /proc with 200 tagged processes in it, besides
// whatever else runs.
func BenchmarkFindTagged(b *testing.B) {
	prefix := fmt.Sprintf("bench-%d/", os.Getpid())
	const n = 200
	for i := range n {
		p, err := Start(Spec{Argv: []string{"sleep", "600"}, Tag: fmt.Sprintf("%sw%d", prefix, i)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = p.Stop(context.Background(), syscall.SIGKILL, 0, nil) })
	}
	names, _ := listProc()
	found := 0
	for b.Loop() {
		f, err := FindTagged(prefix)
		if err != nil {
			b.Fatal(err)
		}
		found = len(f)
	}
	if found != n {
		b.Fatalf("found %d, want %d", found, n)
	}
	b.ReportMetric(float64(len(names)), "procs")
}
