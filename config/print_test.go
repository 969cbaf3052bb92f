package config

import (
	"strings"
	"testing"
)

func TestPrint(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, `
tree:
  name: site
  intensity: 5
  period: 2m
  children:
    - name: backend
      strategy: one_for_all
      expected: stopped
      children:
        - name: api
          command: ["/opt/bin/api", "--name", "foo bar"]
          restart: transient
          stop_signal: INT
          stop_timeout: 1500ms
          stdout: discard
    - name: httpd
      control: service httpd
    - name: custom
      start: /opt/x --daemon
`)
	c.ResolveLogs("/state")
	var b strings.Builder
	if err := Print(&b, c); err != nil {
		t.Fatal(err)
	}
	want := `site (supervisor) strategy=one_for_one intensity=5 period=2m expected=running
  backend (supervisor) strategy=one_for_all intensity=3 period=1m expected=stopped
    api (process) command="/opt/bin/api --name 'foo bar'" restart=transient stop_signal=INT stop_timeout=1.5s stdout=discard stderr="/state/logs/site_backend_api.log" expected=stopped
  httpd (service) start="service httpd start" stop="service httpd stop" status="service httpd status" restart="service httpd restart" timeout=1m expected=running
  custom (service) start="/opt/x --daemon" restart=stop+start pattern="/opt/x --daemon" timeout=1m expected=running
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestPrintHealth(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, `
tree:
  name: site
  backoff: {initial: 1s, jitter: 0}
  children:
    - name: api
      command: /opt/api
      stdout: discard
      stderr: discard
      ready: notify
      watchdog: 10s
      probes:
        readiness: {http: "http://127.0.0.1:8080/ready", period: 2s}
        liveness: {exec: [check, "a b"], initial_delay: 5s, failure_threshold: 1}
      backoff: none
    - name: fd
      command: /opt/fd
      stdout: discard
      stderr: discard
      ready: fd:3
      ready_timeout: 5s
    - name: plain
      command: /opt/plain
      stdout: discard
      stderr: discard
      backoff: {factor: 1.5}
    - name: httpd
      control: service httpd
      probes: {liveness: {tcp: "127.0.0.1:80"}}
`)
	var b strings.Builder
	if err := Print(&b, c); err != nil {
		t.Fatal(err)
	}
	want := `site (supervisor) strategy=one_for_one intensity=3 period=1m backoff.initial=1s backoff.max=30s backoff.factor=2 backoff.jitter=0 backoff.reset_after=1m expected=running
  api (process) command="/opt/api" restart=permanent stop_signal=TERM stop_timeout=10s stdout=discard stderr=discard ready=notify ready_timeout=1m watchdog=10s readiness.http="http://127.0.0.1:8080/ready" readiness.period=2s readiness.timeout=1s readiness.initial_delay=0s readiness.failure_threshold=3 readiness.success_threshold=1 liveness.exec="check 'a b'" liveness.period=10s liveness.timeout=1s liveness.initial_delay=5s liveness.failure_threshold=1 liveness.success_threshold=1 expected=running
  fd (process) command="/opt/fd" restart=permanent stop_signal=TERM stop_timeout=10s stdout=discard stderr=discard ready=fd:3 ready_timeout=5s backoff.initial=1s backoff.max=30s backoff.factor=2 backoff.jitter=0 backoff.reset_after=1m expected=running
  plain (process) command="/opt/plain" restart=permanent stop_signal=TERM stop_timeout=10s stdout=discard stderr=discard backoff.initial=100ms backoff.max=30s backoff.factor=1.5 backoff.jitter=0.2 backoff.reset_after=1m expected=running
  httpd (service) start="service httpd start" stop="service httpd stop" status="service httpd status" restart="service httpd restart" timeout=1m liveness.tcp="127.0.0.1:80" liveness.period=10s liveness.timeout=1s liveness.initial_delay=0s liveness.failure_threshold=3 liveness.success_threshold=1 backoff.initial=1s backoff.max=30s backoff.factor=2 backoff.jitter=0 backoff.reset_after=1m expected=running
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestPrintShutdownAndLog: auto_shutdown, a supervisor's restart type and
// significant are shown when they are not the default; a log on every
// worker it applies to.
func TestPrintShutdownAndLog(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, `
settings:
  log: {max_size: 10MiB}
tree:
  name: site
  auto_shutdown: all_significant
  children:
    - name: jobs
      restart: transient
      significant: true
      auto_shutdown: any_significant
      log: {to: stdout}
      children:
        - {name: migrate, command: /m, restart: temporary, significant: true, stdout: discard}
    - {name: api, command: /a}
`)
	c.ResolveLogs("/state")
	var b strings.Builder
	if err := Print(&b, c); err != nil {
		t.Fatal(err)
	}
	want := `site (supervisor) strategy=one_for_one intensity=3 period=1m auto_shutdown=all_significant expected=running
  jobs (supervisor) strategy=one_for_one intensity=3 period=1m auto_shutdown=any_significant restart=transient significant=true expected=running
    migrate (process) command="/m" restart=temporary stop_signal=TERM stop_timeout=10s stdout=discard stderr=log log.to=stdout log.timestamps=true log.prefix="{path}: " significant=true expected=running
  api (process) command="/a" restart=permanent stop_signal=TERM stop_timeout=10s stdout=log stderr=log log.to=file log.path="/state/logs/site_api.log" log.timestamps=false log.prefix="" log.max_size=10485760 log.keep=5 expected=running
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
