package policy

import "testing"

// TestTriggers: OTP's auto_shutdown rules, strategy by restart type by
// exit kind, with the other significant children active or not.
func TestTriggers(t *testing.T) {
	t.Parallel()
	kids := func(r RestartType, sig bool) []Child {
		return []Child{
			{Name: "a", Restart: r, Significant: sig},
			{Name: "b", Restart: Temporary, Significant: true},
			{Name: "c", Restart: Permanent},
		}
	}
	for _, c := range []struct {
		name     string
		mode     ShutdownMode
		restart  RestartType
		sig      bool
		abnormal bool
		bActive  bool
		want     bool
	}{
		{"never", ShutdownNever, Transient, true, false, false, false},
		{"not significant", ShutdownAnySignificant, Transient, false, false, false, false},
		{"any: transient normal exit", ShutdownAnySignificant, Transient, true, false, true, true},
		{"any: transient failure is restarted", ShutdownAnySignificant, Transient, true, true, true, false},
		{"any: temporary normal exit", ShutdownAnySignificant, Temporary, true, false, true, true},
		{"any: temporary failure", ShutdownAnySignificant, Temporary, true, true, true, true},
		{"any: permanent never triggers", ShutdownAnySignificant, Permanent, true, false, false, false},
		{"all: another significant still active", ShutdownAllSignificant, Transient, true, false, true, false},
		{"all: the last significant one", ShutdownAllSignificant, Transient, true, false, false, true},
		{"all: temporary failure of the last one", ShutdownAllSignificant, Temporary, true, true, false, true},
		{"all: transient failure of the last one is restarted", ShutdownAllSignificant, Transient, true, true, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			// c (permanent, not significant) is always active: it never
			// holds a shutdown back.
			active := []bool{true, c.bActive, true}
			if got := Triggers(c.mode, kids(c.restart, c.sig), 0, c.abnormal, active); got != c.want {
				t.Errorf("Triggers = %v, want %v", got, c.want)
			}
		})
	}
}
