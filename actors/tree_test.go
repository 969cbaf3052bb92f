package actors

import (
	"context"
	"errors"
	"fmt"
	"github.com/otpsv/otpsv/actors/policy"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otpsv/otpsv/actors/control"
	"github.com/otpsv/otpsv/config"
)

// harness runs a tree from YAML and turns its state changes into a
// channel the test waits on.
type harness struct {
	t      testing.TB
	tree   *Tree
	events chan Event
}

func startTree(t testing.TB, yaml string) *harness {
	t.Helper()
	cfg, err := config.Load(strings.NewReader(yaml), "test.yaml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	cfg.ResolveLogs(t.TempDir())
	h := &harness{t: t, events: make(chan Event, 4096)}
	tree, err := Start(cfg, Options{Observer: func(e Event) {
		select {
		case h.events <- e:
		default:
			panic("test event buffer full")
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	h.tree = tree
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = tree.Stop(ctx)
	})
	return h
}

// waitFor blocks until an event matches; the timer is a hang guard, never
// a success condition.
func (h *harness) waitFor(what string, match func(Event) bool) Event {
	h.t.Helper()
	guard := time.NewTimer(30 * time.Second)
	defer guard.Stop()
	for {
		select {
		case e := <-h.events:
			if match(e) {
				return e
			}
		case <-guard.C:
			h.t.Fatalf("no event: %s", what)
		}
	}
}

// running waits for path to run with a pid other than old.
func (h *harness) running(path string, old int) int {
	h.t.Helper()
	return h.waitFor(path+" running", func(e Event) bool {
		return e.Path == path && e.State == StateRunning && e.Pid > 0 && e.Pid != old
	}).Pid
}

func (h *harness) waitStarted() {
	h.t.Helper()
	select {
	case <-h.tree.Started():
	case <-time.After(30 * time.Second):
		h.t.Fatal("tree did not start")
	}
}

func pidOf(st *control.Node, path string) int {
	if st.Path == path {
		if st.Pid == nil {
			return 0
		}
		return *st.Pid
	}
	for _, c := range st.Children {
		if p := pidOf(c, path); p != 0 {
			return p
		}
	}
	return 0
}

func TestOneForOneRestartsOnlyTheFailedChild(t *testing.T) {
	t.Parallel()
	h := startTree(t, `
tree:
  name: r
  children:
    - {name: a, command: sleep 600}
    - {name: b, command: sleep 600}
`)
	h.waitStarted()
	snap := h.tree.Snapshot()
	a, b := pidOf(snap, "r/a"), pidOf(snap, "r/b")
	if err := syscall.Kill(b, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	nb := h.running("r/b", b)
	if nb == b {
		t.Fatalf("b kept pid %d", b)
	}
	if got := pidOf(h.tree.Snapshot(), "r/a"); got != a {
		t.Errorf("a pid got %d, want %d", got, a)
	}
	if got := h.tree.Snapshot().Children[1].Restarts; got != 1 {
		t.Errorf("b restarts got %d, want 1", got)
	}
}

func TestRootGivesUp(t *testing.T) {
	t.Parallel()
	h := startTree(t, `
tree:
  name: r
  intensity: 2
  period: 60s
  children:
    - {name: ok, command: sleep 600}
    - {name: crash, command: "sh -c 'exit 3'"}
`)
	select {
	case <-h.tree.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("root did not give up")
	}
	err := h.tree.Err()
	if !errors.Is(err, ErrRootGaveUp) || !errors.Is(err, policy.ErrIntensityExceeded) || !strings.Contains(err.Error(), "r/crash: exit 3") {
		t.Fatalf("got %v", err)
	}
	if p := pidOf(h.tree.Snapshot(), "r/ok"); p != 0 {
		t.Errorf("ok still has pid %d", p)
	}
}

func TestStartFailureCountsAsFailure(t *testing.T) {
	t.Parallel()
	h := startTree(t, `
tree:
  name: r
  intensity: 1
  children:
    - {name: missing, command: /nonexistent/otpsv-test-binary}
`)
	select {
	case <-h.tree.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("root did not give up")
	}
	if err := h.tree.Err(); !errors.Is(err, ErrRootGaveUp) || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("got %v", err)
	}
}

// BenchmarkRestart measures SIGKILL of a one_for_one worker to its
// replacement running (forked and exec'd), against BenchmarkSpawn, the
// bare cost of starting the same program.
func BenchmarkRestart(b *testing.B) {
	h := startTree(b, `
tree:
  name: r
  intensity: 1000000
  children:
    - {name: w, command: sleep 600, stdout: discard, stderr: discard}
`)
	h.waitStarted()
	pid := pidOf(h.tree.Snapshot(), "r/w")
	b.ResetTimer()
	for range b.N {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		pid = h.running("r/w", pid)
	}
}

func BenchmarkSpawn(b *testing.B) {
	h := startTree(b, `
tree:
  name: r
  children:
    - {name: w, command: sleep 600, expected: stopped}
`)
	_ = h
	path := "/bin/sleep"
	if _, err := os.Stat(path); err != nil {
		path = "/usr/bin/sleep"
	}
	for range b.N {
		p, err := startRaw(path)
		if err != nil {
			b.Fatal(err)
		}
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}

func ExampleTree_Snapshot() {
	cfg, err := config.Load(strings.NewReader("tree: {name: r, children: [{name: w, command: sleep 60}]}"), "x.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	tree, _ := Start(cfg, Options{})
	<-tree.Started()
	fmt.Println(tree.Snapshot().Children[0].State)
	_ = tree.Stop(context.Background())
	// Output: running
}
