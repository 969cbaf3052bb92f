package metrics

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/otpsv/otpsv/actors/control"
	"github.com/otpsv/otpsv/actors/event"
)

func pid(n int) *int       { return &n }
func ready(b bool) *bool   { return &b }
func at(sec int) time.Time { return time.Unix(int64(sec), 500_000_000) }

// fakeTree is a small tree in every state the gauges distinguish.
func fakeTree() *control.Node {
	return &control.Node{Name: "site", Path: "site", Type: "supervisor", State: "running", Expected: "running",
		Since: at(100), Intensity: 3, RestartsInPeriod: 1, Children: []*control.Node{
			{Name: "w", Path: "site/w", Type: "process", State: "running", Expected: "running", Pid: pid(10), Since: at(200), Ready: ready(true)},
			{Name: "nr", Path: "site/nr", Type: "process", State: "running", Expected: "running", Pid: pid(11), Since: at(300), Ready: ready(false)},
			{Name: "svc", Path: "site/svc", Type: "service", State: "stopped", Expected: "stopped", Since: at(400)},
			{Name: "sub", Path: "site/sub", Type: "supervisor", State: "running", Expected: "running", Since: at(100), Intensity: 1,
				Children: []*control.Node{
					{Name: "b", Path: "site/sub/b", Type: "process", State: "backoff", Expected: "running", Since: at(500)},
					{Name: "z", Path: "site/sub/z", Type: "process", State: "zombie", Expected: "running"},
					{Name: "t", Path: "site/sub/t", Type: "process", State: "stopped", Expected: "running", Done: true},
				}},
		}}
}

const (
	helpUp        = "# HELP otpsv_node_up 1 when the node is running and ready (a supervisor: running), else 0.\n# TYPE otpsv_node_up gauge\n"
	helpState     = "# HELP otpsv_node_state The node's state, as a state set: 1 for the current state, 0 for the others.\n# TYPE otpsv_node_state gauge\n"
	helpExpected  = "# HELP otpsv_node_expected_running 1 when the node is expected running, 0 when expected stopped (by the config, an operator's stop, or because it ended normally and may stay down).\n# TYPE otpsv_node_expected_running gauge\n"
	helpStart     = "# HELP otpsv_node_start_time_seconds When the running node entered its state, in seconds since the Unix epoch; absent while not running.\n# TYPE otpsv_node_start_time_seconds gauge\n"
	helpInPeriod  = "# HELP otpsv_supervisor_restarts_in_period Restarts the supervisor made in its current period (budget left: intensity minus this).\n# TYPE otpsv_supervisor_restarts_in_period gauge\n"
	helpIntensity = "# HELP otpsv_supervisor_intensity Restarts the supervisor allows in its period before it gives up.\n# TYPE otpsv_supervisor_intensity gauge\n"
	helpGaveUp    = "# HELP otpsv_supervisor_gave_up_total Times the supervisor exceeded its intensity and gave up.\n# TYPE otpsv_supervisor_gave_up_total counter\n"
	helpRestarts  = "# HELP otpsv_restarts_total Restarts of the node, by the cause of the failure that made its supervisor restart it (exit, signal, liveness, watchdog, not_ready, dirty, stopped) or operator.\n# TYPE otpsv_restarts_total counter\n"
	helpProbes    = "# HELP otpsv_probe_failures_total Failed runs of the node's probe (readiness or liveness).\n# TYPE otpsv_probe_failures_total counter\n"
	helpBuild     = "# HELP otpsv_build_info Always 1; the label is the version of the running otpsv.\n# TYPE otpsv_build_info gauge\n"
)

// stateSet is otpsv_node_state's series of path, cur being 1.
func stateSet(path, cur string) string {
	var b strings.Builder
	for _, s := range states {
		v := 0
		if s == cur {
			v = 1
		}
		fmt.Fprintf(&b, "otpsv_node_state{path=%q,state=%q} %d\n", path, s, v)
	}
	return b.String()
}

func TestGauges(t *testing.T) {
	t.Parallel()
	m := New("1.2.3", fakeTree)
	want := helpUp + `
otpsv_node_up{path="site",type="supervisor"} 1
otpsv_node_up{path="site/w",type="process"} 1
otpsv_node_up{path="site/nr",type="process"} 0
otpsv_node_up{path="site/svc",type="service"} 0
otpsv_node_up{path="site/sub",type="supervisor"} 1
otpsv_node_up{path="site/sub/b",type="process"} 0
otpsv_node_up{path="site/sub/z",type="process"} 0
otpsv_node_up{path="site/sub/t",type="process"} 0
` + helpState + stateSet("site", "running") + stateSet("site/w", "running") + stateSet("site/nr", "running") +
		stateSet("site/svc", "stopped") + stateSet("site/sub", "running") + stateSet("site/sub/b", "backoff") +
		stateSet("site/sub/z", "unknown") + stateSet("site/sub/t", "stopped") + helpExpected + `
otpsv_node_expected_running{path="site"} 1
otpsv_node_expected_running{path="site/w"} 1
otpsv_node_expected_running{path="site/nr"} 1
otpsv_node_expected_running{path="site/svc"} 0
otpsv_node_expected_running{path="site/sub"} 1
otpsv_node_expected_running{path="site/sub/b"} 1
otpsv_node_expected_running{path="site/sub/z"} 1
otpsv_node_expected_running{path="site/sub/t"} 0
` + helpStart + `
otpsv_node_start_time_seconds{path="site"} 100.5
otpsv_node_start_time_seconds{path="site/w"} 200.5
otpsv_node_start_time_seconds{path="site/nr"} 300.5
otpsv_node_start_time_seconds{path="site/sub"} 100.5
` + helpIntensity + `
otpsv_supervisor_intensity{path="site"} 3
otpsv_supervisor_intensity{path="site/sub"} 1
` + helpInPeriod + `
otpsv_supervisor_restarts_in_period{path="site"} 1
otpsv_supervisor_restarts_in_period{path="site/sub"} 0
` + helpGaveUp + `
otpsv_supervisor_gave_up_total{path="site"} 0
otpsv_supervisor_gave_up_total{path="site/sub"} 0
` + helpBuild + `
otpsv_build_info{version="1.2.3"} 1
`
	if err := testutil.GatherAndCompare(m, strings.NewReader(want), "otpsv_node_up", "otpsv_node_state", "otpsv_node_expected_running", "otpsv_node_start_time_seconds",
		"otpsv_supervisor_intensity", "otpsv_supervisor_restarts_in_period", "otpsv_supervisor_gave_up_total", "otpsv_build_info",
		"otpsv_restarts_total", "otpsv_probe_failures_total"); err != nil {
		t.Error(err)
	}
}

func TestCounters(t *testing.T) {
	t.Parallel()
	m := New("dev", fakeTree)
	for _, ev := range []event.Event{
		{Kind: event.Restarting, Path: "site/w", Cause: event.CauseSignal, Restarted: []string{"site/w", "site/nr"}},
		{Kind: event.Restarting, Path: "site/w", Cause: event.CauseSignal, Restarted: []string{"site/w"}},
		{Kind: event.Restarting, Path: "site/w", Cause: event.CauseLiveness, Restarted: []string{"site/w"}},
		{Kind: event.Restarting, Path: "site/sub/b"}, // no cause, no list: still counted
		{Kind: event.Operator, Path: "site/nr", Action: "restart", Cause: event.CauseOperator},
		{Kind: event.Operator, Path: "site/nr", Action: "stop", Cause: event.CauseOperator},
		{Kind: event.Delayed, Path: "site/w", Cause: event.CauseExit, Restarted: []string{"w"}}, // counted when it restarts
		{Kind: event.Exited, Path: "site/w", Cause: event.CauseExit},
		{Kind: event.GaveUp, Path: "site/sub", Supervisor: "site/sub", Cause: event.CauseExit},
		{Kind: event.ProbeFailed, Path: "site/w", Probe: "liveness", Failures: 1},
		{Kind: event.ProbeFailed, Path: "site/w", Probe: "liveness", Failures: 2},
		{Kind: event.ProbeFailed, Path: "site/nr", Probe: "readiness", Failures: 1},
	} {
		m.Observe(ev)
	}
	want := helpRestarts + `
otpsv_restarts_total{path="site/w",reason="signal"} 2
otpsv_restarts_total{path="site/w",reason="liveness"} 1
otpsv_restarts_total{path="site/nr",reason="signal"} 1
otpsv_restarts_total{path="site/nr",reason="operator"} 1
otpsv_restarts_total{path="site/sub/b",reason="unknown"} 1
` + helpGaveUp + `
otpsv_supervisor_gave_up_total{path="site"} 0
otpsv_supervisor_gave_up_total{path="site/sub"} 1
` + helpProbes + `
otpsv_probe_failures_total{path="site/w",probe="liveness"} 2
otpsv_probe_failures_total{path="site/nr",probe="readiness"} 1
`
	if err := testutil.GatherAndCompare(m, strings.NewReader(want),
		"otpsv_restarts_total", "otpsv_supervisor_gave_up_total", "otpsv_probe_failures_total"); err != nil {
		t.Error(err)
	}
}

// TestReloadDropsCounters: a node a reload removed loses its counters,
// but not a node whose event came after the scrape read the view (a
// reload that added it races with the scrape).
func TestReloadDropsCounters(t *testing.T) {
	t.Parallel()
	var m *Metrics
	tree := fakeTree()
	m = New("dev", func() *control.Node {
		// the node added after the view was read
		m.Observe(event.Event{Kind: event.Restarting, Path: "site/new", Cause: event.CauseExit, Restarted: []string{"site/new"}})
		return tree
	})
	m.Observe(event.Event{Kind: event.Restarting, Path: "site/gone", Cause: event.CauseExit, Restarted: []string{"site/gone", "site/w"}})
	m.Observe(event.Event{Kind: event.ProbeFailed, Path: "site/gone", Probe: "liveness"})
	m.Observe(event.Event{Kind: event.GaveUp, Path: "site/gonesup"})
	want := helpRestarts + `
otpsv_restarts_total{path="site/w",reason="exit"} 1
otpsv_restarts_total{path="site/new",reason="exit"} 1
` + helpGaveUp + `
otpsv_supervisor_gave_up_total{path="site"} 0
otpsv_supervisor_gave_up_total{path="site/sub"} 0
`
	if err := testutil.GatherAndCompare(m, strings.NewReader(want),
		"otpsv_restarts_total", "otpsv_supervisor_gave_up_total", "otpsv_probe_failures_total"); err != nil {
		t.Error(err)
	}
}

func TestNoView(t *testing.T) {
	t.Parallel()
	m := New("dev", func() *control.Node { return nil })
	m.Observe(event.Event{Kind: event.GaveUp, Path: "site"})
	want := helpGaveUp + "otpsv_supervisor_gave_up_total{path=\"site\"} 1\n" + helpBuild + "otpsv_build_info{version=\"dev\"} 1\n"
	if err := testutil.GatherAndCompare(m, strings.NewReader(want), "otpsv_node_up", "otpsv_node_state", "otpsv_node_expected_running", "otpsv_node_start_time_seconds",
		"otpsv_supervisor_intensity", "otpsv_supervisor_restarts_in_period", "otpsv_supervisor_gave_up_total", "otpsv_build_info",
		"otpsv_restarts_total", "otpsv_probe_failures_total"); err != nil {
		t.Error(err)
	}
}

func TestLint(t *testing.T) {
	t.Parallel()
	m := New("dev", fakeTree)
	m.Observe(event.Event{Kind: event.Restarting, Path: "site/w", Cause: event.CauseExit, Restarted: []string{"site/w"}})
	m.Observe(event.Event{Kind: event.ProbeFailed, Path: "site/w", Probe: "liveness"})
	problems, err := testutil.GatherAndLint(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func scrape(t testing.TB, h http.Handler, gzip bool) []byte {
	t.Helper()
	req := httptest.NewRequest("GET", "/metrics", nil)
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: status %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.Bytes()
}

// TestPromtool runs the real checker on a real scrape, Go and process
// collectors included. CI installs promtool (Debian's prometheus).
func TestPromtool(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not on PATH")
	}
	m := New("dev", func() *control.Node { return bigTree(50) })
	m.Observe(event.Event{Kind: event.Restarting, Path: "root/s0/w0", Cause: event.CauseSignal, Restarted: []string{"root/s0/w0"}})
	m.Observe(event.Event{Kind: event.ProbeFailed, Path: "root/s0/w0", Probe: "readiness"})
	body := scrape(t, m.Handler(), false)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestConcurrent: events arrive from many actors while scrapes run (for
// -race), and every one is counted.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	m := New("dev", fakeTree)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				m.Observe(event.Event{Kind: event.Restarting, Path: "site/w", Cause: event.CauseExit, Restarted: []string{"site/w"}})
				m.Observe(event.Event{Kind: event.ProbeFailed, Path: "site/nr", Probe: fmt.Sprint("p", i%2)})
			}
		}()
	}
	for range 20 {
		scrape(t, m.Handler(), false)
	}
	wg.Wait()
	want := helpRestarts + "otpsv_restarts_total{path=\"site/w\",reason=\"exit\"} 1600\n"
	if err := testutil.GatherAndCompare(m, strings.NewReader(want), "otpsv_restarts_total"); err != nil {
		t.Error(err)
	}
}

// bigTree is a root supervisor with supervisors of width workers each,
// about width*width nodes in all.
func bigTree(width int) *control.Node {
	root := &control.Node{Name: "root", Path: "root", Type: "supervisor", State: "running", Expected: "running",
		Since: time.Now(), Intensity: 3}
	for i := range width {
		s := &control.Node{Name: fmt.Sprint("s", i), Path: fmt.Sprint("root/s", i), Type: "supervisor",
			State: "running", Expected: "running", Since: time.Now(), Intensity: 5, RestartsInPeriod: i % 5}
		for j := range width - 1 {
			s.Children = append(s.Children, &control.Node{Name: fmt.Sprint("w", j), Path: fmt.Sprint(s.Path, "/w", j),
				Type: "process", State: states[j%len(states)], Expected: "running", Pid: pid(1000 + j),
				Since: time.Now(), Ready: ready(j%3 != 0)})
		}
		root.Children = append(root.Children, s)
	}
	return root
}

func countNodes(n *control.Node) int {
	c := 1
	for _, k := range n.Children {
		c += countNodes(k)
	}
	return c
}

// The SPEC's budget: a scrape of a 1000-node tree under 50 ms. Each
// iteration builds a new view, as the daemon's Snapshot does.
func BenchmarkScrape1000(b *testing.B) {
	if n := countNodes(bigTree(32)); n < 1000 {
		b.Fatalf("tree has %d nodes", n)
	}
	events := []event.Event{}
	for i := range 32 {
		events = append(events, event.Event{Kind: event.Restarting, Path: fmt.Sprint("root/s", i, "/w0"),
			Cause: event.CauseExit, Restarted: []string{fmt.Sprint("root/s", i, "/w0"), fmt.Sprint("root/s", i, "/w1")}})
	}
	for _, gz := range []bool{false, true} {
		b.Run(fmt.Sprintf("gzip=%v", gz), func(b *testing.B) {
			m := New("dev", func() *control.Node { return bigTree(32) })
			for _, ev := range events {
				m.Observe(ev)
			}
			size := len(scrape(b, m.Handler(), gz))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				scrape(b, m.Handler(), gz)
			}
			b.ReportMetric(float64(size), "bytes/scrape")
		})
	}
}

// BenchmarkObserve is the cost an actor pays per restart event.
func BenchmarkObserve(b *testing.B) {
	m := New("dev", fakeTree)
	ev := event.Event{Kind: event.Restarting, Path: "site/w", Cause: event.CauseExit, Restarted: []string{"site/w", "site/nr"}}
	b.ReportAllocs()
	for b.Loop() {
		m.Observe(ev)
	}
}

// BenchmarkView is the part of BenchmarkScrape1000 spent building the view.
func BenchmarkView(b *testing.B) {
	for b.Loop() {
		bigTree(32)
	}
}
