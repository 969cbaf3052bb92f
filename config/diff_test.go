package config

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// site is a tree named site with root keys (one per line, "" for none)
// and children, each a node as a YAML flow mapping.
func site(keys string, kids ...string) string {
	var b strings.Builder
	b.WriteString("tree:\n  name: site\n")
	for _, k := range strings.Split(keys, "\n") {
		if k != "" {
			b.WriteString("  " + k + "\n")
		}
	}
	b.WriteString("  children:\n")
	for _, k := range kids {
		b.WriteString("    - " + k + "\n")
	}
	return b.String()
}

func lines(changes []Change) []string {
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = c.String()
	}
	return out
}

func TestDiff(t *testing.T) {
	t.Parallel()
	const (
		a   = "{name: a, command: a}"
		b   = "{name: b, command: b}"
		c   = "{name: c, command: c}"
		sub = "{name: sub, children: [{name: x, command: x}, {name: y, command: y}]}"
	)
	tests := []struct {
		name     string
		old, new string
		want     []string
	}{
		{"unchanged", site("", a, b, sub), site("", a, b, sub),
			[]string{"= site", "= site/a", "= site/b", "= site/sub", "= site/sub/x", "= site/sub/y"}},
		{"add", site("", a, b), site("", a, b, c),
			[]string{"= site", "= site/a", "= site/b", "+ site/c start"}},
		{"add in the middle", site("", a, c), site("", a, b, c),
			[]string{"= site", "= site/a", "+ site/b start", "= site/c"}},
		{"add a supervisor", site("", a), site("", a, sub),
			[]string{"= site", "= site/a", "+ site/sub start", "+ site/sub/x start", "+ site/sub/y start"}},
		{"add expected stopped", site("", a), site("", a, "{name: b, command: b, expected: stopped}"),
			[]string{"= site", "= site/a", "+ site/b add (expected stopped)"}},
		{"remove", site("", a, b, c), site("", a, c),
			[]string{"= site", "= site/a", "- site/b stop", "= site/c"}},
		{"remove where it was", site("", a, b, c, "{name: d, command: d}"), site("", "{name: d, command: d}", a),
			[]string{"= site", "= site/d", "= site/a", "- site/b stop", "- site/c stop"}},
		{"remove the first", site("", a, b), site("", b),
			[]string{"= site", "- site/a stop", "= site/b"}},
		{"remove a supervisor", site("", a, sub), site("", a),
			[]string{"= site", "= site/a", "- site/sub stop", "- site/sub/x stop", "- site/sub/y stop"}},
		{"change", site("", a, b), site("", "{name: a, command: a2, env: {K: v}}", b),
			[]string{"= site", "~ site/a restart (changed: command, env)", "= site/b"}},
		{"one_for_one changes one", site("strategy: one_for_one", a, b, c), site("strategy: one_for_one", a, "{name: b, command: b2}", c),
			[]string{"= site", "= site/a", "~ site/b restart (changed: command)", "= site/c"}},
		{"one_for_all", site("strategy: one_for_all", a, b, c), site("strategy: one_for_all", a, "{name: b, command: b2}", c),
			[]string{"= site", "~ site/a restart (one_for_all with site/b)", "~ site/b restart (changed: command)", "~ site/c restart (one_for_all with site/b)"}},
		{"one_for_all names the first changed", site("strategy: one_for_all", a, b, c),
			site("strategy: one_for_all", a, "{name: b, command: b2}", "{name: c, command: c2}"),
			[]string{"= site", "~ site/a restart (one_for_all with site/b)", "~ site/b restart (changed: command)", "~ site/c restart (changed: command)"}},
		{"rest_for_one", site("strategy: rest_for_one", a, b, c), site("strategy: rest_for_one", a, "{name: b, command: b2}", c),
			[]string{"= site", "= site/a", "~ site/b restart (changed: command)", "~ site/c restart (rest_for_one with site/b)"}},
		{"rest_for_one with a temporary after", site("strategy: rest_for_one", a, b, "{name: c, command: c, restart: temporary}"),
			site("strategy: rest_for_one", a, "{name: b, command: b2}", "{name: c, command: c, restart: temporary}"),
			[]string{"= site", "= site/a", "~ site/b restart (changed: command)", "- site/c stop (rest_for_one with site/b)"}},
		{"one_for_all with an added and a removed child", site("strategy: one_for_all", a, b, c),
			site("strategy: one_for_all", "{name: a, command: a2}", c, "{name: d, command: d}"),
			[]string{"= site", "~ site/a restart (changed: command)", "- site/b stop", "~ site/c restart (one_for_all with site/a)", "+ site/d start"}},
		{"one_for_all restarts a sibling supervisor whole", site("strategy: one_for_all", a, sub),
			site("strategy: one_for_all", "{name: a, command: a2}", "{name: sub, children: [{name: x, command: x}, {name: y, command: y2}, {name: z, command: z}]}"),
			[]string{"= site", "~ site/a restart (changed: command)", "~ site/sub restart (one_for_all with site/a)",
				"~ site/sub/x restart (under site/sub)", "~ site/sub/y restart (changed: command)", "+ site/sub/z start"}},
		{"nested supervisor strategy", site("", a, "{name: sub, strategy: one_for_all, children: [{name: x, command: x}, {name: y, command: y}]}"),
			site("", a, "{name: sub, strategy: one_for_all, children: [{name: x, command: x}, {name: y, command: y2}]}"),
			[]string{"= site", "= site/a", "= site/sub", "~ site/sub/x restart (one_for_all with site/sub/y)", "~ site/sub/y restart (changed: command)"}},
		{"nested change does not reach the parent's strategy", site("strategy: one_for_all", a, sub),
			site("strategy: one_for_all", a, "{name: sub, children: [{name: x, command: x2}, {name: y, command: y}]}"),
			[]string{"= site", "= site/a", "= site/sub", "~ site/sub/x restart (changed: command)", "= site/sub/y"}},
		{"type change", site("strategy: one_for_all", a, b), site("strategy: one_for_all", a, "{name: b, start: b}"),
			[]string{"= site", "= site/a", "- site/b stop (changed: type)", "+ site/b start (changed: type)"}},
		{"supervisor policy", site("", a, sub), site("", a, "{name: sub, strategy: rest_for_one, intensity: 9, children: [{name: x, command: x}, {name: y, command: y}]}"),
			[]string{"= site", "= site/a", "~ site/sub change (changed: strategy, intensity)", "= site/sub/x", "= site/sub/y"}},
		{"root policy", site("period: 5m", a), site("period: 10m", a),
			[]string{"~ site change (changed: period)", "= site/a"}},
		{"backoff only", site("", a, "{name: b, command: b, backoff: {max: 5s}}"), site("backoff: {initial: 1s}", a, "{name: b, command: b, backoff: none}"),
			[]string{"= site", "= site/a", "= site/b"}},
		{"expected stopped now", site("strategy: one_for_all", a, b), site("strategy: one_for_all", a, "{name: b, command: b, expected: stopped}"),
			[]string{"= site", "~ site/a restart (one_for_all with site/b)", "- site/b stop (changed: expected)"}},
		{"expected running now", site("", a, "{name: b, command: b, expected: stopped}"), site("", a, b),
			[]string{"= site", "= site/a", "+ site/b start (changed: expected)"}},
		{"stopped before and after", site("", "{name: a, command: a, expected: stopped}"), site("", "{name: a, command: a2, expected: stopped}"),
			[]string{"= site", "~ site/a change (changed: command)"}},
		{"a stopped sibling is not restarted", site("strategy: one_for_all", a, "{name: b, command: b, expected: stopped}"),
			site("strategy: one_for_all", "{name: a, command: a2}", "{name: b, command: b, expected: stopped}"),
			[]string{"= site", "~ site/a restart (changed: command)", "= site/b"}},
		{"supervisor stopped", site("", a, sub), site("", a, "{name: sub, expected: stopped, children: [{name: x, command: x}, {name: y, command: y}]}"),
			[]string{"= site", "= site/a", "~ site/sub change (changed: expected)", "- site/sub/x stop (changed: expected)", "- site/sub/y stop (changed: expected)"}},
		{"significant only", site("auto_shutdown: any_significant\nstrategy: one_for_all", a, "{name: b, command: b, restart: transient}"),
			site("auto_shutdown: any_significant\nstrategy: one_for_all", a, "{name: b, command: b, restart: transient, significant: true}"),
			[]string{"= site", "= site/a", "~ site/b change (changed: significant)"}},
		{"significant with a restarting change", site("auto_shutdown: any_significant\nstrategy: one_for_all", a, "{name: b, command: b, restart: transient}"),
			site("auto_shutdown: any_significant\nstrategy: one_for_all", a, "{name: b, command: b2, restart: transient, significant: true}"),
			[]string{"= site", "~ site/a restart (one_for_all with site/b)", "~ site/b restart (changed: significant, command)"}},
		{"significant under a restarted supervisor", site("strategy: one_for_all", a, "{name: sub, auto_shutdown: all_significant, children: [{name: x, command: x, restart: temporary}]}"),
			site("strategy: one_for_all", "{name: a, command: a2}", "{name: sub, auto_shutdown: all_significant, children: [{name: x, command: x, restart: temporary, significant: true}]}"),
			[]string{"= site", "~ site/a restart (changed: command)", "~ site/sub restart (one_for_all with site/a)", "~ site/sub/x restart (under site/sub)"}},
		{"auto_shutdown", site("", a), site("auto_shutdown: all_significant", a),
			[]string{"~ site change (changed: auto_shutdown)", "= site/a"}},
		{"supervisor restart type", site("", a, sub), site("", a, "{name: sub, restart: transient, children: [{name: x, command: x}, {name: y, command: y}]}"),
			[]string{"= site", "= site/a", "~ site/sub change (changed: restart)", "= site/sub/x", "= site/sub/y"}},
		{"supervisor significant", site("auto_shutdown: any_significant", a, "{name: sub, restart: transient, children: [{name: x, command: x}]}"),
			site("auto_shutdown: any_significant", a, "{name: sub, restart: transient, significant: true, children: [{name: x, command: x}]}"),
			[]string{"= site", "= site/a", "~ site/sub change (changed: significant)", "= site/sub/x"}},
		{"log", site("strategy: rest_for_one", a, b, c), site("strategy: rest_for_one", a, "{name: b, command: b, log: {to: stdout}}", c),
			[]string{"= site", "= site/a", "~ site/b restart (changed: log)", "~ site/c restart (rest_for_one with site/b)"}},
		{"inherited log", site("", a, "{name: s, start: s}"), site("log: {max_size: 1MiB}", a, "{name: s, start: s}"),
			[]string{"= site", "~ site/a restart (changed: log)", "= site/s"}},
		{"root renamed", site("", a), strings.Replace(site("", a), "name: site", "name: other", 1),
			[]string{"- site stop", "- site/a stop", "+ other start", "+ other/a start"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := lines(Diff(mustLoad(t, tt.old).Tree, mustLoad(t, tt.new).Tree))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tt.want, "\n\t"))
			}
		})
	}
}

func TestDiffFields(t *testing.T) {
	t.Parallel()
	old := mustLoad(t, site("", "{name: a, command: a, env: {K: v}}", "{name: s, control: svc}")).Tree
	cur := mustLoad(t, site("intensity: 7", "{name: a, command: a, env: {K: w}, stop_signal: INT}", "{name: s, control: svc2}")).Tree
	got := Diff(old, cur)
	want := []Change{
		{Path: "site", Action: ActionChange, Reason: "changed: intensity", Fields: []string{"intensity"}},
		{Path: "site/a", Action: ActionRestart, Reason: "changed: env, stop_signal", Fields: []string{"env", "stop_signal"}},
		// control derives the other commands and the pattern
		{Path: "site/s", Action: ActionRestart, Reason: "changed: status, control, start, stop, restart, pattern",
			Fields: []string{"status", "control", "start", "stop", "restart", "pattern"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if Diff(nil, nil) != nil {
		t.Error("Diff(nil, nil) is not empty")
	}
	if got := lines(Diff(nil, old)); !slices.Equal(got, []string{"+ site start", "+ site/a start", "+ site/s start"}) {
		t.Errorf("Diff(nil, old) = %v", got)
	}
}

// Every field of Node is either compared, under its YAML key, or left out
// on purpose; a change to any compared field changes the fingerprint and
// is reported. A field added to Node fails here until it is placed.
func TestChangedFieldsCoverNode(t *testing.T) {
	t.Parallel()
	base := mustLoad(t, site("", "{name: a, command: a}")).Tree.Children[0]
	typ := reflect.TypeOf(*base)
	for i := range typ.NumField() {
		f := typ.Field(i)
		key, compared := diffKeys[f.Name]
		if compared == notCompared[f.Name] {
			t.Errorf("Node.%s: in both or neither of diffKeys and notCompared", f.Name)
			continue
		}
		if !compared {
			continue
		}
		n := *base
		if !mutate(reflect.ValueOf(&n).Elem().Field(i)) {
			t.Errorf("Node.%s: the test cannot change a %s", f.Name, f.Type)
			continue
		}
		if got := ChangedFields(base, &n); !slices.Equal(got, []string{key}) {
			t.Errorf("Node.%s changed: fields %v, want [%s]", f.Name, got, key)
		}
		switch inFP := !contains(inPlace, key); {
		case inFP && base.Fingerprint() == n.Fingerprint():
			t.Errorf("Node.%s changed: the fingerprint did not", f.Name)
		case !inFP && base.Fingerprint() != n.Fingerprint():
			t.Errorf("Node.%s changed: the fingerprint did, though a reload applies it in place", f.Name)
		}
	}
	for name := range diffKeys {
		if _, ok := typ.FieldByName(name); !ok {
			t.Errorf("diffKeys names %s, which Node has not", name)
		}
	}
}

// mutate gives v another value, reporting false for a kind it does not
// know.
func mutate(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Int, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Slice:
		v.Set(reflect.Append(v, reflect.ValueOf("x")))
	case reflect.Pointer:
		if !v.IsNil() {
			return false
		}
		v.Set(reflect.New(v.Type().Elem()))
	case reflect.Struct:
		return mutate(v.Field(0))
	default:
		return false
	}
	return true
}

// The definitions a daemon serves or saves are JSON; read back, they must
// compare equal to the ones they came from, or a plan would list changes
// a reload does not make.
func TestDiffAfterJSON(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, `
settings:
  log: {max_size: 10MiB, keep: 3}
tree:
  name: site
  strategy: one_for_all
  auto_shutdown: any_significant
  restart: transient
  backoff: {initial: 2s}
  children:
    - name: api
      command: ["/bin/api", "-x"]
      env: {A: "1", B: ""}
      restart: transient
      significant: true
      log: {to: stdout, prefix: "[{name}] ", timestamps: false}
      stop_signal: INT
      stop_timeout: 1500ms
      stdout: discard
      ready: fd:3
      ready_timeout: 5s
      status: /bin/check
      probes:
        readiness: {http: "http://127.0.0.1:8080/ready", period: 2s}
        liveness: {exec: [/bin/alive], failure_threshold: 5}
    - name: svc
      control: service foo
      pattern: "foo.*"
      path: /usr/sbin
      pidfile: /run/foo.pid
    - name: sub
      expected: stopped
      children:
        - {name: x, command: x, ready: notify, watchdog: 3s}
`)
	c.ResolveLogs("/state")
	b, err := json.Marshal(c.Tree)
	if err != nil {
		t.Fatal(err)
	}
	var back Node
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if got := Affected(Diff(c.Tree, &back)); len(got) != 0 {
		t.Errorf("after a JSON round trip: %v", lines(got))
	}
	if got := len(Diff(c.Tree, &back)); got != 5 {
		t.Errorf("%d changes, want one per node (5)", got)
	}
}

func TestWriteChanges(t *testing.T) {
	t.Parallel()
	changes := []Change{
		{Path: "site", Action: ActionSame},
		{Path: "site/a", Action: ActionRestart, Reason: "changed: command", Fields: []string{"command"}},
		{Path: "site/b", Action: ActionStart},
	}
	var b strings.Builder
	if err := WriteChanges(&b, changes, false); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "~ site/a restart (changed: command)\n+ site/b start\n"; got != want {
		t.Errorf("text = %q, want %q", got, want)
	}
	b.Reset()
	_ = WriteChanges(&b, changes, true)
	if got, want := b.String(), "= site\n~ site/a restart (changed: command)\n+ site/b start\n"; got != want {
		t.Errorf("text, all = %q, want %q", got, want)
	}
	b.Reset()
	_ = WriteChangesJSON(&b, changes, false)
	want := `{"changes":[{"path":"site/a","action":"restart","reason":"changed: command","fields":["command"]},` +
		`{"path":"site/b","action":"start","reason":"","fields":[]}]}` + "\n"
	if got := b.String(); got != want {
		t.Errorf("json = %s, want %s", got, want)
	}
	b.Reset()
	_ = WriteChangesJSON(&b, nil, false)
	if got := b.String(); got != "{\"changes\":[]}\n" {
		t.Errorf("json of no change = %s", got)
	}
	for _, c := range []Change{{Path: "p", Action: ActionAdd, Reason: "expected stopped"}, {Path: "p", Action: ActionStop}, {Path: "p", Action: ActionChange, Reason: "changed: period"}} {
		want := map[string]string{ActionAdd: "+ p add (expected stopped)", ActionStop: "- p stop", ActionChange: "~ p change (changed: period)"}[c.Action]
		if got := c.String(); got != want {
			t.Errorf("%+v: %q, want %q", c, got, want)
		}
	}
}
