package policy

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

var t0 = time.Date(2026, 11, 23, 3, 12, 0, 0, time.UTC)

func kids(types ...RestartType) []Child {
	out := make([]Child, len(types))
	for i, r := range types {
		out[i] = Child{Name: fmt.Sprintf("c%d", i), Restart: r}
	}
	return out
}

func TestChildExited(t *testing.T) {
	t.Parallel()
	P, Tr, Te := Permanent, Transient, Temporary
	tests := []struct {
		name     string
		strategy Strategy
		children []Child
		failed   int
		abnormal bool
		want     Action
	}{
		{"one_for_one permanent crash", OneForOne, kids(P, P, P), 1, true, Action{Restart, []int{1}, []int{1}}},
		{"one_for_one permanent normal exit", OneForOne, kids(P, P, P), 1, false, Action{Restart, []int{1}, []int{1}}},
		{"one_for_one transient crash", OneForOne, kids(P, Tr, P), 1, true, Action{Restart, []int{1}, []int{1}}},
		{"one_for_one transient normal exit", OneForOne, kids(P, Tr, P), 1, false, Action{Ignore, []int{1}, nil}},
		{"one_for_one temporary crash", OneForOne, kids(P, Te, P), 1, true, Action{Ignore, []int{1}, nil}},
		{"one_for_all permanent crash", OneForAll, kids(P, P, P), 1, true, Action{Restart, []int{2, 1, 0}, []int{0, 1, 2}}},
		{"one_for_all skips temporary sibling", OneForAll, kids(Te, P, P), 2, true, Action{Restart, []int{2, 1, 0}, []int{1, 2}}},
		{"one_for_all transient normal exit", OneForAll, kids(P, Tr, P), 1, false, Action{Ignore, []int{1}, nil}},
		{"one_for_all temporary crash", OneForAll, kids(P, Te, P), 1, true, Action{Ignore, []int{1}, nil}},
		{"rest_for_one middle", RestForOne, kids(P, P, P, P), 1, true, Action{Restart, []int{3, 2, 1}, []int{1, 2, 3}}},
		{"rest_for_one last", RestForOne, kids(P, P, P), 2, true, Action{Restart, []int{2}, []int{2}}},
		{"rest_for_one first", RestForOne, kids(P, P, P), 0, false, Action{Restart, []int{2, 1, 0}, []int{0, 1, 2}}},
		{"rest_for_one skips later temporary", RestForOne, kids(P, P, Te, Tr), 1, true, Action{Restart, []int{3, 2, 1}, []int{1, 3}}},
		{"rest_for_one transient normal", RestForOne, kids(P, Tr, P), 1, false, Action{Ignore, []int{1}, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := New(Spec{Strategy: tt.strategy, Intensity: 3, Period: time.Minute}, &fakeClock{t0})
			got := s.ChildExited(tt.children, tt.failed, tt.abnormal)
			if got.Kind != tt.want.Kind || !slices.Equal(got.Stop, tt.want.Stop) || !slices.Equal(got.Start, tt.want.Start) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestIntensityWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		intensity int
		period    time.Duration
		gaps      []time.Duration // time before each crash
		want      []ActionKind
		budget    int // after the last crash
	}{
		{"within budget", 3, time.Minute, []time.Duration{0, time.Second, time.Second}, []ActionKind{Restart, Restart, Restart}, 0},
		{"fourth within period gives up", 3, time.Minute, []time.Duration{0, time.Second, time.Second, time.Second}, []ActionKind{Restart, Restart, Restart, GiveUp}, 0},
		{"window slides", 3, time.Minute, []time.Duration{0, time.Second, time.Second, time.Minute}, []ActionKind{Restart, Restart, Restart, Restart}, 2},
		{"exactly period apart is outside", 1, 10 * time.Second, []time.Duration{0, 10 * time.Second}, []ActionKind{Restart, Restart}, 0},
		{"just inside period", 1, 10 * time.Second, []time.Duration{0, 10*time.Second - time.Nanosecond}, []ActionKind{Restart, GiveUp}, 0},
		{"intensity zero gives up at once", 0, time.Minute, []time.Duration{0}, []ActionKind{GiveUp}, 0},
		{"slow crashes never give up", 2, time.Second, []time.Duration{0, 2 * time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second}, []ActionKind{Restart, Restart, Restart, Restart, Restart}, 1},
	}
	for _, tt := range tests {
		for _, strat := range []Strategy{OneForOne, OneForAll, RestForOne} {
			t.Run(tt.name+"/"+strat.String(), func(t *testing.T) {
				t.Parallel()
				clk := &fakeClock{t0}
				s := New(Spec{Strategy: strat, Intensity: tt.intensity, Period: tt.period}, clk)
				children := kids(Permanent, Permanent, Permanent)
				for n, gap := range tt.gaps {
					clk.Advance(gap)
					got := s.ChildExited(children, 1, true)
					if got.Kind != tt.want[n] {
						t.Fatalf("crash %d: got %v, want %v", n, got.Kind, tt.want[n])
					}
					if got.Kind == GiveUp && !slices.Equal(got.Stop, []int{2, 1, 0}) {
						t.Fatalf("give up stops %v, want [2 1 0]", got.Stop)
					}
				}
				if b := s.Budget(); b != tt.budget {
					t.Errorf("budget got %d, want %d", b, tt.budget)
				}
			})
		}
	}
}

func TestIgnoredExitsDoNotCount(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t0}
	s := New(Spec{Strategy: OneForOne, Intensity: 1, Period: time.Minute}, clk)
	children := kids(Temporary, Transient, Permanent)
	for range 5 {
		s.ChildExited(children, 0, true)
		s.ChildExited(children, 1, false)
	}
	if got := s.ChildExited(children, 2, true).Kind; got != Restart {
		t.Fatalf("got %v, want restart", got)
	}
	if got := s.ChildExited(children, 2, true).Kind; got != GiveUp {
		t.Fatalf("got %v, want give up", got)
	}
}

func TestPersistedHistory(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t0}
	s := New(Spec{Strategy: OneForOne, Intensity: 2, Period: time.Minute}, clk)
	s.SetRestarts([]time.Time{t0.Add(-2 * time.Minute), t0.Add(-30 * time.Second), t0.Add(-10 * time.Second)})
	if got := len(s.Restarts()); got != 2 {
		t.Fatalf("restarts in window got %d, want 2", got)
	}
	if got := s.ChildExited(kids(Permanent), 0, true).Kind; got != GiveUp {
		t.Fatalf("got %v, want give up", got)
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, s := range []Strategy{OneForOne, OneForAll, RestForOne} {
		got, err := ParseStrategy(s.String())
		if err != nil || got != s {
			t.Errorf("ParseStrategy(%q) got %v, %v", s, got, err)
		}
	}
	if _, err := ParseStrategy("simple_one_for_one"); err == nil {
		t.Error("simple_one_for_one accepted")
	}
	for _, r := range []RestartType{Permanent, Transient, Temporary} {
		got, err := ParseRestartType(r.String())
		if err != nil || got != r {
			t.Errorf("ParseRestartType(%q) got %v, %v", r, got, err)
		}
	}
	if got := Strategy(7).String(); got != "Strategy(7)" {
		t.Errorf("got %q", got)
	}
	if !errors.Is(fmt.Errorf("sup: %w", ErrIntensityExceeded), ErrIntensityExceeded) {
		t.Error("wrapping")
	}
}

func ExampleSupervisor_ChildExited() {
	clk := &fakeClock{t0}
	s := New(Spec{Strategy: RestForOne, Intensity: 1, Period: time.Minute}, clk)
	children := []Child{{Name: "db"}, {Name: "app"}, {Name: "web"}}
	fmt.Println(s.ChildExited(children, 1, true))
	fmt.Println(s.ChildExited(children, 1, true).Kind)
	// Output:
	// {restart [2 1] [1 2]}
	// give up
}
