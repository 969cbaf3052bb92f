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
