package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestResolveStateDir(t *testing.T) {
	t.Parallel()
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	home := func() (string, error) { return "/home/u", nil }
	noHome := func() (string, error) { return "", errors.New("no home") }
	cases := []struct {
		name    string
		flag    string
		env     map[string]string
		setting string
		euid    int
		home    func() (string, error)
		want    string
		wantErr bool
	}{
		{name: "flag wins", flag: "/f", env: map[string]string{"OTPSV_STATE_DIR": "/e"}, setting: "/s", want: "/f"},
		{name: "relative flag", flag: "rel", want: filepath.Join(cwd, "rel")},
		{name: "env", env: map[string]string{"OTPSV_STATE_DIR": "/e"}, setting: "/s", want: "/e"},
		{name: "setting", setting: "/s", euid: 0, want: "/s"},
		{name: "relative setting", setting: "state", want: "/etc/otpsv/state"},
		{name: "root default", euid: 0, env: map[string]string{"XDG_STATE_HOME": "/x"}, want: "/var/lib/otpsv/site"},
		{name: "xdg", euid: 1000, env: map[string]string{"XDG_STATE_HOME": "/x"}, want: "/x/otpsv/site"},
		{name: "relative xdg ignored", euid: 1000, env: map[string]string{"XDG_STATE_HOME": "x"}, want: "/home/u/.local/state/otpsv/site"},
		{name: "home", euid: 1000, want: "/home/u/.local/state/otpsv/site"},
		{name: "no home", euid: 1000, home: noHome, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &Config{File: testFile, Settings: Settings{StateDir: tc.setting}, Tree: &Node{Name: "site"}}
			h := tc.home
			if h == nil {
				h = home
			}
			got, err := c.resolveStateDir(tc.flag, func(k string) string { return tc.env[k] }, tc.euid, h)
			if tc.wantErr {
				if err == nil {
					t.Errorf("got %q, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestDefaultConfigPath sets the environment, so it does not run in parallel.
func TestDefaultConfigPath(t *testing.T) {
	t.Setenv(EnvConfig, "")
	if got := DefaultConfigPath(""); got != "otpsv.yaml" {
		t.Errorf("default = %q", got)
	}
	if got := DefaultConfigPath("/c.yaml"); got != "/c.yaml" {
		t.Errorf("flag = %q", got)
	}
	t.Setenv(EnvConfig, "/env.yaml")
	if got := DefaultConfigPath(""); got != "/env.yaml" {
		t.Errorf("env = %q", got)
	}
	if got := DefaultConfigPath("/c.yaml"); got != "/c.yaml" {
		t.Errorf("flag over env = %q", got)
	}
}
