package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otpsv/otpsv/actors"
	"github.com/otpsv/otpsv/actors/control"
)

func whyCommand() *cli.Command {
	return &cli.Command{
		Name:      "why",
		Usage:     "the node's recent supervision history and its supervisor's restart budget",
		ArgsUsage: "PATH",
		Flags:     append(commonFlags(), &cli.BoolFlag{Name: "json", Usage: "print as JSON"}),
		Action: func(c *cli.Context) error {
			path := strings.Trim(c.Args().First(), "/")
			if path == "" {
				return exitWith(exitConfig, errors.New("usage: otpsv why [flags] PATH"))
			}
			dir, err := queryStateDir(c)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(c.Context, 10*time.Second)
			defer cancel()
			client := control.NewClient(filepath.Join(dir, control.SocketName))
			w, err := client.Why(ctx, path)
			for attempt := 0; errors.Is(err, control.ErrNoDaemon); attempt++ {
				cfg, snaps, saved, serr := savedState(c)
				if errors.Is(serr, errDaemonAnswers) && attempt < 2 {
					// A daemon came up while the saved state was read: ask it.
					w, err = client.Why(ctx, path)
					continue
				}
				if serr != nil {
					return serr
				}
				fmt.Fprintf(c.App.ErrWriter, "otpsv: no daemon is running; state saved %s ago (%s)\n",
					fmtDuration(time.Since(saved)), saved.Local().Format(time.DateTime))
				if w, err = actors.SavedWhy(cfg, snaps, path), nil; w == nil {
					err = fmt.Errorf("no node %q", path)
				}
			}
			if err != nil {
				return exitWith(exitFailed, err)
			}
			if c.Bool("json") {
				return writeJSONTo(c.App.Writer, w)
			}
			printWhy(c.App.Writer, w, time.Now())
			return nil
		},
	}
}

func printWhy(out io.Writer, w *control.Why, now time.Time) {
	n := w.Node
	fmt.Fprintf(out, "%s: %s", n.Path, stateLabel(n))
	if n.Pid != nil {
		fmt.Fprintf(out, " (pid %d)", *n.Pid)
	}
	fmt.Fprintf(out, " since %s (%s ago), expected %s, %d restarts in the current period\n",
		n.Since.Local().Format(time.DateTime), fmtDuration(now.Sub(n.Since)), n.Expected, n.Restarts)
	if w.Supervisor != "" {
		fmt.Fprintf(out, "restart budget of %s: %d of %d left (%d used in the last %s)\n",
			w.Supervisor, w.Left, w.Intensity, w.Used, w.Period)
	}
	if len(w.History) == 0 {
		fmt.Fprintln(out, "no supervision events recorded")
		return
	}
	for i := len(w.History) - 1; i >= 0; i-- {
		e := w.History[i]
		fmt.Fprintf(out, "%s  %s\n", e.Time.Local().Format("2006-01-02 15:04:05.000"), describe(e))
	}
}

// describe says one history entry in words.
func describe(e control.HistoryEntry) string {
	var b strings.Builder
	switch e.Event {
	case "failed":
		fmt.Fprintf(&b, "failed: %s", e.Detail)
	case "restarted":
		fmt.Fprintf(&b, "restarted because %s failed (%s)", e.Cause, e.Detail)
	case "exited":
		fmt.Fprintf(&b, "exited: %s", e.Detail)
	case "child_exited":
		fmt.Fprintf(&b, "child %s exited: %s", e.Cause, e.Detail)
	case "child_failed":
		fmt.Fprintf(&b, "child %s failed: %s", e.Cause, e.Detail)
	case "gave_up":
		fmt.Fprintf(&b, "gave up after child %s failed: %s", e.Cause, e.Detail)
	case "operator_stop", "operator_start", "operator_restart":
		fmt.Fprintf(&b, "%s by an operator", strings.TrimPrefix(e.Event, "operator_"))
		return b.String()
	default:
		fmt.Fprintf(&b, "%s %s", e.Event, e.Detail)
	}
	switch e.Action {
	case "restart":
		fmt.Fprintf(&b, "; %s applied %s, restarted %s; budget left %d", e.Supervisor, e.Strategy, strings.Join(e.Restarted, ", "), e.Budget)
	case "ignore":
		fmt.Fprintf(&b, "; not restarted (restart type)")
	case "backoff":
		fmt.Fprintf(&b, "; %s restarts %s after a backoff of %s", e.Supervisor, strings.Join(e.Restarted, ", "), e.Delay.Round(time.Millisecond))
	case "give_up":
		fmt.Fprintf(&b, "; %s exceeded its restart intensity and gave up", e.Supervisor)
	}
	return b.String()
}
