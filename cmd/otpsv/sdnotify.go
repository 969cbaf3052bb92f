package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/otpsv/otpsv/actors"
	"github.com/otpsv/otpsv/actors/control"
)

// systemd speaks systemd's notify protocol for the daemon itself, when a
// unit of Type=notify started it (NOTIFY_SOCKET is set): READY=1 once the
// tree has started, STATUS= a one-line summary whenever the tree changes
// (at most once a second), WATCHDOG=1 every half WATCHDOG_USEC while the
// tree's view answers, STOPPING=1 when it stops. The workers never see
// otpsv's NOTIFY_SOCKET (proc.InheritedEnv leaves it out).
type systemd struct {
	conn     *net.UnixConn
	log      *slog.Logger
	watchdog time.Duration
	kick     chan struct{}
	quit     chan struct{}
	done     chan struct{}
	once     sync.Once
}

// statusEvery bounds how often STATUS= is sent: a restart storm must not
// become a storm of datagrams to systemd.
const statusEvery = time.Second

// newSystemd returns nil when no service manager asked for notifications.
func newSystemd(log *slog.Logger) *systemd {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	if addr[0] == '@' {
		addr = "\x00" + addr[1:] // an abstract socket
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		log.Warn("systemd: cannot reach NOTIFY_SOCKET", "err", err)
		return nil
	}
	s := &systemd{conn: conn, log: log, kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	if usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64); err == nil && usec > 0 {
		if pid := os.Getenv("WATCHDOG_PID"); pid == "" || pid == strconv.Itoa(os.Getpid()) {
			s.watchdog = time.Duration(usec) * time.Microsecond / 2
		}
	}
	return s
}

func (s *systemd) send(msg string) {
	if _, err := s.conn.Write([]byte(msg)); err != nil {
		s.log.Warn("systemd: notify", "msg", msg, "err", err)
	}
}

// observe hears every change of a node's state (Options.Observer): the
// summary is sent again soon.
func (s *systemd) observe(actors.Event) {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// run sends READY=1 once the tree has started, then keeps STATUS= and the
// watchdog up to date until stop.
func (s *systemd) run(tree *actors.Tree) {
	defer close(s.done)
	select {
	case <-tree.Started():
	case <-s.quit:
		return
	}
	last := summary(tree.Snapshot())
	s.send("READY=1\nSTATUS=" + last)
	var tick <-chan time.Time
	if s.watchdog > 0 {
		t := time.NewTicker(s.watchdog)
		defer t.Stop()
		tick = t.C
		s.send("WATCHDOG=1")
	}
	for {
		select {
		case <-s.quit:
			return
		case <-tick:
			// The view answers only while its goroutine folds the
			// actors' reports: a wedged daemon stops petting the dog.
			tree.Snapshot()
			s.send("WATCHDOG=1")
		case <-s.kick:
			// At once, then once more after the pause, for what changed
			// meanwhile (its kick may have been taken by this round).
			for range 2 {
				if st := summary(tree.Snapshot()); st != last {
					last = st
					s.send("STATUS=" + st)
				}
				select {
				case <-time.After(statusEvery):
				case <-s.quit:
					return
				}
			}
		}
	}
}

// stopping says STOPPING=1 and ends run; the last word, once.
func (s *systemd) stopping() {
	s.once.Do(func() {
		close(s.quit)
		<-s.done
		s.send("STOPPING=1\nSTATUS=stopping")
		_ = s.conn.Close()
	})
}

// summary is one line on the workers of the tree: how many, and in which
// states ("12 workers: 11 running, 1 backoff").
func summary(root *control.Node) string {
	if root == nil {
		return "no tree"
	}
	states := map[string]int{}
	n := 0
	var walk func(*control.Node)
	walk = func(c *control.Node) {
		if c.Type != "supervisor" {
			n++
			st := c.State
			if c.Ready != nil && !*c.Ready && st == "running" {
				st = "not ready"
			}
			states[st]++
		}
		for _, k := range c.Children {
			walk(k)
		}
	}
	walk(root)
	if len(states) == 1 {
		for st := range states {
			return fmt.Sprintf("%d workers: all %s", n, st)
		}
	}
	parts := make([]string, 0, len(states))
	for st, k := range states {
		parts = append(parts, fmt.Sprintf("%d %s", k, st))
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] > parts[j] })
	return fmt.Sprintf("%d workers: %s", n, strings.Join(parts, ", "))
}
