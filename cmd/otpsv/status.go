package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otpsv/otpsv/actors/control"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "one line per node of PATH's subtree; exit 0 when all are as expected",
		ArgsUsage: "[PATH]",
		Flags:     commonFlags(),
		Action: func(c *cli.Context) error {
			root, err := fetchTree(c, c.Args().First())
			if err != nil {
				return err
			}
			bad := 0
			walkNodes(root, func(n *control.Node, _ int) {
				if !asExpected(n) {
					bad++
				}
				fmt.Fprintln(c.App.Writer, statusLine(n))
			})
			if bad > 0 {
				return exitWith(exitFailed, errors.New(""))
			}
			return nil
		},
	}
}

// statusLine: path, state, pid, expected, restarts; "!" marks a node not
// as expected so that grep finds them.
func statusLine(n *control.Node) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", n.Path, stateLabel(n))
	if n.Pid != nil {
		fmt.Fprintf(&b, " pid=%d", *n.Pid)
	}
	fmt.Fprintf(&b, " expected=%s restarts=%d", n.Expected, n.Restarts)
	if n.Message != "" {
		fmt.Fprintf(&b, " message=%q", n.Message)
	}
	if !asExpected(n) {
		b.WriteString(" !")
	}
	return b.String()
}

// Nagios plugin exit statuses.
const (
	nagiosOK       = 0
	nagiosWarning  = 1
	nagiosCritical = 2
	nagiosUnknown  = 3
)

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "monitoring check, Nagios plugin style (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)",
		ArgsUsage: "[PATH]",
		Flags:     commonFlags(),
		Action:    runCheck,
	}
}

func runCheck(c *cli.Context) error {
	out := c.App.Writer
	root, err := fetchTree(c, c.Args().First())
	if err != nil {
		// one line: a monitoring system shows the first line only
		fmt.Fprintf(out, "UNKNOWN - %s\n", strings.Join(strings.Fields(err.Error()), " "))
		return exitWith(nagiosUnknown, errors.New(""))
	}
	var total, bad, restarts int
	var details []string
	walkNodes(root, func(n *control.Node, _ int) {
		total++
		restarts += n.Restarts
		if !asExpected(n) {
			bad++
			details = append(details, statusLine(n))
		}
	})
	perf := fmt.Sprintf("nodes=%d unexpected=%d restarts=%d", total, bad, restarts)
	code, word := nagiosOK, "OK"
	summary := fmt.Sprintf("%d nodes as expected", total)
	switch {
	case root.State == "failed" && !strings.Contains(root.Path, "/"):
		code, word = nagiosCritical, "CRITICAL"
		summary = fmt.Sprintf("root supervisor %s gave up", root.Path)
	case bad > 0:
		code, word = nagiosWarning, "WARNING"
		summary = fmt.Sprintf("%d of %d nodes not as expected", bad, total)
	}
	fmt.Fprintf(out, "%s - %s | %s\n", word, summary, perf)
	for _, d := range details {
		fmt.Fprintln(out, d)
	}
	if code != nagiosOK {
		return exitWith(code, errors.New(""))
	}
	return nil
}
