package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/otpsv/otpsv/config"
)

// Probe is what a status check of a service worker finds now.
type Probe struct {
	State  State // running, stopped or dirty
	Pid    int   // the pid of the pidfile, or a process found by pattern, else 0
	Detail string
}

// ProbeServices runs the status check of every service worker under root
// (its status command, its pidfile, or its pattern), all at once, and
// returns what each found by path. It is how `otpsv status` and `check` see services when no
// daemon runs: a saved state would be stale. Commands are killed with
// their process groups after their timeout, as the daemon's are.
func ProbeServices(root *config.Node, log *slog.Logger) map[string]Probe {
	e := commandEnv(context.Background(), log)
	defer e.cmdCancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := make(map[string]Probe)
	_ = root.Walk(func(n *config.Node) error {
		if n.Type != config.Service {
			return nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := probeOf(newCommands(n, e).status())
			mu.Lock()
			out[n.Path] = p
			mu.Unlock()
		}()
		return nil
	})
	wg.Wait()
	return out
}

// errNoRestartCommand: RestartService was given a node whose restart is
// a stop then a start.
var errNoRestartCommand = errors.New("no restart command")

// RestartService runs the restart command of service worker n (see
// RestartCommand) and waits, up to its timeout, for its status to report
// running, as the daemon does for `otpsv restart PATH`: it is how that
// verb restarts such a service when no daemon runs. ctx ending kills the
// command with its process group.
func RestartService(ctx context.Context, n *config.Node, log *slog.Logger) error {
	argv := RestartCommand(n)
	if argv == nil {
		return fmt.Errorf("restart %s: %w", n.Path, errNoRestartCommand)
	}
	e := commandEnv(ctx, log)
	defer e.cmdCancel()
	_, err := newCommands(n, e).restart(argv, nil)
	return err
}

// commandEnv is the env of commands run outside a tree.
func commandEnv(ctx context.Context, log *slog.Logger) *env {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &env{log: log, hurry: make(chan struct{})}
	e.cmdCtx, e.cmdCancel = context.WithCancel(ctx)
	return e
}

func probeOf(r checkResult) Probe {
	st := StateDirty
	switch r.obs {
	case obsRunning:
		st = StateRunning
	case obsStopped:
		st = StateStopped
	}
	return Probe{State: st, Pid: r.pid, Detail: r.detail}
}
