package event

import (
	"reflect"
	"testing"
	"time"
)

func TestAttrs(t *testing.T) {
	for _, tc := range []struct {
		name string
		ev   Event
		want []string // keys, in order
	}{
		{"started", Event{Kind: Started, Path: "s/w", Pid: 7}, []string{"event", "path"}},
		{"exit", Event{Kind: Exited, Path: "s/w", Reason: "exit 3", Cause: CauseExit, ExitCode: Int(3)},
			[]string{"event", "path", "reason", "cause", "exit_code"}},
		{"exit 0 is kept", Event{Kind: Exited, Path: "s/w", ExitCode: Int(0)}, []string{"event", "path", "exit_code"}},
		{"signal", Event{Kind: Exited, Path: "s/w", Signal: "KILL", Cause: CauseSignal}, []string{"event", "path", "cause", "signal"}},
		{"restarting", Event{Kind: Restarting, Path: "s/a", Strategy: "one_for_all", Restarted: []string{"s/a", "s/b"}, BudgetLeft: Int(0)},
			[]string{"event", "path", "strategy", "restarted", "budget_left"}},
		{"delayed", Event{Kind: Delayed, Path: "s/a", Delay: 1500 * time.Microsecond, Failures: 2}, []string{"event", "path", "delay", "failures"}},
		{"probe", Event{Kind: ProbeFailed, Path: "s/a", Probe: "liveness", Failures: 1}, []string{"event", "path", "probe", "failures"}},
		{"reload", Event{Kind: Reload, Path: "s/a", Action: "add"}, []string{"event", "path", "action"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			attrs := tc.ev.Attrs(2)
			var keys []string
			for _, a := range attrs {
				keys = append(keys, a.Key)
			}
			if !reflect.DeepEqual(keys, tc.want) {
				t.Errorf("keys %v, want %v", keys, tc.want)
			}
			if cap(attrs) < len(attrs)+2 {
				t.Errorf("no room made for 2 more attributes: len %d cap %d", len(attrs), cap(attrs))
			}
			if attrs[0].Value.String() != string(tc.ev.Kind) || attrs[1].Value.String() != tc.ev.Path {
				t.Errorf("event, path = %v, %v", attrs[0].Value, attrs[1].Value)
			}
		})
	}
	if d := (&Event{Kind: Delayed, Delay: 1500 * time.Microsecond}).Attrs(0)[2].Value.String(); d != "2ms" {
		t.Errorf("delay shown as %q, want rounded to the millisecond (2ms)", d)
	}
}
