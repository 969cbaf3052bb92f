package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otpsv/otpsv/actors/control"
)

func treeCommand() *cli.Command {
	return &cli.Command{
		Name:      "tree",
		Usage:     "print the live hierarchy from the running daemon",
		ArgsUsage: "[PATH]",
		Flags: append(commonFlags(),
			&cli.BoolFlag{Name: "json", Usage: "print the tree as JSON (SPEC shape)"},
			&cli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Usage: "redraw whenever the tree changes"},
			&cli.StringFlag{Name: "color", Value: "auto", Usage: "auto|always|never"},
		),
		Action: runTree,
	}
}

func runTree(c *cli.Context) error {
	render := func(n *control.Node) ([]byte, error) {
		var b bytes.Buffer
		if c.Bool("json") {
			enc := json.NewEncoder(&b)
			enc.SetIndent("", "  ")
			err := enc.Encode(n)
			return b.Bytes(), err
		}
		printTree(&b, n, useColor(c.String("color")), time.Now())
		return b.Bytes(), nil
	}
	n, err := fetchTree(c, c.Args().First())
	if err != nil {
		return err
	}
	out, err := render(n)
	if err != nil {
		return err
	}
	if !c.Bool("watch") {
		_, err = c.App.Writer.Write(out)
		return err
	}
	// The daemon has no push channel yet: poll it and redraw only when
	// something other than the clock changed.
	last := ""
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		key, _ := json.Marshal(n)
		if string(key) != last {
			last = string(key)
			fmt.Fprint(c.App.Writer, "\x1b[H\x1b[2J")
			_, _ = c.App.Writer.Write(out)
		}
		select {
		case <-c.Context.Done():
			return nil
		case <-tick.C:
		}
		if n, err = fetchTree(c, c.Args().First()); err != nil {
			return err
		}
		if out, err = render(n); err != nil {
			return err
		}
	}
}

func writeJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func useColor(mode string) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	fi, err := os.Stdout.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// printTree writes one node per line, indented: name, type, strategy,
// state, pid, uptime, restarts in the current period, expected state, and
// the workers' own messages (sd_notify STATUS=) when any has one.
func printTree(w io.Writer, root *control.Node, color bool, now time.Time) {
	messages := false
	walkNodes(root, func(n *control.Node, _ int) { messages = messages || n.Message != "" })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "NAME\tTYPE\tSTRATEGY\tSTATE\tPID\tUPTIME\tRESTARTS\tEXPECTED"
	if messages {
		head += "\tMESSAGE"
	}
	fmt.Fprintln(tw, head)
	walkNodes(root, func(n *control.Node, depth int) {
		pid, up := "-", "-"
		if n.Pid != nil {
			pid = fmt.Sprint(*n.Pid)
		}
		if n.State == "running" && !n.Since.IsZero() {
			up = fmtDuration(now.Sub(n.Since))
		}
		strategy := n.Strategy
		if strategy == "" {
			strategy = "-"
		}
		state := stateLabel(n)
		if color {
			state = paint(state, n)
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s",
			strings.Repeat("  ", depth), n.Name, n.Type, strategy, state, pid, up, n.Restarts, n.Expected)
		if messages {
			fmt.Fprintf(tw, "\t%s", n.Message)
		}
		fmt.Fprintln(tw)
	})
	_ = tw.Flush()
}

// paint colours a state; the escape codes are zero-width for the eye but
// not for tabwriter, so every state gets the same number of them.
func paint(s string, n *control.Node) string {
	code := "33" // yellow: in between
	switch {
	case n.State == "failed" || !asExpected(n) && n.State != "starting" && n.State != "stopping":
		code = "31"
	case asExpected(n):
		code = "32"
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}
