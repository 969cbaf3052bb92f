package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/otpsv/otpsv/actors/policy"
)

// job is a tree whose root supervisor r has the key lines root (from
// line 3) and one child, the process worker r/w, with the key lines kid
// (from line 6 + len(root)).
func job(root []string, kid ...string) string {
	return "tree:\n  name: r\n" + indent("  ", root) + "  children:\n    - name: w\n      command: x\n" + indent("      ", kid)
}

// shutdown is the part of a Node these tests look at.
type shutdown struct {
	Restart      policy.RestartType
	Significant  bool
	AutoShutdown AutoShutdown
}

func shutdownOf(n *Node) shutdown { return shutdown{n.Restart, n.Significant, n.AutoShutdown} }

func TestSignificantValid(t *testing.T) {
	t.Parallel()
	onAny := []string{"auto_shutdown: any_significant"}
	tests := []struct {
		name      string
		src       string
		root, kid shutdown
	}{
		{"defaults", job(nil), shutdown{}, shutdown{}},
		{"transient under any", job(onAny, "restart: transient", "significant: true"),
			shutdown{AutoShutdown: AutoShutdownAnySignificant}, shutdown{Restart: policy.Transient, Significant: true}},
		{"temporary under all", job([]string{"auto_shutdown: all_significant"}, "restart: temporary", "significant: true"),
			shutdown{AutoShutdown: AutoShutdownAllSignificant}, shutdown{Restart: policy.Temporary, Significant: true}},
		{"explicit never", job([]string{"auto_shutdown: never"}), shutdown{}, shutdown{}},
		{"not significant, permanent, under never", job(nil, "significant: false"), shutdown{}, shutdown{}},
		{"significant from a variable", "vars: {s: \"true\"}\n" + job(onAny, "restart: transient", "significant: ${s}"),
			shutdown{AutoShutdown: AutoShutdownAnySignificant}, shutdown{Restart: policy.Transient, Significant: true}},
		{"TRUE", job(onAny, "restart: transient", "significant: TRUE"),
			shutdown{AutoShutdown: AutoShutdownAnySignificant}, shutdown{Restart: policy.Transient, Significant: true}},
		{"restart on a supervisor", job([]string{"restart: temporary"}), shutdown{Restart: policy.Temporary}, shutdown{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := mustLoad(t, tt.src)
			if got := shutdownOf(c.Tree); got != tt.root {
				t.Errorf("r: got %+v, want %+v", got, tt.root)
			}
			if got := shutdownOf(c.Find("r/w")); got != tt.kid {
				t.Errorf("r/w: got %+v, want %+v", got, tt.kid)
			}
		})
	}
}

// TestSignificantSupervisor: a transient supervisor may be significant
// under its parent, and a service worker may say it is not.
func TestSignificantSupervisor(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, `
tree:
  name: r
  auto_shutdown: all_significant
  children:
    - name: jobs
      restart: transient
      significant: true
      auto_shutdown: any_significant
      children:
        - {name: migrate, command: x, restart: temporary, significant: true}
        - {name: serve, command: y}
    - {name: svc, start: z, significant: false}
`)
	for p, want := range map[string]shutdown{
		"r":              {AutoShutdown: AutoShutdownAllSignificant},
		"r/jobs":         {Restart: policy.Transient, Significant: true, AutoShutdown: AutoShutdownAnySignificant},
		"r/jobs/migrate": {Restart: policy.Temporary, Significant: true},
		"r/jobs/serve":   {},
		"r/svc":          {},
	} {
		if got := shutdownOf(c.Find(p)); got != want {
			t.Errorf("%s: got %+v, want %+v", p, got, want)
		}
	}
}

func TestSignificantErrors(t *testing.T) {
	t.Parallel()
	onAny := []string{"auto_shutdown: any_significant"}
	cases := []errCase{
		{"permanent by default", job(onAny, "significant: true"), ErrSignificant, "7: r/w: significant: ",
			"significant child not allowed: it is permanent (give it restart: transient or temporary)"},
		{"permanent written", job(onAny, "restart: permanent", "significant: true"), ErrSignificant, "8: r/w: significant: ", "it is permanent"},
		{"under never by default", job(nil, "restart: transient", "significant: true"), ErrSignificant, "7: r/w: significant: ",
			"significant child not allowed: its supervisor r has auto_shutdown: never (give it any_significant or all_significant)"},
		{"under never written", job([]string{"auto_shutdown: never"}, "restart: temporary", "significant: true"), ErrSignificant, "8: r/w: significant: ",
			"its supervisor r has auto_shutdown: never"},
		{"service", "tree:\n  name: r\n  auto_shutdown: any_significant\n  children:\n    - name: w\n      start: x\n      significant: true\n",
			ErrSignificant, "7: r/w: significant: ", "a service worker is always permanent"},
		{"permanent supervisor", "tree:\n  name: r\n  auto_shutdown: any_significant\n  children:\n    - name: s\n      significant: true\n      children: [{name: w, command: x}]\n",
			ErrSignificant, "6: r/s: significant: ", "it is permanent"},
		{"root supervisor", job([]string{"restart: transient", "significant: true"}), ErrSignificant, "4: r: significant: ",
			"significant child not allowed: the root has no supervisor to shut down"},
		{"root worker", "tree:\n  name: r\n  command: x\n  restart: temporary\n  significant: true\n", ErrSignificant, "5: r: significant: ",
			"the root has no supervisor"},
		{"unknown auto_shutdown", job([]string{"auto_shutdown: sometimes"}, "restart: transient", "significant: true"), ErrInvalidValue, "3: r: auto_shutdown: ",
			`unknown auto_shutdown "sometimes" (want never, any_significant or all_significant)`},
		{"auto_shutdown a list", job([]string{"auto_shutdown: [any_significant]"}), ErrType, "3: r: auto_shutdown: ", "want a string, got a list"},
		{"auto_shutdown on a worker", job(nil, "auto_shutdown: any_significant"), ErrUnknownKey, "6: r/w: ",
			`unknown key "auto_shutdown" for a process worker`},
		{"unknown restart on a supervisor", job([]string{"restart: sometimes"}), ErrInvalidValue, "3: r: restart: ", `"sometimes"`},
		{"bad restart is not also permanent", job(onAny, "restart: often", "significant: true"), ErrInvalidValue, "7: r/w: restart: ", `"often"`},
		{"significant yes", job(onAny, "restart: transient", "significant: yes"), ErrInvalidValue, "8: r/w: significant: ",
			`"yes" is not a boolean (want true or false)`},
		{"significant a list", job(onAny, "restart: transient", "significant: [true]"), ErrType, "8: r/w: significant: ", "want a string, got a list"},
		{"significant undefined variable", job(onAny, "restart: transient", "significant: ${sig}"), ErrUndefinedVar, "8: r/w: significant: ", "${sig}"},
	}
	runKeyErrors(t, cases)
}

// TestSignificantBothErrors: a permanent significant child under never
// has two problems, and both are reported.
func TestSignificantBothErrors(t *testing.T) {
	t.Parallel()
	_, err := loadAs(t, job(nil, "significant: true", "restart: permanent"), 1000)
	var got []string
	for _, fe := range fieldErrors(t, err) {
		got = append(got, fe.Error())
	}
	want := []string{
		testFile + ":6: r/w: significant: significant child not allowed: it is permanent (give it restart: transient or temporary)",
		testFile + ":6: r/w: significant: significant child not allowed: its supervisor r has auto_shutdown: never (give it any_significant or all_significant)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// TestSignificantInIncludedFile: the supervisor checks a child defined
// in another file, and the error names that file.
func TestSignificantInIncludedFile(t *testing.T) {
	t.Parallel()
	dir, _, err := loadDir(t, map[string]string{
		"otpsv.yaml":    "tree:\n  name: r\n  children:\n    - include: conf.d/*.yaml\n",
		"conf.d/a.yaml": "name: w\ncommand: x\nrestart: transient\nsignificant: true\n",
	})
	requireAt(t, err, ErrSignificant, filepath.Join(dir, "conf.d/a.yaml"), 4)
	_, c, err := loadDir(t, map[string]string{
		"otpsv.yaml":    "tree:\n  name: r\n  auto_shutdown: any_significant\n  children:\n    - include: conf.d/*.yaml\n",
		"conf.d/a.yaml": "name: w\ncommand: x\nrestart: transient\nsignificant: true\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Find("r/w").Significant {
		t.Error("r/w is not significant")
	}
}

func TestAutoShutdownString(t *testing.T) {
	t.Parallel()
	for s, want := range map[AutoShutdown]string{
		AutoShutdownNever: "never", AutoShutdownAnySignificant: "any_significant", AutoShutdownAllSignificant: "all_significant", 7: "AutoShutdown(7)", -1: "AutoShutdown(-1)",
	} {
		if got := s.String(); got != want {
			t.Errorf("AutoShutdown(%d) = %q, want %q", int(s), got, want)
		}
	}
}
