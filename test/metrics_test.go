package test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Helpers of the metrics tests: a scraper of `/metrics` and the series it
// read.

// series are the samples of one scrape, by series name with its labels
// as exposed (`otpsv_node_up{path="site/w",type="process"}`).
type series map[string]float64

// scraper reads one daemon's metrics over TCP or a unix socket.
type scraper struct {
	t      *testing.T
	client *http.Client
	url    string
}

func tcpScraper(t *testing.T, addr string) *scraper {
	return &scraper{t: t, client: &http.Client{Timeout: commandGuard}, url: "http://" + addr + "/metrics"}
}

func unixScraper(t *testing.T, path string) *scraper {
	return &scraper{t: t, url: "http://otpsv/metrics", client: &http.Client{
		Timeout: commandGuard,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}}
}

// try scrapes once: the samples and the body, or an error.
func (s *scraper) try() (series, []byte, error) {
	resp, err := s.client.Get(s.url)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, body, fmt.Errorf("GET %s: status %d: %s", s.url, resp.StatusCode, body)
	}
	out := series{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			return nil, body, fmt.Errorf("bad sample line %q", line)
		}
		out[line[:i]] = v
	}
	return out, body, nil
}

// wait scrapes until cond holds, within readyGuard (a deadline for
// something that must happen, not a success condition).
func (s *scraper) wait(what string, cond func(series) bool) (series, []byte) {
	s.t.Helper()
	deadline := time.Now().Add(readyGuard)
	for {
		m, body, err := s.try()
		if err == nil && cond(m) {
			return m, body
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("metrics: %s: not within %v (last error %v); last scrape:\n%s", what, readyGuard, err, body)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// promtoolCheck runs `promtool check metrics` on a scrape, when promtool
// is installed (CI installs Debian's prometheus package).
func promtoolCheck(t *testing.T, body []byte) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not on PATH: scrape not checked")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandGuard)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// freeAddr is a loopback address whose port was free a moment ago (see
// freePort): the daemon needs a fixed port in its config.
func freeAddr(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freePort(t))
}

// metricsTree is a one_for_one site (intensity 3) with workers w and v,
// and settings.metrics when addr is not "".
func metricsTree(cmd func(name string, args ...string) string, addr string) string {
	s := ""
	if addr != "" {
		s = fmt.Sprintf("  metrics: %q\n", addr) // continues the settings mapping
	}
	return s + fmt.Sprintf(`tree:
  name: site
  strategy: one_for_one
  intensity: 3
  period: 1h
  children:
    - name: w
      command: %s
    - name: v
      command: %s
`, cmd("w"), cmd("v"))
}

const (
	upW       = `otpsv_node_up{path="site/w",type="process"}`
	upV       = `otpsv_node_up{path="site/v",type="process"}`
	upSite    = `otpsv_node_up{path="site",type="supervisor"}`
	restartsW = `otpsv_restarts_total{path="site/w",reason="signal"}`
	inPeriod  = `otpsv_supervisor_restarts_in_period{path="site"}`
	intensity = `otpsv_supervisor_intensity{path="site"}`
)

func allUp(m series) bool { return m[upW] == 1 && m[upV] == 1 && m[upSite] == 1 }

// TestMetricsRestart: settings.metrics serves the SPEC's series; a worker
// killed with SIGKILL counts one restart with reason signal, and uses one
// of its supervisor's budget.
func TestMetricsRestart(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	addr := freeAddr(t)
	d := ws.startDaemon(ws.config(metricsTree(ws.cmd, addr)))
	d.ctlWaitUp()
	w := d.waitReady("w", 1)
	d.waitReady("v", 1)
	if pid := ws.ctlNodeAt("site/w").pid(); pid != w.pid {
		t.Fatalf("tree has pid %d for site/w, its ready line %d", pid, w.pid)
	}
	sc := tcpScraper(t, addr)
	before, body := sc.wait("every node up", allUp)
	for _, s := range []string{
		`otpsv_node_state{path="site/w",state="running"}`,
		`otpsv_node_expected_running{path="site/w"}`,
		`otpsv_supervisor_gave_up_total{path="site"}`,
		`otpsv_build_info{version="0.1.0-dev"}`,
	} {
		if _, ok := before[s]; !ok {
			t.Errorf("no series %s", s)
		}
	}
	for _, prefix := range []string{"go_goroutines", "process_cpu_seconds_total", "otpsv_node_start_time_seconds"} {
		if !bytes.Contains(body, []byte("\n"+prefix)) {
			t.Errorf("no %s in the scrape", prefix)
		}
	}
	if before[restartsW] != 0 || before[intensity] != 3 || before[inPeriod] != 0 {
		t.Errorf("before: %s = %v, %s = %v, %s = %v; want 0, 3, 0",
			restartsW, before[restartsW], intensity, before[intensity], inPeriod, before[inPeriod])
	}
	promtoolCheck(t, body)

	killChild(t, d, w, []string{"w"})
	d.waitReady("w", 2)
	after, body := sc.wait("site/w up again", allUp)
	if got := after[restartsW] - before[restartsW]; got != 1 {
		t.Errorf("%s went up by %v, want 1 (before %v, after %v)", restartsW, got, before[restartsW], after[restartsW])
	}
	if got := after[inPeriod] - before[inPeriod]; got != 1 {
		t.Errorf("%s went up by %v, want 1", inPeriod, got)
	}
	if left := after[intensity] - after[inPeriod]; left != 2 {
		t.Errorf("budget left %v, want 2", left)
	}
	for k, v := range after {
		if strings.HasPrefix(k, "otpsv_restarts_total{") && k != restartsW {
			t.Errorf("%s = %v: only site/w restarted", k, v)
		}
	}
	startW := `otpsv_node_start_time_seconds{path="site/w"}`
	if after[startW] <= before[startW] {
		t.Errorf("%s: %v after the restart, %v before", startW, after[startW], before[startW])
	}
	promtoolCheck(t, body)
	d.stop()
	if c, err := net.Dial("tcp", addr); err == nil {
		_ = c.Close()
		t.Errorf("%s still listens after the daemon exited", addr)
	}
	ws.requireAllDead()
}

// TestMetricsUnixFlag: --metrics unix:PATH wins over settings.metrics
// (which names a port held busy: the daemon would fail on it), serves
// over a socket of mode 0600 and removes it on exit.
func TestMetricsUnixFlag(t *testing.T) {
	begin(t)
	ws := newWorkspace(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	sock := filepath.Join(ws.dir, "metrics.sock")
	cmd := exec.Command(otpsvBin, "daemon", "--log-format", "json",
		"-c", ws.config(metricsTree(ws.cmd, busy.Addr().String())), "--metrics", "unix:"+sock)
	cmd.Dir = ws.dir
	cmd.Env = testEnv()
	d := ws.runDaemon(cmd)
	d.ctlWaitUp()
	requireMode(t, sock, os.ModeSocket|0o600)
	unixScraper(t, sock).wait("every node up", allUp)
	d.stop()
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left after exit (%v)", err)
	}
}

// TestMetricsBadAddress: the daemon does not start on an address it
// cannot serve: 2 for one that is not an address, 1 for a port in use,
// with the address in the message, and no worker started.
func TestMetricsBadAddress(t *testing.T) {
	begin(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = busy.Close() }) // after the parallel subtests
	for _, tc := range []struct {
		name, setting, flag string
		code                int
		msg                 string
	}{
		{"flag not an address", "", "127.0.0.1:metrics", 2, `"127.0.0.1:metrics"`},
		{"flag relative socket", "", "unix:m.sock", 2, `"unix:m.sock"`},
		{"setting not an address", "9184", "", 2, `otpsv.yaml:3: settings: metrics: metrics address "9184": want HOST:PORT`},
		{"port in use", busy.Addr().String(), "", 1, busy.Addr().String() + ": listen tcp"},
		{"flag port in use", "", busy.Addr().String(), 1, "address already in use"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ws := newWorkspace(t)
			args := []string{"daemon", "-c", ws.config(metricsTree(ws.cmd, tc.setting))}
			if tc.flag != "" {
				args = append(args, "--metrics", tc.flag)
			}
			r := otpsv(t, ws.dir, args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
				t.Errorf("exit status %d, want %d; stderr (want %q):\n%s", r.code, tc.code, tc.msg, r.stderr)
			}
			if runs := ws.runs("w"); len(runs) > 0 {
				t.Errorf("w ran: %v", runs)
			}
		})
	}
}

// TestMetricsUnprivileged: a daemon of uid 65534 serves its metrics on a
// socket it owns, mode 0600, and on loopback TCP.
func TestMetricsUnprivileged(t *testing.T) {
	begin(t)
	u := newUnprivBase(t)
	for _, network := range []string{"unix", "tcp"} {
		w := u.workspace("metrics-" + network)
		addr, sc := freeAddr(t), (*scraper)(nil)
		sock := filepath.Join(w.dir, "m.sock")
		if network == "unix" {
			addr, sc = "unix:"+sock, unixScraper(t, sock)
		} else {
			sc = tcpScraper(t, addr)
		}
		cfg := w.config(metricsTree(func(name string, args ...string) string { return u.cmd(w, name, args...) }, addr))
		d := u.startDaemon(w, cfg)
		d.ctlWaitUp()
		v := d.waitReady("v", 1)
		sc.wait("every node up", allUp)
		if network == "unix" {
			requireMode(t, sock, os.ModeSocket|0o600)
			requireOwner(t, sock, nobody)
		}
		if err := syscall.Kill(v.pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		reason := `otpsv_restarts_total{path="site/v",reason="signal"}`
		sc.wait("site/v restarted", func(m series) bool { return m[reason] == 1 && allUp(m) })
		d.stop()
		w.requireAllDead()
	}
}
