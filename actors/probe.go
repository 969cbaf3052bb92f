package actors

import (
	"context"
	"log/slog"
	"sync"

	"github.com/otpsv/otpsv/config"
)

// Probe is what a status check of a service worker finds now.
type Probe struct {
	State  State // running, stopped or dirty
	Pid    int   // a process found by pattern, else 0
	Detail string
}

// ProbeServices runs the status check of every service worker under root
// (its status command, or its pattern), all at once, and returns what each
// found by path. It is how `otpsv status` and `check` see services when no
// daemon runs: a saved state would be stale. Commands are killed with
// their process groups after their timeout, as the daemon's are.
func ProbeServices(root *config.Node, log *slog.Logger) map[string]Probe {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &env{log: log, hurry: make(chan struct{})}
	e.cmdCtx, e.cmdCancel = context.WithCancel(context.Background())
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
			r := newCommands(n, e).status()
			st := StateDirty
			switch r.obs {
			case obsRunning:
				st = StateRunning
			case obsStopped:
				st = StateStopped
			}
			mu.Lock()
			out[n.Path] = Probe{State: st, Pid: r.pid, Detail: r.detail}
			mu.Unlock()
		}()
		return nil
	})
	wg.Wait()
	return out
}
