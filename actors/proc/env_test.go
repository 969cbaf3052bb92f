package proc

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestMergeEnv(t *testing.T) {
	t.Parallel()
	got := MergeEnv([]string{"A=1", "B=2", "C=3"}, []string{"B=x", "D=4"})
	if want := []string{"A=1", "C=3", "B=x", "D=4"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestEnvOverridesInheritedValue(t *testing.T) {
	t.Setenv("OTPSV_TEST_VAR", "inherited")
	out := filepath.Join(t.TempDir(), "out")
	spec := sh(`printf %s "$OTPSV_TEST_VAR" >` + out)
	spec.Env = MergeEnv(os.Environ(), []string{"OTPSV_TEST_VAR=configured"})
	p, err := Start(spec)
	if err != nil {
		t.Fatal(err)
	}
	waitExit(t, p)
	b, _ := os.ReadFile(out)
	if got := string(b); got != "configured" {
		t.Errorf("got %q, want configured", got)
	}
}

func TestCredential(t *testing.T) {
	t.Parallel()
	if c, err := Credential("", ""); c != nil || err != nil {
		t.Errorf("got %v, %v; want nil, nil", c, err)
	}
	c, err := Credential("0", "0")
	if err != nil || c.Uid != 0 || c.Gid != 0 {
		t.Errorf("got %+v, %v", c, err)
	}
	if _, err := Credential("otpsv-no-such-user", ""); err == nil || !strings.Contains(err.Error(), "otpsv-no-such-user") {
		t.Errorf("got %v", err)
	}
}

func TestRunsAsUser(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root: user/group are only honoured when otpsv runs as root")
	}
	cred, err := Credential("nobody", "")
	if err != nil {
		t.Skip("no user nobody:", err)
	}
	p, err := Start(Spec{Argv: []string{"sleep", "60"}, Credential: cred})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Stop(t.Context(), 9, 0, nil) }()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.Pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			if f := strings.Fields(rest); f[0] != strconv.Itoa(int(cred.Uid)) {
				t.Errorf("uid got %s, want %d", f[0], cred.Uid)
			}
			return
		}
	}
	t.Error("no Uid line")
}

// TestInheritedEnv: what a service manager set for otpsv alone is not
// passed on; the rest is. Not parallel: it sets otpsv's environment.
func TestInheritedEnv(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "/run/systemd/notify")
	t.Setenv("WATCHDOG_USEC", "30000000")
	t.Setenv("LISTEN_FDS", "2")
	t.Setenv("OTPSV_KEEP_ME", "yes")
	env := strings.Join(InheritedEnv(), "\n")
	for _, v := range []string{"NOTIFY_SOCKET=", "WATCHDOG_USEC=", "LISTEN_FDS="} {
		if strings.Contains(env, v) {
			t.Errorf("%s... inherited", v)
		}
	}
	if !strings.Contains(env, "OTPSV_KEEP_ME=yes") {
		t.Errorf("OTPSV_KEEP_ME not inherited")
	}
}
