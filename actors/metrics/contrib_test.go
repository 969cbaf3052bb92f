package metrics

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/otpsv/otpsv/actors/event"
)

// exposed are the names of the otpsv families a scrape can have.
func exposed(t *testing.T) map[string]bool {
	t.Helper()
	m := New("dev", fakeTree)
	m.Observe(event.Event{Kind: event.Restarting, Path: "site/w", Cause: event.CauseExit, Restarted: []string{"site/w"}})
	m.Observe(event.Event{Kind: event.ProbeFailed, Path: "site/w", Probe: "liveness"})
	fams, err := m.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
	}
	return names
}

var otpsvName = regexp.MustCompile(`\botpsv_[a-z_]+`)

// checkNames fails for every otpsv_ name in exprs that no scrape has.
func checkNames(t *testing.T, what string, exprs []string) {
	t.Helper()
	names := exposed(t)
	for _, e := range exprs {
		for _, n := range otpsvName.FindAllString(e, -1) {
			if !names[n] {
				t.Errorf("%s: %s: no metric %s", what, e, n)
			}
		}
	}
}

// promtoolRules runs `promtool check rules` on a rules file, when
// promtool is installed.
func promtoolRules(t *testing.T, rules string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not on PATH: rules not checked")
		return
	}
	f := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(f, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s\n%s", err, out, rules)
	}
}

// TestDashboard: contrib/grafana-otpsv.json is JSON in Grafana's model,
// its queries name metrics that exist, and they parse as PromQL.
func TestDashboard(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../contrib/grafana-otpsv.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Inputs []struct {
			Name, Type, PluginID string
		} `json:"__inputs"`
		SchemaVersion int `json:"schemaVersion"`
		Panels        []struct {
			Title      string `json:"title"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				Expr  string `json:"expr"`
				RefID string `json:"refId"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if len(d.Inputs) != 1 || d.Inputs[0].Name != "DS_PROMETHEUS" || d.Inputs[0].PluginID != "prometheus" || d.SchemaVersion < 36 {
		t.Errorf("inputs %+v, schema %d: want one DS_PROMETHEUS prometheus input, Grafana 10's schema", d.Inputs, d.SchemaVersion)
	}
	var exprs []string
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, p := range d.Panels {
		if p.Datasource.UID != "${DS_PROMETHEUS}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %q, %d targets", p.Title, p.Datasource.UID, len(p.Targets))
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
			// Grafana's variables, as Grafana would fill them in
			e := strings.NewReplacer("$instance", ".*", "$__rate_interval", "1m", "$__range", "1h").Replace(tg.Expr)
			q, _ := json.Marshal(e)
			rules.WriteString("      - record: dashboard:panel" + string(rune('a'+i)) + ":" + tg.RefID + "\n        expr: " + string(q) + "\n")
		}
	}
	checkNames(t, "dashboard", exprs)
	promtoolRules(t, rules.String())
}

// TestDocsRules: the alert rules of docs/metrics.md are valid and name
// metrics that exist.
func TestDocsRules(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```yaml\ngroups:\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no ```yaml groups: block in docs/metrics.md")
	}
	rules := "groups:\n" + block
	checkNames(t, "docs/metrics.md", []string{rules})
	promtoolRules(t, rules)
}
