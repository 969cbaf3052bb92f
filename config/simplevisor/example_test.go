package simplevisor_test

import (
	"fmt"
	"strings"

	"github.com/otpsv/otpsv/config/simplevisor"
)

// The example that ships with simplevisor 1.3, with the comments of the
// output left out.
func ExampleImport() {
	out, err := simplevisor.Import("testdata/example/simplevisor.conf.example", simplevisor.Apache)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if i := strings.Index(line, "  # "); i >= 0 {
			line = line[:i]
		}
		fmt.Println(line)
	}
	// Output:
	// settings:
	//   check_interval: 1m
	//   state_dir: /var/cache/simplevisor/otpsv
	//   log_level: warn
	// tree:
	//   name: svisor1
	//   strategy: one_for_one
	//   intensity: 3
	//   period: 12m
	//   children:
	//     - name: httpd
	//       control: [/sbin/service, httpd]
	//       restart: stop+start
	//       expected: stopped
	//     - name: custom1
	//       start: [/path/to/script, --conf, /path/to/conf, --daemon]
	//       pattern: "/path/to/script --conf /path/to/conf --daemon"
}
