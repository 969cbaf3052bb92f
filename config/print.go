package config

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/otpsv/otpsv/actors/policy"
)

// Print writes the resolved tree of c for `otpsv validate`: one node per
// line, indented two spaces per level, as `name (type) key=value ...`.
// Commands are shown as one shell-quoted string in double quotes; a
// probe's and a backoff's keys as dotted keys (liveness.period=5s,
// backoff.max=30s), the inherited backoff on every node it applies to.
func Print(w io.Writer, c *Config) error {
	bw := bufio.NewWriter(w)
	var walk func(n *Node, depth int)
	walk = func(n *Node, depth int) {
		bw.WriteString(strings.Repeat("  ", depth))
		bw.WriteString(describe(n))
		bw.WriteByte('\n')
		for _, k := range n.Children {
			walk(k, depth+1)
		}
	}
	if c != nil && c.Tree != nil {
		walk(c.Tree, 0)
	}
	return bw.Flush()
}

// describe renders one node for Print.
func describe(n *Node) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s)", n.Name, n.Type)
	kv := func(k, v string) { fmt.Fprintf(&b, " %s=%s", k, v) }
	cmd := func(k string, argv []string) {
		if len(argv) > 0 {
			kv(k, fmt.Sprintf("%q", joinWords(argv)))
		}
	}
	switch n.Type {
	case Supervisor:
		kv("strategy", n.Strategy.String())
		kv("intensity", fmt.Sprint(n.Intensity))
		kv("period", shortDuration(n.Period))
		// Only what differs from OTP's defaults, like the health keys.
		if n.AutoShutdown != AutoShutdownNever {
			kv("auto_shutdown", n.AutoShutdown.String())
		}
		if n.Restart != policy.Permanent {
			kv("restart", n.Restart.String())
		}
	case Process:
		cmd("command", n.Command)
		kv("restart", n.Restart.String())
		kv("stop_signal", signalName(n.StopSignal))
		kv("stop_timeout", shortDuration(n.StopTimeout))
		if n.Dir != "" {
			kv("dir", fmt.Sprintf("%q", n.Dir))
		}
		for _, e := range n.Env {
			kv("env", fmt.Sprintf("%q", e))
		}
		if n.User != "" {
			kv("user", n.User)
		}
		if n.Group != "" {
			kv("group", n.Group)
		}
		for _, o := range []struct {
			k string
			o Output
		}{{"stdout", n.Stdout}, {"stderr", n.Stderr}} {
			switch o.o.Kind {
			case OutputFile:
				kv(o.k, fmt.Sprintf("%q", o.o.Path))
			case OutputInherit:
				kv(o.k, "inherit")
			case OutputDiscard:
				kv(o.k, "discard")
			case OutputLog:
				kv(o.k, "log")
			}
		}
		if l := n.Log; l != nil {
			kv("log.to", l.To.String())
			if l.Path != "" {
				kv("log.path", fmt.Sprintf("%q", l.Path))
			}
			kv("log.timestamps", strconv.FormatBool(l.Timestamps))
			kv("log.prefix", fmt.Sprintf("%q", l.Prefix))
			if l.MaxSize > 0 {
				kv("log.max_size", strconv.FormatInt(l.MaxSize, 10))
				kv("log.keep", strconv.Itoa(l.Keep))
			}
		}
		if len(n.Status) > 0 {
			cmd("status", n.Status)
			kv("timeout", shortDuration(n.Timeout))
		}
		if n.Ready != ReadySpawn {
			kv("ready", readyString(n))
		}
		// ready_timeout matters only when something is waited for.
		if n.Ready != ReadySpawn || n.Readiness != nil || len(n.Status) > 0 {
			kv("ready_timeout", shortDuration(n.ReadyTimeout))
		}
		if n.Watchdog > 0 {
			kv("watchdog", shortDuration(n.Watchdog))
		}
	case Service:
		cmd("start", n.Start)
		cmd("stop", n.Stop)
		cmd("status", n.Status)
		if n.StopStart {
			kv("restart", StopStart)
		} else {
			cmd("restart", n.RestartCmd)
		}
		// A pidfile replaces the pattern for status and stop.
		if n.PatternSet || n.Pidfile == "" && (len(n.Stop) == 0 || len(n.Status) == 0) {
			kv("pattern", fmt.Sprintf("%q", n.Pattern))
		}
		kv("timeout", shortDuration(n.Timeout))
		if n.SearchPath != "" {
			kv("path", fmt.Sprintf("%q", n.SearchPath))
		}
		if n.Pidfile != "" {
			kv("pidfile", fmt.Sprintf("%q", n.Pidfile))
		}
	}
	for _, p := range []struct {
		k string
		p *Probe
	}{{"readiness", n.Readiness}, {"liveness", n.Liveness}} {
		if p.p == nil {
			continue
		}
		switch p.p.Kind {
		case ProbeHTTP:
			kv(p.k+".http", fmt.Sprintf("%q", p.p.URL))
		case ProbeTCP:
			kv(p.k+".tcp", fmt.Sprintf("%q", p.p.Addr))
		case ProbeExec:
			cmd(p.k+".exec", p.p.Argv)
		}
		kv(p.k+".period", shortDuration(p.p.Period))
		kv(p.k+".timeout", shortDuration(p.p.Timeout))
		kv(p.k+".initial_delay", shortDuration(p.p.InitialDelay))
		kv(p.k+".failure_threshold", strconv.Itoa(p.p.FailureThreshold))
		kv(p.k+".success_threshold", strconv.Itoa(p.p.SuccessThreshold))
	}
	if b := n.Backoff; b != nil {
		kv("backoff.initial", shortDuration(b.Initial))
		kv("backoff.max", shortDuration(b.Max))
		kv("backoff.factor", strconv.FormatFloat(b.Factor, 'g', -1, 64))
		kv("backoff.jitter", strconv.FormatFloat(b.Jitter, 'g', -1, 64))
		kv("backoff.reset_after", shortDuration(b.ResetAfter))
	}
	if n.Significant {
		kv("significant", "true")
	}
	kv("expected", n.Expected.String())
	return b.String()
}

// shortDuration renders d without trailing zero units: 1m, not 1m0s.
func shortDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
