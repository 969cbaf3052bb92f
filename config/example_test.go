package config_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/otpsv/otpsv/config"
)

func ExampleLoad() {
	const yaml = `
vars:
  base: /opt/whatever
tree:
  name: site
  children:
    - name: httpd
      control: service httpd
      expected: stopped
    - name: api
      command: ${base}/bin/service --other 'foo bar'
      stop_timeout: 5
`
	c, err := config.Load(strings.NewReader(yaml), "/etc/otpsv/otpsv.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	api := c.Find("site/api")
	fmt.Printf("%q %v %v\n", api.Command, api.StopSignal, api.StopTimeout)
	if err := config.Print(os.Stdout, c); err != nil {
		fmt.Println(err)
	}

	// Every problem is reported, each with its file and line.
	_, err = config.Load(strings.NewReader("tree:\n  name: site\n  children:\n    - name: x\n      command: ${nope}\n      stop_signal: FOO\n"), "bad.yaml")
	fmt.Println(err)
	// Output:
	// ["/opt/whatever/bin/service" "--other" "foo bar"] terminated 5s
	// site (supervisor) strategy=one_for_one intensity=3 period=1m expected=running
	//   httpd (service) start="service httpd start" stop="service httpd stop" status="service httpd status" restart="service httpd restart" timeout=1m expected=stopped
	//   api (process) command="/opt/whatever/bin/service --other 'foo bar'" restart=permanent stop_signal=TERM stop_timeout=5s expected=running
	// bad.yaml:5: site/x: command: undefined variable ${nope}
	// bad.yaml:6: site/x: stop_signal: unknown signal "FOO"
}

// A container's job tree: serve's own exit ends the tree (and the
// container with it). Output goes to otpsv's stdout, each line prefixed
// with its worker's path.
func ExampleLogSpec_PrefixFor() {
	const yaml = `
settings:
  log: {to: stdout}
tree:
  name: app
  auto_shutdown: any_significant
  strategy: rest_for_one
  children:
    - {name: migrate, command: /bin/migrate, restart: transient}
    - {name: serve, command: /bin/serve, restart: transient, significant: true}
`
	c, err := config.Load(strings.NewReader(yaml), "/etc/otpsv.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	serve := c.Find("app/serve")
	fmt.Println(c.Tree.AutoShutdown, serve.Significant, serve.Log.To, serve.Log.Timestamps)
	fmt.Printf("%q\n", serve.Log.PrefixFor(serve.Path))

	// A permanent child cannot be significant: its exits are failures.
	_, err = config.Load(strings.NewReader(strings.Replace(yaml, "restart: transient, significant", "significant", 1)), "/etc/otpsv.yaml")
	fmt.Println(err)
	// Output:
	// any_significant true stdout true
	// "app/serve: "
	// /etc/otpsv.yaml:10: app/serve: significant: significant child not allowed: it is permanent (give it restart: transient or temporary)
}
