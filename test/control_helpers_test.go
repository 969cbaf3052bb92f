package test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Helpers of control_test.go: the verbs that talk to a running daemon,
// and the daemon's control socket.

// ctlNode is one node of `otpsv tree --json` (SPEC §4).
type ctlNode struct {
	Name         string     `json:"name"`
	Path         string     `json:"path"`
	Type         string     `json:"type"`
	State        string     `json:"state"`
	Expected     string     `json:"expected"`
	Pid          *int       `json:"pid"`
	Since        time.Time  `json:"since"`
	Restarts     int        `json:"restarts"`
	AdminStopped bool       `json:"admin_stopped"`
	Ready        *bool      `json:"ready"`
	Message      string     `json:"message"`
	Children     []*ctlNode `json:"children"`
}

// find returns the node at path within n, or nil.
func (n *ctlNode) find(path string) *ctlNode {
	if n == nil {
		return nil
	}
	if n.Path == path {
		return n
	}
	for _, c := range n.Children {
		if f := c.find(path); f != nil {
			return f
		}
	}
	return nil
}

// pid is the node's pid, 0 when null.
func (n *ctlNode) pid() int {
	if n == nil || n.Pid == nil {
		return 0
	}
	return *n.Pid
}

// walk visits n and its subtree depth first, in list order.
func (n *ctlNode) walk(fn func(n *ctlNode, depth int)) {
	var w func(n *ctlNode, depth int)
	w = func(n *ctlNode, depth int) {
		fn(n, depth)
		for _, c := range n.Children {
			w(c, depth+1)
		}
	}
	w(n, 0)
}

// ctl runs a verb against this workspace's daemon: `otpsv VERB
// --state-dir D ARGS...` (flags before positional arguments).
func (w *workspace) ctl(verb string, args ...string) result {
	w.t.Helper()
	return otpsv(w.t, w.dir, append([]string{verb, "--state-dir", w.stateDir}, args...)...)
}

// mustCtl is ctl that requires exit status 0.
func (w *workspace) mustCtl(verb string, args ...string) result {
	w.t.Helper()
	r := w.ctl(verb, args...)
	if r.code != 0 {
		w.t.Fatalf("otpsv %s %v: exit status %d, want 0\nstdout:\n%s\nstderr:\n%s", verb, args, r.code, r.stdout, r.stderr)
	}
	return r
}

// treeJSON is `otpsv tree --json [PATH]`, which must exit 0.
func (w *workspace) ctlTreeJSON(path ...string) *ctlNode {
	w.t.Helper()
	r := w.mustCtl("tree", append([]string{"--json"}, path...)...)
	var n ctlNode
	if err := json.Unmarshal([]byte(r.stdout), &n); err != nil {
		w.t.Fatalf("tree --json: %v\n%s", err, r.stdout)
	}
	return &n
}

// node is the node at path in `otpsv tree --json`; it must exist.
func (w *workspace) ctlNodeAt(path string) *ctlNode {
	w.t.Helper()
	n := w.ctlTreeJSON().find(path)
	if n == nil {
		w.t.Fatalf("tree --json has no node %s", path)
	}
	return n
}

// sock is the daemon's control socket.
func (w *workspace) ctlSock() string { return filepath.Join(w.stateDir, "otpsv.sock") }

// httpClient talks HTTP over the workspace's control socket.
func (w *workspace) ctlHTTP() *http.Client {
	path := w.ctlSock()
	return &http.Client{
		Timeout: commandGuard,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}
}

// request sends one request over the control socket and returns the
// status code and body. A transport error fails the test.
func (w *workspace) ctlRequest(method, target string, body []byte) (int, []byte) {
	w.t.Helper()
	req, err := http.NewRequest(method, "http://otpsv"+target, bytes.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c := w.ctlHTTP()
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		w.t.Fatalf("%s %s: read body: %v", method, target, err)
	}
	return resp.StatusCode, data
}

// liveTree fetches GET /v1/tree; nil if the daemon does not answer 200.
// It is what waitTree polls: cheaper than running the binary.
func (w *workspace) ctlLiveTree() *ctlNode {
	c := w.ctlHTTP()
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://otpsv/v1/tree")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	var n ctlNode
	if json.NewDecoder(resp.Body).Decode(&n) != nil {
		return nil
	}
	return &n
}

// waitTree polls the live tree until cond holds, within readyGuard (a
// deadline for something that must happen, not a success condition).
func (w *workspace) ctlWaitTree(what string, cond func(root *ctlNode) bool) *ctlNode {
	w.t.Helper()
	deadline := time.Now().Add(readyGuard)
	for {
		root := w.ctlLiveTree()
		if root != nil && cond(root) {
			return root
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(root, "", "  ")
			w.t.Fatalf("tree: %s: not within %v; last tree:\n%s", what, readyGuard, b)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// waitUp waits for both "tree started" and "daemon started" (the control
// socket listens), whichever comes first.
func (d *daemon) ctlWaitUp() {
	d.t.Helper()
	ctlWaitAll(d.t, d.events, is("tree started"), is("daemon started"))
}

// waitAll waits until each matcher has matched an event, in any order.
func ctlWaitAll(t *testing.T, ch <-chan event, matchers ...func(event) bool) []event {
	t.Helper()
	guard := time.NewTimer(eventGuard)
	defer guard.Stop()
	got := make([]event, len(matchers))
	left := len(matchers)
	for left > 0 {
		e := nextEvent(t, ch, guard.C)
		matched := false
		for i, m := range matchers {
			if got[i] == nil && m(e) {
				got[i], matched = e, true
				left--
				break
			}
		}
		if !matched {
			unwanted(t, e)
		}
	}
	return got
}

// lines splits output into its lines, without the final newline.
func ctlLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// ctlWhy is `otpsv why --json PATH`.
type ctlWhy struct {
	Node       *ctlNode `json:"node"`
	Supervisor string   `json:"supervisor"`
	Intensity  int      `json:"intensity"`
	Used       int      `json:"used"`
	Left       int      `json:"left"`
	History    []struct {
		Event      string   `json:"event"`
		Detail     string   `json:"detail"`
		Cause      string   `json:"cause"`
		Supervisor string   `json:"supervisor"`
		Strategy   string   `json:"strategy"`
		Action     string   `json:"action"`
		Restarted  []string `json:"restarted"`
		Budget     int      `json:"budget"`
	} `json:"history"`
}

func (w *workspace) ctlWhyOf(path string) *ctlWhy {
	w.t.Helper()
	r := w.mustCtl("why", "--json", path)
	var out ctlWhy
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		w.t.Fatalf("why --json %s: %v\n%s", path, err, r.stdout)
	}
	return &out
}
