package policy

import "fmt"

// Strategy is how a supervisor reacts to the failure of one child.
type Strategy int

// The OTP restart strategies.
const (
	OneForOne Strategy = iota
	OneForAll
	RestForOne
)

var strategyNames = [...]string{"one_for_one", "one_for_all", "rest_for_one"}

func (s Strategy) String() string {
	if s >= 0 && int(s) < len(strategyNames) {
		return strategyNames[s]
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}

// ParseStrategy maps the YAML spelling to a Strategy.
func ParseStrategy(s string) (Strategy, error) {
	for i, n := range strategyNames {
		if n == s {
			return Strategy(i), nil
		}
	}
	return 0, fmt.Errorf("unknown strategy %q (want one_for_one, one_for_all or rest_for_one)", s)
}

// RestartType says when a worker that exited is to be restarted.
type RestartType int

// The OTP restart types.
const (
	// Permanent children are always restarted.
	Permanent RestartType = iota
	// Transient children are restarted only after an abnormal exit.
	Transient
	// Temporary children are never restarted.
	Temporary
)

var restartNames = [...]string{"permanent", "transient", "temporary"}

func (r RestartType) String() string {
	if r >= 0 && int(r) < len(restartNames) {
		return restartNames[r]
	}
	return fmt.Sprintf("RestartType(%d)", int(r))
}

// ParseRestartType maps the YAML spelling to a RestartType.
func ParseRestartType(s string) (RestartType, error) {
	for i, n := range restartNames {
		if n == s {
			return RestartType(i), nil
		}
	}
	return 0, fmt.Errorf("unknown restart type %q (want permanent, transient or temporary)", s)
}
