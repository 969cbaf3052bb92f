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
