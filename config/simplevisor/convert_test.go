package simplevisor

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/otpsv/otpsv/actors/policy"
	"github.com/otpsv/otpsv/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// loadOutput writes an imported configuration to a temporary file and
// loads it as `otpsv validate` does.
func loadOutput(t *testing.T, out []byte) *config.Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "otpsv.yaml")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.LoadFile(p)
	if err != nil {
		t.Fatalf("the output does not load: %v\n%s", err, out)
	}
	return c
}

func TestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		format Format
		golden string
	}{
		{"testdata/example/simplevisor.conf.example", Apache, "testdata/example/otpsv.yaml"},
		{"testdata/instance/simplevisor.conf", Apache, "testdata/instance/otpsv.yaml"},
		{"testdata/golden/full.conf", Apache, "testdata/golden/full.conf.yaml"},
		{"testdata/golden/full.json", JSON, "testdata/golden/full.json.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			out, err := Import(tt.in, tt.format)
			if err != nil {
				t.Fatal(err)
			}
			loadOutput(t, out)
			if *update {
				if err := os.WriteFile(tt.golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(tt.golden)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != string(want) {
				t.Errorf("%s differs from %s (go test -update rewrites it):\n%s", tt.in, tt.golden, out)
			}
		})
	}
}

// importFiles writes files (main.conf or main.json is the main one) and
// imports the main file.
func importFiles(t *testing.T, files map[string]string) ([]byte, error) {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	if _, ok := files["main.json"]; ok {
		return Import(filepath.Join(dir, "main.json"), JSON)
	}
	return Import(filepath.Join(dir, "main.conf"), Apache)
}

// inTop puts entries in a supervisor named top.
func inTop(entries string) string {
	return "<entry>\ntype = supervisor\nname = top\n<children>\n" + entries + "</children>\n</entry>\n"
}

func TestKeyMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		conf  string // the whole main.conf
		path  string // the node to check
		check func(t *testing.T, c *config.Config, n *config.Node)
	}{
		{
			name: "control",
			conf: inTop("<entry>\ntype = service\nname = s\ncontrol = /sbin/service my%20svc\n</entry>\n"),
			path: "top/s",
			check: func(t *testing.T, _ *config.Config, n *config.Node) {
				eq(t, "type", n.Type, config.Service)
				eq(t, "control", n.Control, []string{"/sbin/service", "my svc"})
				eq(t, "start", n.Start, []string{"/sbin/service", "my svc", "start"})
				eq(t, "status", n.Status, []string{"/sbin/service", "my svc", "status"})
				// simplevisor 1.3 restarts with stop then start.
				eq(t, "stop+start", n.StopStart, true)
			},
		},
		{
			name: "start, stop, status, restart, timeout, path",
			conf: inTop("<entry>\ntype = service\nname = s\nstart = /bin/a --x a%2Fb%zz\nstop = /bin/a stop\nstatus = /bin/a status\nrestart = /bin/a restart\ntimeout = 7\npath = /bin:/usr/bin\n</entry>\n"),
			path: "top/s",
			check: func(t *testing.T, _ *config.Config, n *config.Node) {
				eq(t, "start", n.Start, []string{"/bin/a", "--x", "a/b%zz"})
				eq(t, "stop", n.Stop, []string{"/bin/a", "stop"})
				eq(t, "status", n.Status, []string{"/bin/a", "status"})
				eq(t, "restart", n.RestartCmd, []string{"/bin/a", "restart"})
				eq(t, "timeout", n.Timeout, 7*time.Second)
				eq(t, "path", n.SearchPath, "/bin:/usr/bin")
			},
		},
		{
			name: "restart stop+start with control",
			conf: inTop("<entry>\ntype = service\nname = s\ncontrol = /etc/init.d/s\nrestart = stop+start\n</entry>\n"),
			path: "top/s",
			check: func(t *testing.T, _ *config.Config, n *config.Node) {
				eq(t, "stop+start", n.StopStart, true)
				eq(t, "restart", n.RestartCmd, []string(nil))
			},
		},
		{
			name: "pattern",
			conf: inTop("<entry>\ntype = service\nname = s\nstart = /bin/s --daemon\npattern = ^/bin/s( |$)\n</entry>\n"),
			path: "top/s",
			check: func(t *testing.T, _ *config.Config, n *config.Node) {
				eq(t, "pattern", n.Pattern, "^/bin/s( |$)")
				eq(t, "pattern set", n.PatternSet, true)
			},
		},
		{
			name: "no pattern: the start command, literally",
			conf: inTop("<entry>\ntype = service\nname = s\nstart = /bin/s.py --daemon\n</entry>\n"),
			path: "top/s",
			check: func(t *testing.T, _ *config.Config, n *config.Node) {
				eq(t, "pattern set", n.PatternSet, false)
				eq(t, "pattern", n.Pattern, `/bin/s\.py --daemon`)
			},
		},
		{
			name: "status without stop: stop did nothing",
			conf: inTop("<entry>\ntype = service\nname = s\nstart = /bin/s\nstatus = /bin/s-status\n</entry>\n"),
			path: "top/s",
			check: func(t *testing.T, _ *config.Config, n *config.Node) {
				eq(t, "stop", n.Stop, []string{"/bin/true"})
			},
		},
		{
			name: "daemon: a process worker",
			conf: inTop("<entry>\ntype = service\nname = d\ndaemon = /run/d.pid\nstart = /bin/d --fg\nstop = ignored\nstatus = ignored\ntimeout = 9\npath = /opt/d/bin:/bin\nrestart = stop+start\n</entry>\n"),
			path: "top/d",
			check: func(t *testing.T, _ *config.Config, n *config.Node) {
				eq(t, "type", n.Type, config.Process)
				eq(t, "command", n.Command, []string{"/bin/d", "--fg"})
				eq(t, "restart", n.Restart, policy.Permanent)
				eq(t, "stop_timeout", n.StopTimeout, 9*time.Second)
				eq(t, "env", n.Env, []string{"PATH=/opt/d/bin:/bin"})
				eq(t, "status", n.Status, []string(nil))
			},
		},
		{
			name: "expected stopped",
			conf: inTop("<entry>\ntype = service\nname = s\nstart = /bin/s\nexpected = stopped\n</entry>\n"),
			path: "top/s",
			check: func(t *testing.T, _ *config.Config, n *config.Node) {
				eq(t, "expected", n.Expected, config.Stopped)
			},
		},
		{
			name: "a supervisor's running is imposed",
			conf: "<entry>\ntype = supervisor\nname = top\nexpected = running\n<children>\n<entry>\ntype = supervisor\nname = mid\nexpected = stopped\n<children>\n<entry>\ntype = service\nname = s\nstart = /bin/s\nexpected = stopped\n</entry>\n</children>\n</entry>\n</children>\n</entry>\n",
			path: "top/mid/s",
			check: func(t *testing.T, c *config.Config, n *config.Node) {
				eq(t, "expected", n.Expected, config.Running)
				eq(t, "mid expected", c.Find("top/mid").Expected, config.Running)
			},
		},
		{
			name: "a supervisor's stopped is imposed",
			conf: "<entry>\ntype = supervisor\nname = top\nexpected = STOPPED\n<children>\n<entry>\ntype = service\nname = s\nstart = /bin/s\nexpected = running\n</entry>\n</children>\n</entry>\n",
			path: "top/s",
			check: func(t *testing.T, c *config.Config, n *config.Node) {
				eq(t, "expected", n.Expected, config.Stopped)
			},
		},
		{
			name: "supervisor: strategy, window, adjustments, interval",
			conf: "<simplevisor>\ninterval = 45\n</simplevisor>\n<entry>\ntype = supervisor\nname = top\nstrategy = rest_for_one\nwindow = 4\nadjustments = 0\n<children>\n<entry>\ntype = service\nname = s\nstart = /bin/s\n</entry>\n</children>\n</entry>\n",
			path: "top",
			check: func(t *testing.T, c *config.Config, n *config.Node) {
				eq(t, "type", n.Type, config.Supervisor)
				eq(t, "strategy", n.Strategy, policy.RestForOne)
				eq(t, "intensity", n.Intensity, 0)
				eq(t, "period", n.Period, 3*time.Minute)
				eq(t, "check_interval", c.Settings.CheckInterval, 45*time.Second)
			},
		},
		{
			name: "supervisor defaults: one_for_one, 3 in 12 cycles of 60s, named supervisor",
			conf: "<entry>\ntype = supervisor\n<children>\n<entry>\ntype = service\nname = s\nstart = /bin/s\n</entry>\n</children>\n</entry>\n",
			path: "supervisor",
			check: func(t *testing.T, c *config.Config, n *config.Node) {
				eq(t, "strategy", n.Strategy, policy.OneForOne)
				eq(t, "intensity", n.Intensity, 3)
				eq(t, "period", n.Period, 12*time.Minute)
				eq(t, "check_interval", c.Settings.CheckInterval, time.Minute)
				eq(t, "log_level", c.Settings.LogLevel, "warn")
			},
		},
		{
			name: "simplevisor section: store, loglevel, the rest as comments",
			conf: "<simplevisor>\nstore = /var/lib/x/data/s.json\nloglevel = debug\nlog = file\nlogfile = /var/log/x.log\nlogname = x\npidfile = /run/x.pid\ndaemon = 1\nconftype = apache\n</simplevisor>\n" + inTop("<entry>\ntype = service\nname = s\nstart = /bin/s\n</entry>\n"),
			path: "top",
			check: func(t *testing.T, c *config.Config, n *config.Node) {
				eq(t, "state_dir", c.Settings.StateDir, "/var/lib/x/data/otpsv")
				eq(t, "log_level", c.Settings.LogLevel, "debug")
			},
		},
		{
			name: "a lone service at the top",
			conf: "<entry>\ntype = service\nname = s\ncontrol = /etc/init.d/s\n</entry>\n",
			path: "s",
			check: func(t *testing.T, c *config.Config, n *config.Node) {
				eq(t, "type", n.Type, config.Service)
			},
		},
		{
			name: "control characters are escaped, in values and comments",
			conf: inTop("<entry>\ntype = service\nname = s\nstart = /bin/s \x1bX\u200b\nlogname = a\x07b\n</entry>\n"),
			path: "top/s",
			check: func(t *testing.T, c *config.Config, n *config.Node) {
				eq(t, "start", n.Start, []string{"/bin/s", "\x1bX\u200b"})
			},
		},
		{
			name: "dollars stay literal",
			conf: inTop("<entry>\ntype = service\nname = s\nstart = /bin/sh -c 'exec /bin/s --home $HOME ${x}'\npattern = s$\n</entry>\n"),
			path: "top/s",
			check: func(t *testing.T, c *config.Config, n *config.Node) {
				eq(t, "start", n.Start, []string{"/bin/sh", "-c", "'exec", "/bin/s", "--home", "$HOME", "${x}'"})
				eq(t, "pattern", n.Pattern, "s$")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := importFiles(t, map[string]string{"main.conf": tt.conf})
			if err != nil {
				t.Fatal(err)
			}
			c := loadOutput(t, out)
			n := c.Find(tt.path)
			if n == nil {
				t.Fatalf("no node %s in\n%s", tt.path, out)
			}
			tt.check(t, c, n)
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}
}

func eq(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

// TestComments checks that the output explains what differs.
func TestComments(t *testing.T) {
	t.Parallel()
	out, err := Import("testdata/golden/full.conf", Apache)
	if err != nil {
		t.Fatal(err)
	}
	// The comments' words, without the # that start their lines.
	var words []string
	for _, w := range strings.Fields(string(out)) {
		if w != "#" {
			words = append(words, w)
		}
	}
	text := strings.Join(words, " ")
	for _, want := range []string{
		"it counted cycles, not restarts",
		"window x interval = 10 x 30s",
		"simplevisor: daemon = /var/run/worker.pid",
		"simplevisor imposed a supervisor's expected state, running included",
		"its stop did nothing",
		"otpsv logs to its standard error: run `otpsv daemon 2>>/var/log/site/simplevisor.log`",
		"from full.d/10-batch.conf:3",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	svc := func(body string) string {
		return inTop("<entry>\ntype = service\nname = s\n" + body + "</entry>\n")
	}
	// svc's body starts at line 8.
	tests := []struct {
		name  string
		files map[string]string
		errs  []wantErr
	}{
		{"unknown key", map[string]string{"main.conf": svc("start = /bin/s\nuser = nobody\n")}, []wantErr{{"main.conf", 9, ErrUnknownKey}}},
		{"a supervisor's key on a service", map[string]string{"main.conf": svc("start = /bin/s\nwindow = 3\n")}, []wantErr{{"main.conf", 9, ErrUnknownKey}}},
		{"a service's key on a supervisor", map[string]string{"main.conf": "<entry>\ntype = supervisor\nname = top\nstart = /bin/x\n<children>\n<entry>\ntype = service\nname = s\nstart = /bin/s\n</entry>\n</children>\n</entry>\n"}, []wantErr{{"main.conf", 4, ErrUnknownKey}}},
		{"duplicate key", map[string]string{"main.conf": svc("start = /bin/s\nstart = /bin/t\n")}, []wantErr{{"main.conf", 9, ErrDuplicateKey}}},
		{"no type", map[string]string{"main.conf": inTop("<entry>\nname = s\nstart = /bin/s\n</entry>\n")}, []wantErr{{"main.conf", 5, ErrMissingKey}}},
		{"unknown type", map[string]string{"main.conf": inTop("<entry>\ntype = worker\nname = s\nstart = /bin/s\n</entry>\n")}, []wantErr{{"main.conf", 6, ErrInvalidValue}}},
		{"service without name", map[string]string{"main.conf": inTop("<entry>\ntype = service\nstart = /bin/s\n</entry>\n")}, []wantErr{{"main.conf", 5, ErrMissingKey}}},
		{"name otpsv refuses", map[string]string{"main.conf": inTop("<entry>\ntype = service\nname = my%20app/x\nstart = /bin/s\n</entry>\n")}, []wantErr{{"main.conf", 7, ErrInvalidValue}}},
		{"two entries with one name", map[string]string{"main.conf": inTop("<entry>\ntype = service\nname = s\nstart = /bin/s\n</entry>\n<entry>\ntype = service\nname = s\nstart = /bin/t\n</entry>\n")}, []wantErr{{"main.conf", 10, ErrDuplicateKey}}},
		{"start and control", map[string]string{"main.conf": svc("start = /bin/s\ncontrol = /etc/init.d/s\n")}, []wantErr{{"main.conf", 9, ErrConflict}}},
		{"daemon and control", map[string]string{"main.conf": svc("control = /etc/init.d/s\ndaemon = /run/s.pid\n")}, []wantErr{{"main.conf", 9, ErrConflict}}},
		{"pattern and status", map[string]string{"main.conf": svc("start = /bin/s\nstatus = /bin/st\npattern = s\n")}, []wantErr{{"main.conf", 10, ErrConflict}}},
		{"pattern and stop", map[string]string{"main.conf": svc("start = /bin/s\npattern = s\nstop = /bin/stop\n")}, []wantErr{{"main.conf", 10, ErrConflict}}},
		{"pattern and control", map[string]string{"main.conf": svc("control = /etc/init.d/s\npattern = s\n")}, []wantErr{{"main.conf", 9, ErrConflict}}},
		{"neither start nor control", map[string]string{"main.conf": svc("stop = /bin/stop\n")}, []wantErr{{"main.conf", 5, ErrMissingKey}}},
		{"service expected", map[string]string{"main.conf": svc("start = /bin/s\nexpected = Running\n")}, []wantErr{{"main.conf", 9, ErrInvalidValue}}},
		{"supervisor expected", map[string]string{"main.conf": "<entry>\ntype = supervisor\nname = top\nexpected = up\n<children>\n<entry>\ntype = service\nname = s\nstart = /bin/s\n</entry>\n</children>\n</entry>\n"}, []wantErr{{"main.conf", 4, ErrInvalidValue}}},
		{"strategy", map[string]string{"main.conf": "<entry>\ntype = supervisor\nname = top\nstrategy = simple_one_for_one\n<children>\n<entry>\ntype = service\nname = s\nstart = /bin/s\n</entry>\n</children>\n</entry>\n"}, []wantErr{{"main.conf", 4, ErrInvalidValue}}},
		{"window, adjustments", map[string]string{"main.conf": "<entry>\ntype = supervisor\nname = top\nwindow = 0\nadjustments = -1\n<children>\n<entry>\ntype = service\nname = s\nstart = /bin/s\n</entry>\n</children>\n</entry>\n"}, []wantErr{{"main.conf", 4, ErrInvalidValue}, {"main.conf", 5, ErrInvalidValue}}},
		{"not a number", map[string]string{"main.conf": svc("start = /bin/s\ntimeout = 1.5\n")}, []wantErr{{"main.conf", 9, ErrInvalidValue}}},
		{"timeout 0", map[string]string{"main.conf": svc("start = /bin/s\ntimeout = 0\n")}, []wantErr{{"main.conf", 9, ErrInvalidValue}}},
		{"interval 0", map[string]string{"main.conf": "<simplevisor>\ninterval = 0\n</simplevisor>\n" + svc("start = /bin/s\n")}, []wantErr{{"main.conf", 2, ErrInvalidValue}}},
		{"restart command on daemon", map[string]string{"main.conf": svc("start = /bin/s\ndaemon = /run/s.pid\nrestart = /bin/s restart\n")}, []wantErr{{"main.conf", 10, ErrUnsupported}}},
		{"pattern RE2 refuses", map[string]string{"main.conf": svc("start = /bin/s\npattern = (?<=x)s\n")}, []wantErr{{"main.conf", 9, ErrInvalidValue}}},
		{"start that is no regular expression", map[string]string{"main.conf": svc("start = /bin/s (\n")}, []wantErr{{"main.conf", 8, ErrInvalidValue}}},
		{"NUL in a command", map[string]string{"main.conf": svc("start = /bin/s %00\n")}, []wantErr{{"main.conf", 8, ErrInvalidValue}}},
		{"NUL byte in a value", map[string]string{"main.conf": svc("start = /bin/s\x00x\n")}, []wantErr{{"main.conf", 8, ErrInvalidValue}}},
		{"empty command", map[string]string{"main.conf": svc("start = \"  \"\n")}, []wantErr{{"main.conf", 8, ErrInvalidValue}}},
		{"no value", map[string]string{"main.conf": svc("start = /bin/s\nstop\n")}, []wantErr{{"main.conf", 9, ErrInvalidValue}}},
		{"section: unknown key, command, path", map[string]string{"main.conf": "<simplevisor>\nfoo = 1\ncommand = start\npath = top/s\n</simplevisor>\n" + svc("start = /bin/s\n")}, []wantErr{{"main.conf", 2, ErrUnknownKey}, {"main.conf", 3, ErrUnsupported}, {"main.conf", 4, ErrUnsupported}}},
		{"section: log and loglevel", map[string]string{"main.conf": "<simplevisor>\nlog = journal\nloglevel = warn\n</simplevisor>\n" + svc("start = /bin/s\n")}, []wantErr{{"main.conf", 2, ErrInvalidValue}, {"main.conf", 3, ErrInvalidValue}}},
		{"section: log = file without logfile", map[string]string{"main.conf": "<simplevisor>\nlog = file\n</simplevisor>\n" + svc("start = /bin/s\n")}, []wantErr{{"main.conf", 2, ErrMissingKey}}},
		{"top: variable, key, second entry, second section", map[string]string{"main.conf": "var_x = 1\nfoo = 2\n<simplevisor>\n</simplevisor>\n<simplevisor>\n</simplevisor>\n" + svc("start = /bin/s\n") + "<entry>\ntype = service\nname = t\nstart = /bin/t\n</entry>\n"}, []wantErr{{"main.conf", 1, ErrUnknownKey}, {"main.conf", 2, ErrUnknownKey}, {"main.conf", 5, ErrDuplicateKey}, {"main.conf", 18, ErrDuplicateKey}}},
		{"no entry", map[string]string{"main.conf": "<simplevisor>\nloglevel = info\n</simplevisor>\n"}, []wantErr{{"main.conf", 0, ErrMissingKey}}},
		{"named block", map[string]string{"main.conf": inTop("<entry s>\ntype = service\nname = s\nstart = /bin/s\n</entry>\n")}, []wantErr{{"main.conf", 5, ErrUnsupported}}},
		{"no children", map[string]string{"main.conf": "<entry>\ntype = supervisor\nname = top\n</entry>\n"}, []wantErr{{"main.conf", 1, ErrMissingKey}}},
		{"empty children", map[string]string{"main.conf": "<entry>\ntype = supervisor\nname = top\n<children>\nvar_x = 1\n</children>\n</entry>\n"}, []wantErr{{"main.conf", 4, ErrMissingKey}}},
		{"foreign key in children", map[string]string{"main.conf": inTop("x = 1\n<entry>\ntype = service\nname = s\nstart = /bin/s\n</entry>\n")}, []wantErr{{"main.conf", 5, ErrUnknownKey}}},
		{"entry as a value in children", map[string]string{"main.conf": inTop("entry = x\n<entry>\ntype = service\nname = s\nstart = /bin/s\n</entry>\n")}, []wantErr{{"main.conf", 5, ErrInvalidValue}}},
		{"errors in included files", map[string]string{
			"main.conf":     inTop("<<include conf.d/*.conf>>\n"),
			"conf.d/a.conf": "<entry>\ntype = service\nname = a\nstart = /bin/a\ncolor = blue\n</entry>\n",
			"conf.d/b.conf": "<entry>\ntype = service\nname = b\ncontrol = /etc/init.d/b\npattern = b\n</entry>\n",
		}, []wantErr{{"a.conf", 5, ErrUnknownKey}, {"b.conf", 5, ErrConflict}}},
		{"JSON: entry list at the top", map[string]string{"main.json": `{"entry": [{"type": "service", "name": "s", "start": "/bin/s"}]}`}, []wantErr{{"main.json", 1, ErrInvalidValue}}},
		{"JSON: number as a command, list as a value", map[string]string{"main.json": "{\"entry\": {\"type\": \"service\", \"name\": \"s\",\n \"start\": 5,\n \"stop\": [\"/bin/stop\"]}}"}, []wantErr{{"main.json", 2, ErrInvalidValue}, {"main.json", 3, ErrInvalidValue}}},
		{"JSON: children as a list", map[string]string{"main.json": "{\"entry\": {\"type\": \"supervisor\", \"name\": \"top\",\n \"children\": [{\"entry\": {\"type\": \"service\", \"name\": \"s\", \"start\": \"/bin/s\"}}]}}"}, []wantErr{{"main.json", 2, ErrInvalidValue}}},
		{"JSON: syntax", map[string]string{"main.json": "{\"entry\": {\n\"type\": \"service\",\n\"name\": \"s\"\n\"start\": \"/bin/s\"}}"}, []wantErr{{"main.json", 4, ErrSyntax}}},
		{"JSON: unknown top-level key and duplicate", map[string]string{"main.json": "{\"entries\": {},\n\"entry\": {\"type\": \"service\", \"name\": \"s\", \"start\": \"/bin/s\",\n\"name\": \"t\"}}"}, []wantErr{{"main.json", 1, ErrUnknownKey}, {"main.json", 3, ErrDuplicateKey}}},
		{"JSON: null", map[string]string{"main.json": "{\"entry\": {\"type\": \"service\", \"name\": \"s\", \"start\": \"/bin/s\",\n\"stop\": null}}"}, []wantErr{{"main.json", 2, ErrInvalidValue}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := importFiles(t, tt.files)
			if err == nil {
				t.Fatalf("got no error, want %v; output:\n%s", tt.errs, out)
			}
			if errors.Is(err, ErrOutput) {
				t.Fatalf("the importer's output does not load: %v", err)
			}
			checkErrs(t, err, tt.errs)
		})
	}
}

func TestJSONChildren(t *testing.T) {
	t.Parallel()
	// One child as an object, several as a list; numbers as strings or
	// numbers.
	out, err := importFiles(t, map[string]string{"main.json": `{
  "simplevisor": {"interval": "20"},
  "entry": {"type": "supervisor", "name": "top", "window": 3.0, "adjustments": "1",
    "children": {"entry": [
      {"type": "service", "name": "a", "start": "/bin/a --x a%20b"},
      {"type": "supervisor", "name": "sub", "children": {"entry":
        {"type": "service", "name": "b", "control": "/etc/init.d/b", "timeout": 4}}}
    ]}}}`})
	if err != nil {
		t.Fatal(err)
	}
	c := loadOutput(t, out)
	eq(t, "period", c.Tree.Period, time.Minute)
	eq(t, "intensity", c.Tree.Intensity, 1)
	eq(t, "a", c.Find("top/a").Start, []string{"/bin/a", "--x", "a b"})
	eq(t, "b timeout", c.Find("top/sub/b").Timeout, 4*time.Second)
}

func TestFormat(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"apache", "json"} {
		f, err := ParseFormat(name)
		if err != nil || f.String() != name {
			t.Errorf("ParseFormat(%q) = %v, %v", name, f, err)
		}
	}
	if _, err := ParseFormat("yaml"); !errors.Is(err, ErrFormat) {
		t.Errorf("ParseFormat(yaml): got %v, want ErrFormat", err)
	}
}

func TestPyInt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"12", 12, true}, {" +12 ", 12, true}, {"-3", -3, true}, {"1_000", 1000, true}, {"007", 7, true},
		{"1.5", 0, false}, {"", 0, false}, {"_1", 0, false}, {"1__0", 0, false}, {"+-1", 0, false}, {"0x10", 0, false},
	}
	for _, tt := range tests {
		got, ok := pyInt(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("pyInt(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestUnquote(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"hello%20world", "hello world"},
		{"a%2Fb%2fc", "a/b/c"},
		{"100%", "100%"},
		{"%zz%2", "%zz%2"},
		{"%C3%A9", "é"},
		{"%FF", "\uFFFD"},
		{"a+b", "a+b"},
	}
	for _, tt := range tests {
		if got := unquote(tt.in); got != tt.want {
			t.Errorf("unquote(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestStr(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"/sbin/service", "/sbin/service"},
		{"--conf", "--conf"},
		{"-", `"-"`},
		{"-1", `"-1"`},
		{"true", `"true"`},
		{"12", `"12"`},
		{"a b", `"a b"`},
		{"${x}", `"$${x}"`},
		{"$HOME", `"$HOME"`},
		{"a$$b", `"a$$$b"`},
		{"#x", `"#x"`},
		{"", `""`},
	}
	for _, tt := range tests {
		if got := str(tt.in); got != tt.want {
			t.Errorf("str(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestUnreadable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, f := range []Format{Apache, JSON} {
		_, err := Import(filepath.Join(dir, "nope.conf"), f)
		var fe *config.FieldError
		if !errors.As(err, &fe) || !errors.Is(err, os.ErrNotExist) || filepath.Base(fe.File) != "nope.conf" {
			t.Errorf("%v: got %v, want a *config.FieldError for nope.conf that is fs.ErrNotExist", f, err)
		}
	}
	writeFiles(t, dir, map[string]string{"main.conf": "<<include conf.d>>\n", "conf.d/x.conf": ""})
	_, err := Import(filepath.Join(dir, "main.conf"), Apache)
	checkErrs(t, err, []wantErr{{"main.conf", 1, ErrInvalidValue}})
}
