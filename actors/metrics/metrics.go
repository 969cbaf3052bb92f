package metrics

import (
	"cmp"
	"net/http"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/otpsv/otpsv/actors/control"
	"github.com/otpsv/otpsv/actors/event"
)

// states are the values of otpsv_node_state's state label, in the
// SPEC's order. A node's state outside this set is reported as unknown,
// so that the set, and every sum over it, stays fixed.
var states = [...]string{"starting", "running", "stopping", "stopped", "failed", "dirty", "backoff", "unknown"}

// The reason of a restart whose event carries no cause: it should not
// happen, and is shown rather than dropped.
const unknownCause = "unknown"

// The otpsv families: name, help and type.
type spec struct {
	name, help string
	typ        dto.MetricType
}

var (
	nodeUp = spec{"otpsv_node_up",
		"1 when the node is running and ready (a supervisor: running), else 0.", dto.MetricType_GAUGE}
	nodeState = spec{"otpsv_node_state",
		"The node's state, as a state set: 1 for the current state, 0 for the others.", dto.MetricType_GAUGE}
	expectedRunning = spec{"otpsv_node_expected_running",
		"1 when the node is expected running, 0 when expected stopped (by the config, an operator's stop, or because it ended normally and may stay down).", dto.MetricType_GAUGE}
	startTime = spec{"otpsv_node_start_time_seconds",
		"When the running node entered its state, in seconds since the Unix epoch; absent while not running.", dto.MetricType_GAUGE}
	inPeriod = spec{"otpsv_supervisor_restarts_in_period",
		"Restarts the supervisor made in its current period (budget left: intensity minus this).", dto.MetricType_GAUGE}
	intensity = spec{"otpsv_supervisor_intensity",
		"Restarts the supervisor allows in its period before it gives up.", dto.MetricType_GAUGE}
	gaveUp = spec{"otpsv_supervisor_gave_up_total",
		"Times the supervisor exceeded its intensity and gave up.", dto.MetricType_COUNTER}
	restarts = spec{"otpsv_restarts_total",
		"Restarts of the node, by the cause of the failure that made its supervisor restart it " +
			"(exit, signal, liveness, watchdog, not_ready, dirty, stopped) or operator.", dto.MetricType_COUNTER}
	probeFailures = spec{"otpsv_probe_failures_total",
		"Failed runs of the node's probe (readiness or liveness).", dto.MetricType_COUNTER}
)

// Metrics folds supervision events into counters and reads the node
// gauges from the tree view when it is scraped. It is a
// prometheus.Gatherer.
//
// The otpsv families are built as protobuf values directly, in sorted
// order, rather than by a prometheus.Collector through a Registry: a
// 1000-node tree has about 11 000 series (eight a node for the state
// set), and the Registry's per-series checks and sorting made a scrape
// three times slower (see BenchmarkScrape1000). Their names and labels
// are fixed here, and tests lint them and run promtool on them. The Go
// and process collectors and otpsv_build_info go through a private
// Registry.
type Metrics struct {
	reg     *prometheus.Registry
	view    func() *control.Node
	handler http.Handler

	mu       sync.Mutex
	seq      uint64 // Observe calls that changed a counter
	restarts map[pair]*count
	probes   map[pair]*count
	gaveUp   map[string]*count
}

var _ prometheus.Gatherer = (*Metrics)(nil)

// New returns the metrics of one daemon. version labels otpsv_build_info;
// view returns the live tree (nil before the tree exists) and is called
// once per scrape, from the scraping goroutine.
func New(version string, view func() *control.Node) *Metrics {
	m := &Metrics{
		reg:      prometheus.NewRegistry(),
		view:     view,
		restarts: map[pair]*count{},
		probes:   map[pair]*count{},
		gaveUp:   map[string]*count{},
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "otpsv_build_info",
		Help: "Always 1; the label is the version of the running otpsv."}, []string{"version"})
	build.WithLabelValues(version).Set(1)
	m.reg.MustRegister(build,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = compress(promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m, promhttp.HandlerOpts{
		Registry: m.reg,
		// Each scrape walks the whole tree: a crowd of scrapers waits
		// (503) rather than multiplies that work.
		MaxRequestsInFlight: 4,
		DisableCompression:  true, // compress does, faster
	})))
	return m
}

// Observe counts what ev says: the nodes a supervisor restarts (by the
// cause of the failure), an operator's restart, a supervisor giving up,
// a probe failing. Other kinds are ignored. It takes one short lock and
// never waits for a scrape, so actors may call it from any goroutine.
func (m *Metrics) Observe(ev event.Event) {
	switch ev.Kind {
	case event.Restarting:
		reason := string(ev.Cause)
		if reason == "" {
			reason = unknownCause
		}
		m.mu.Lock()
		m.seq++
		if len(ev.Restarted) == 0 {
			m.bump(m.restarts, pair{ev.Path, reason})
		}
		for _, p := range ev.Restarted {
			m.bump(m.restarts, pair{p, reason})
		}
		m.mu.Unlock()
	case event.Operator:
		if ev.Action != "restart" {
			return
		}
		m.mu.Lock()
		m.seq++
		m.bump(m.restarts, pair{ev.Path, string(event.CauseOperator)})
		m.mu.Unlock()
	case event.ProbeFailed:
		m.mu.Lock()
		m.seq++
		m.bump(m.probes, pair{ev.Path, ev.Probe})
		m.mu.Unlock()
	case event.GaveUp:
		m.mu.Lock()
		m.seq++
		n := m.gaveUp[ev.Path]
		if n == nil {
			n = &count{}
			m.gaveUp[ev.Path] = n
		}
		n.n++
		n.seq = m.seq
		m.mu.Unlock()
	}
}

// bump adds one to the series k of c. Called with mu held.
func (m *Metrics) bump(c map[pair]*count, k pair) {
	n := c[k]
	if n == nil {
		n = &count{}
		c[k] = n
	}
	n.n++
	n.seq = m.seq
}

// Handler serves the metrics in Prometheus's exposition formats (text, or
// protobuf when the scraper asks), gzipped when asked.
func (m *Metrics) Handler() http.Handler { return m.handler }

// pair is a counter series: a node and its other label.
type pair struct{ path, label string }

// count is one counter series. seq is the Observe that last changed it:
// a series newer than the view a scrape read is kept even though that
// view does not have its node yet.
type count struct {
	n   float64
	seq uint64
}

// Gather reads the view once and returns every family, sorted by name:
// the gauges of every node in the view, the counters, then the Go,
// process and build families. The counters of nodes the view no longer
// has (a reload removed them) are dropped, unless they changed after the
// view was read; if the node comes back, Prometheus sees a counter reset.
func (m *Metrics) Gather() ([]*dto.MetricFamily, error) {
	m.mu.Lock()
	before := m.seq
	m.mu.Unlock()

	var nodes []*control.Node
	if m.view != nil {
		if root := m.view(); root != nil {
			nodes = flatten(root, nodes)
			slices.SortFunc(nodes, func(a, b *control.Node) int { return cmp.Compare(a.Path, b.Path) })
		}
	}
	fams, sups := gauges(nodes)

	var seen map[string]bool
	if nodes != nil {
		seen = make(map[string]bool, len(nodes))
		for _, n := range nodes {
			seen[n.Path] = true
		}
	}
	m.mu.Lock()
	rs := snapshot(m.restarts, seen, before)
	ps := snapshot(m.probes, seen, before)
	gs := make(map[pair]float64, len(m.gaveUp)+len(sups))
	for p, n := range m.gaveUp {
		if seen != nil && !seen[p] && n.seq <= before {
			delete(m.gaveUp, p)
			continue
		}
		gs[pair{path: p}] = n.n
	}
	m.mu.Unlock()
	// Every supervisor has the series from the start, at 0, so that
	// increase() sees its first give-up.
	for _, p := range sups {
		gs[pair{path: p}] += 0
	}

	fams = appendCounters(fams, restarts, "reason", rs)
	fams = appendCounters(fams, probeFailures, "probe", ps)
	fams = appendCounters(fams, gaveUp, "", gs)

	std, err := m.reg.Gather()
	fams = append(fams, std...)
	slices.SortFunc(fams, func(a, b *dto.MetricFamily) int { return cmp.Compare(a.GetName(), b.GetName()) })
	return fams, err
}

// snapshot copies c's values, dropping the series of nodes not seen (when
// there was a view) that did not change after it was read. Called with
// mu held.
func snapshot(c map[pair]*count, seen map[string]bool, before uint64) map[pair]float64 {
	out := make(map[pair]float64, len(c))
	for k, n := range c {
		if seen != nil && !seen[k.path] && n.seq <= before {
			delete(c, k)
			continue
		}
		out[k] = n.n
	}
	return out
}

// appendCounters adds the family s of the series in vals, labelled path
// and name (only path when name is ""), if there is any.
func appendCounters(fams []*dto.MetricFamily, s spec, name string, vals map[pair]float64) []*dto.MetricFamily {
	if len(vals) == 0 {
		return fams
	}
	keys := make([]pair, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b pair) int {
		return cmp.Or(cmp.Compare(a.path, b.path), cmp.Compare(a.label, b.label))
	})
	f := newFamily(s, len(keys))
	for _, k := range keys {
		l := []*dto.LabelPair{label("path", k.path)}
		if name != "" {
			l = append(l, label(name, k.label))
		}
		f.add(vals[k], l)
	}
	return append(fams, f.mf)
}

func flatten(n *control.Node, out []*control.Node) []*control.Node {
	out = append(out, n)
	for _, k := range n.Children {
		out = flatten(k, out)
	}
	return out
}

// gauges returns the gauge families of nodes (sorted by path), and the
// supervisors' paths.
func gauges(nodes []*control.Node) ([]*dto.MetricFamily, []string) {
	if len(nodes) == 0 {
		return nil, nil
	}
	up := newFamily(nodeUp, len(nodes))
	st := newFamily(nodeState, len(states)*len(nodes))
	exp := newFamily(expectedRunning, len(nodes))
	start := newFamily(startTime, len(nodes))
	in := newFamily(inPeriod, len(nodes))
	inten := newFamily(intensity, len(nodes))
	var sups []string
	// A node's label slices share one array and its path pair; the state
	// pairs are shared by all. Nothing changes them once built.
	const per = 2 + 2*len(states)
	all := make([]*dto.LabelPair, per*len(nodes))
	for i, n := range nodes {
		labels := all[i*per : (i+1)*per : (i+1)*per]
		path := label("path", n.Path)
		labels[0], labels[1] = path, label("type", n.Type)
		state := stateIndex(n.State)
		running := states[state] == "running"
		up.add(b2f(running && (n.Ready == nil || *n.Ready)), labels[0:2])
		for j, s := range byName {
			l := labels[2+2*j : 4+2*j : 4+2*j]
			l[0], l[1] = path, statePairs[s]
			st.add(b2f(s == state), l)
		}
		only := labels[0:1:1]
		// A worker that ended normally and whose restart type lets it
		// stay down is as expected stopped (the tree's "done").
		exp.add(b2f(n.Expected == "running" && !n.Done), only)
		if running && !n.Since.IsZero() {
			start.add(float64(n.Since.UnixNano())/1e9, only)
		}
		if n.Type == "supervisor" {
			sups = append(sups, n.Path)
			inten.add(float64(n.Intensity), only)
			in.add(float64(n.RestartsInPeriod), only)
		}
	}
	var fams []*dto.MetricFamily
	for _, f := range []*family{up, st, exp, start, in, inten} {
		if len(f.mf.Metric) > 0 {
			fams = append(fams, f.mf)
		}
	}
	return fams, sups
}

func stateIndex(s string) int {
	for i, v := range states {
		if v == s {
			return i
		}
	}
	return len(states) - 1 // unknown
}

var (
	// statePairs are the state labels, one per state.
	statePairs [len(states)]*dto.LabelPair
	// byName are the indexes of states in the order of their names: a
	// family's series are sorted by their labels' values.
	byName [len(states)]int
)

func init() {
	for i, s := range states {
		statePairs[i] = label("state", s)
		byName[i] = i
	}
	slices.SortFunc(byName[:], func(a, b int) int { return cmp.Compare(states[a], states[b]) })
}

func label(name, value string) *dto.LabelPair { return &dto.LabelPair{Name: &name, Value: &value} }

// family is a metric family being built, its series allocated in blocks.
type family struct {
	mf       *dto.MetricFamily
	metrics  []dto.Metric
	values   []float64
	gauges   []dto.Gauge
	counters []dto.Counter
}

func newFamily(s spec, n int) *family {
	f := &family{
		mf:      &dto.MetricFamily{Name: &s.name, Help: &s.help, Type: &s.typ, Metric: make([]*dto.Metric, 0, n)},
		metrics: make([]dto.Metric, n),
		values:  make([]float64, n),
	}
	if s.typ == dto.MetricType_COUNTER {
		f.counters = make([]dto.Counter, n)
	} else {
		f.gauges = make([]dto.Gauge, n)
	}
	return f
}

// add appends a series; labels must be sorted by name.
func (f *family) add(v float64, labels []*dto.LabelPair) {
	i := len(f.mf.Metric)
	m := &f.metrics[i]
	f.values[i] = v
	m.Label = labels
	if f.counters != nil {
		f.counters[i].Value = &f.values[i]
		m.Counter = &f.counters[i]
	} else {
		f.gauges[i].Value = &f.values[i]
		m.Gauge = &f.gauges[i]
	}
	f.mf.Metric = append(f.mf.Metric, m)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
