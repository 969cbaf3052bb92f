package config

import (
	"errors"
	"strings"
	"testing"
)

func TestMetricsSetting(t *testing.T) {
	t.Parallel()
	const tree = "tree: {name: r, children: [{name: a, command: x}]}\n"
	for _, addr := range []string{"127.0.0.1:9184", ":9184", "'[::1]:9184'", "metrics.example:1", "unix:/run/otpsv/metrics.sock"} {
		c := mustLoad(t, "settings:\n  metrics: "+addr+"\n"+tree)
		if want := strings.Trim(addr, "'"); c.Settings.Metrics != want {
			t.Errorf("metrics = %q, want %q", c.Settings.Metrics, want)
		}
	}
	if c := mustLoad(t, "vars: {port: '9100'}\nsettings: {metrics: '127.0.0.1:${port}'}\n"+tree); c.Settings.Metrics != "127.0.0.1:9100" {
		t.Errorf("metrics = %q, want the variable expanded", c.Settings.Metrics)
	}
	if c := mustLoad(t, tree); c.Settings.Metrics != "" {
		t.Errorf("metrics = %q by default, want off", c.Settings.Metrics)
	}
	for _, tc := range []struct{ value, msg string }{
		{"9184", `"9184": want HOST:PORT`},
		{"127.0.0.1", "want HOST:PORT"},
		{"127.0.0.1:http", `port "http"`},
		{"127.0.0.1:0", `port "0"`},
		{"127.0.0.1:70000", `port "70000"`},
		{"::1:9184", "want HOST:PORT"},
		{"unix:run/m.sock", "want unix:/absolute/path"},
		{"'unix:'", "want unix:/absolute/path"},
		{"''", `""`},
		{"[1]", "want a string"},
	} {
		_, err := loadAs(t, "settings:\n  log_level: info\n  metrics: "+tc.value+"\n"+tree, 1000)
		want := testFile + ":3: settings: metrics: "
		if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("metrics: %s: error %v, want %q ... %q", tc.value, err, want, tc.msg)
			continue
		}
		if tc.value != "[1]" && !errors.Is(err, ErrInvalidValue) {
			t.Errorf("metrics: %s: %v is not ErrInvalidValue", tc.value, err)
		}
	}
}
