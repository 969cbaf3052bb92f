package policy

import (
	"fmt"
	"math"
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	t.Parallel()
	const ms = time.Millisecond
	b2 := Backoff{Initial: 100 * ms, Max: 30 * time.Second, Factor: 2}
	b1 := Backoff{Initial: 100 * ms, Max: 30 * time.Second, Factor: 1}
	b15 := Backoff{Initial: 100 * ms, Max: 30 * time.Second, Factor: 1.5}
	j2 := b2
	j2.Jitter = 0.2
	j15 := b15
	j15.Jitter = 0.2
	huge := Backoff{Initial: time.Second, Max: math.MaxInt64, Factor: 10}
	hugeJ := huge
	hugeJ.Jitter = 0.2
	with := func(b Backoff, f func(*Backoff)) Backoff { f(&b); return b }

	tests := []struct {
		name string
		b    Backoff
		n    int
		u    float64
		want time.Duration
	}{
		{"factor 2 n=1", b2, 1, 0.5, 100 * ms},
		{"factor 2 n=2", b2, 2, 0.5, 200 * ms},
		{"factor 2 n=3", b2, 3, 0.5, 400 * ms},
		{"factor 2 n=9", b2, 9, 0.5, 25600 * ms},
		{"factor 2 n=10 clamps at max", b2, 10, 0.5, 30 * time.Second},
		{"factor 2 n=64", b2, 64, 0.5, 30 * time.Second},
		{"factor 2 n=0 is n=1", b2, 0, 0.5, 100 * ms},
		{"factor 2 n<0 is n=1", b2, -7, 0.5, 100 * ms},
		{"factor 1 n=1", b1, 1, 0.5, 100 * ms},
		{"factor 1 n=1000", b1, 1000, 0.5, 100 * ms},
		{"factor 1.5 n=2", b15, 2, 0.5, 150 * ms},
		{"factor 1.5 n=3", b15, 3, 0.5, 225 * ms},
		{"factor 1.5 n=4", b15, 4, 0.5, 337500 * time.Microsecond},
		{"factor 1.5 n=15 just below max", b15, 15, 0.5, 29192926025 * time.Nanosecond},
		{"factor 1.5 n=16 clamps at max", b15, 16, 0.5, 30 * time.Second},

		{"jitter n=1 u=0", j2, 1, 0, 80 * ms},
		{"jitter n=1 u=0.5", j2, 1, 0.5, 100 * ms},
		{"jitter n=1 u=0.999", j2, 1, 0.999, 119960 * time.Microsecond},
		{"jitter n=3 u=0", j2, 3, 0, 320 * ms},
		{"jitter n=3 u=0.999", j2, 3, 0.999, 479840 * time.Microsecond},
		{"jitter factor 1.5 n=2 u=0", j15, 2, 0, 120 * ms},
		{"jitter factor 1.5 n=2 u=0.999", j15, 2, 0.999, 179940 * time.Microsecond},
		// base 25.6s: base*1.2 would pass Max, so the range is [20.48s, 30s].
		{"jitter near max u=0", j2, 9, 0, 20480 * ms},
		{"jitter near max u=0.5", j2, 9, 0.5, 25240 * ms},
		{"jitter near max u=0.999", j2, 9, 0.999, 29990480 * time.Microsecond},
		// At Max the spread is [Max*0.8, Max], never above Max.
		{"jitter at max u=0", j2, 20, 0, 24 * time.Second},
		{"jitter at max u=0.5", j2, 20, 0.5, 27 * time.Second},
		{"jitter at max u=0.999", j2, 20, 0.999, 29994 * ms},

		{"overflow n=10000 factor 10", with(b2, func(b *Backoff) { b.Factor = 10 }), 10000, 0.5, 30 * time.Second},
		{"overflow n=10000 factor 10 jitter", with(j2, func(b *Backoff) { b.Factor = 10 }), 10000, 0.999, 29994 * ms},
		{"overflow n=MaxInt", j2, math.MaxInt, 0, 24 * time.Second},
		{"overflow max=MaxInt64", huge, 10000, 0.5, math.MaxInt64},
		{"overflow max=MaxInt64 n=19", huge, 19, 0.5, math.MaxInt64},
		{"max=MaxInt64 below it", huge, 3, 0.5, 100 * time.Second},

		{"zero backoff: no delay", Backoff{}, 5, 0.5, 0},
		{"no initial: no delay", with(j2, func(b *Backoff) { b.Initial = 0 }), 3, 0.999, 0},
		{"no max: no delay", with(j2, func(b *Backoff) { b.Max = 0 }), 3, 0.999, 0},
		{"max below initial", with(b2, func(b *Backoff) { b.Max = 50 * ms }), 1, 0.5, 50 * ms},
		{"factor below 1 taken as 1", with(b2, func(b *Backoff) { b.Factor = 0.5 }), 5, 0.5, 100 * ms},
		{"factor 0 taken as 1", with(b2, func(b *Backoff) { b.Factor = 0 }), 5, 0.5, 100 * ms},
		{"factor NaN taken as 1", with(b2, func(b *Backoff) { b.Factor = math.NaN() }), 5, 0.5, 100 * ms},
		{"factor +Inf", with(b2, func(b *Backoff) { b.Factor = math.Inf(1) }), 2, 0.5, 30 * time.Second},
		{"jitter above 1 clamped: never negative", with(j2, func(b *Backoff) { b.Jitter = 3 }), 1, 0, 0},
		{"jitter 1 u=0.5", with(j2, func(b *Backoff) { b.Jitter = 1 }), 1, 0.5, 100 * ms},
		{"negative jitter is none", with(j2, func(b *Backoff) { b.Jitter = -0.5 }), 1, 0, 100 * ms},
		{"u NaN is the middle", j2, 1, math.NaN(), 100 * ms},
		{"u below 0 clamped", j2, 1, -1, 80 * ms},
		{"u 1 is the top", j2, 1, 1, 120 * ms},
		{"u above 1 clamped", j2, 20, 5, 30 * time.Second},
	}
	// Near 2^63 ns a float64 step is 1µs or more: check a range, not a value.
	if got, lo := hugeJ.Delay(10000, 0.999), time.Duration(0.9997*float64(math.MaxInt64)); got < lo || got == math.MaxInt64 {
		t.Errorf("max=MaxInt64 jitter: Delay(10000, 0.999) = %v, want in [%v, MaxInt64)", got, lo)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.b.Delay(tt.n, tt.u); got != tt.want {
				t.Errorf("Delay(%d, %v) = %v, want %v", tt.n, tt.u, got, tt.want)
			}
		})
	}
}

func TestBackoffDelayZeroJitterIgnoresU(t *testing.T) {
	t.Parallel()
	b := Backoff{Initial: 100 * time.Millisecond, Max: 30 * time.Second, Factor: 2}
	for n := 1; n <= 40; n++ {
		want := b.Delay(n, 0)
		for _, u := range []float64{0.001, 0.25, 0.5, 0.75, 0.999} {
			if got := b.Delay(n, u); got != want {
				t.Errorf("n=%d: Delay(u=%v) = %v, Delay(u=0) = %v", n, u, got, want)
			}
		}
	}
}

// TestBackoffDelayBounds checks over a grid of n and u what the table shows
// at points: within [0, Max], never falling as failures add up, and spread
// out at Max so that nodes failing together do not retry together.
func TestBackoffDelayBounds(t *testing.T) {
	t.Parallel()
	for _, b := range []Backoff{
		DefaultBackoff,
		{Initial: time.Second, Max: time.Minute, Factor: 1.5, Jitter: 0.5},
		{Initial: time.Millisecond, Max: math.MaxInt64, Factor: 10, Jitter: 1},
		{Initial: 7, Max: 100, Factor: 3, Jitter: 0.3},
	} {
		atMax := make(map[time.Duration]bool)
		for i := range 1000 {
			u := float64(i) / 1000
			prev := time.Duration(0)
			for _, n := range []int{1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 1000, 10000, math.MaxInt} {
				d := b.Delay(n, u)
				if d < 0 || d > b.Max {
					t.Fatalf("%+v: Delay(%d, %v) = %v, outside [0, %v]", b, n, u, d, b.Max)
				}
				if d < prev {
					t.Fatalf("%+v: Delay(%d, %v) = %v, below the previous n's %v", b, n, u, d, prev)
				}
				prev = d
			}
			atMax[b.Delay(math.MaxInt, u)] = true
		}
		if b.Max > 1000 && len(atMax) < 1000 {
			t.Errorf("%+v: 1000 draws at Max gave %d distinct delays, want 1000", b, len(atMax))
		}
	}
}

func TestStreak(t *testing.T) {
	t.Parallel()
	const resetAfter = time.Minute
	type step struct {
		after time.Duration // advance the clock first
		op    string        // ready, unready, fail
		want  int           // Count() after the step (Fail's result too)
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"never ready: counts up", []step{{0, "fail", 1}, {time.Second, "fail", 2}, {time.Hour, "fail", 3}}},
		{"ready exactly resetAfter: resets", []step{
			{0, "fail", 1}, {0, "fail", 2}, {10 * time.Second, "ready", 2}, {resetAfter, "fail", 1},
		}},
		{"ready just under resetAfter: counts on", []step{
			{0, "fail", 1}, {0, "fail", 2}, {10 * time.Second, "ready", 2}, {resetAfter - time.Nanosecond, "fail", 3},
		}},
		{"first failure after a long ready stretch", []step{{0, "ready", 0}, {time.Hour, "fail", 1}}},
		{"second Ready does not restart the stretch", []step{
			{0, "fail", 1}, {time.Second, "ready", 1}, {50 * time.Second, "ready", 1}, {10 * time.Second, "fail", 1},
		}},
		{"Unready interrupts the stretch", []step{
			{0, "fail", 1}, {0, "ready", 1}, {40 * time.Second, "unready", 1},
			{10 * time.Second, "ready", 1}, {50 * time.Second, "fail", 2},
		}},
		{"a new stretch after Unready can reset", []step{
			{0, "fail", 1}, {0, "ready", 1}, {40 * time.Second, "unready", 1},
			{10 * time.Second, "ready", 1}, {resetAfter, "fail", 1},
		}},
		{"Unready then Fail credits nothing", []step{
			{0, "fail", 1}, {0, "ready", 1}, {time.Hour, "unready", 1}, {0, "fail", 2},
		}},
		{"Unready when not ready is harmless", []step{{0, "unready", 0}, {0, "fail", 1}, {0, "unready", 1}, {0, "fail", 2}}},
		{"Fail ends readiness", []step{
			{0, "fail", 1}, {0, "ready", 1}, {time.Second, "fail", 2}, {time.Hour, "fail", 3},
		}},
		{"reset then counts up again", []step{
			{0, "fail", 1}, {0, "fail", 2}, {0, "ready", 2}, {resetAfter, "fail", 1},
			{time.Second, "ready", 1}, {time.Second, "fail", 2},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := &fakeClock{t0}
			var s Streak
			if got := s.Count(); got != 0 {
				t.Fatalf("zero Streak: Count() = %d, want 0", got)
			}
			for i, st := range tt.steps {
				clk.Advance(st.after)
				switch st.op {
				case "ready":
					s.Ready(clk.Now())
				case "unready":
					s.Unready()
				case "fail":
					if got := s.Fail(clk.Now(), resetAfter); got != st.want {
						t.Fatalf("step %d (%s at +%v): Fail() = %d, want %d", i, st.op, clk.Now().Sub(t0), got, st.want)
					}
				default:
					t.Fatalf("step %d: unknown op %q", i, st.op)
				}
				if got := s.Count(); got != st.want {
					t.Fatalf("step %d (%s at +%v): Count() = %d, want %d", i, st.op, clk.Now().Sub(t0), got, st.want)
				}
			}
		})
	}
}

// runs parses "fo f" (f: failed, o: succeeded; spaces ignored) into results.
func runs(s string) []bool {
	var out []bool
	for _, c := range s {
		switch c {
		case 'o':
			out = append(out, true)
		case 'f':
			out = append(out, false)
		}
	}
	return out
}

func TestProberResult(t *testing.T) {
	t.Parallel()
	const (
		N  = NoChange
		R  = BecameReady
		U  = BecameUnready
		H  = Hung
		RD = Readiness
		LV = Liveness
	)
	spec := func(failure, success int) ProbeSpec {
		s := DefaultProbeSpec
		s.FailureThreshold, s.SuccessThreshold = failure, success
		return s
	}
	tests := []struct {
		name      string
		role      ProbeRole
		spec      ProbeSpec
		results   string
		want      []Verdict
		wantReady bool
		wantFails int
	}{
		{"readiness: failures then first success", RD, spec(3, 1), "ffo", []Verdict{N, N, R}, true, 0},
		{"readiness: failures before the first success never unready", RD, spec(3, 1), "fffff", []Verdict{N, N, N, N, N}, false, 5},
		{"readiness: first success ignores success threshold", RD, spec(3, 3), "o", []Verdict{R}, true, 0},
		{"readiness: failure threshold then success threshold", RD, spec(3, 2), "o fff oo", []Verdict{R, N, N, U, N, R}, true, 0},
		{"readiness: unready once", RD, spec(3, 2), "o fffff", []Verdict{R, N, N, U, N, N}, false, 5},
		{"readiness: flapping while ready", RD, spec(3, 2), "o ffo ffo ffo", []Verdict{R, N, N, N, N, N, N, N, N, N}, true, 0},
		{"readiness: flapping while unready", RD, spec(3, 2), "o fff of of of", []Verdict{R, N, N, U, N, N, N, N, N, N}, false, 1},
		{"readiness: success run restarts after a failure", RD, spec(2, 3), "o ff oo f ooo", []Verdict{R, N, U, N, N, N, N, N, R}, true, 0},
		{"readiness: thresholds 1", RD, spec(1, 1), "o f o f", []Verdict{R, U, R, U}, false, 1},
		{"readiness: successes while ready change nothing", RD, spec(1, 1), "ooo", []Verdict{R, N, N}, true, 0},
		{"readiness: thresholds < 1 taken as 1", RD, spec(0, -2), "o f o", []Verdict{R, U, R}, true, 0},
		{"liveness: threshold 1", LV, spec(1, 1), "ff o f", []Verdict{H, H, N, H}, false, 0},
		{"liveness: threshold 3 restarts after hung", LV, spec(3, 1), "ffffff f", []Verdict{N, N, H, N, N, H, N}, false, 1},
		{"liveness: success resets", LV, spec(3, 1), "ffo ffo fff", []Verdict{N, N, N, N, N, N, N, N, H}, false, 0},
		{"liveness: successes never ready", LV, spec(3, 1), "ooo", []Verdict{N, N, N}, false, 0},
		{"liveness: success threshold plays no part", LV, spec(2, 5), "ff", []Verdict{N, H}, false, 0},
		{"liveness: threshold < 1 taken as 1", LV, spec(0, 1), "f", []Verdict{H}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := NewProber(tt.role, tt.spec)
			if p.Ready() || p.Failures() != 0 {
				t.Fatalf("new prober: Ready() = %v, Failures() = %d, want false, 0", p.Ready(), p.Failures())
			}
			rs := runs(tt.results)
			if len(rs) != len(tt.want) {
				t.Fatalf("bad row: %d results, %d verdicts", len(rs), len(tt.want))
			}
			for i, ok := range rs {
				if got := p.Result(ok); got != tt.want[i] {
					t.Errorf("result %d (ok=%v): got %v, want %v", i, ok, got, tt.want[i])
				}
			}
			if got := p.Ready(); got != tt.wantReady {
				t.Errorf("Ready() = %v, want %v", got, tt.wantReady)
			}
			if got := p.Failures(); got != tt.wantFails {
				t.Errorf("Failures() = %d, want %d", got, tt.wantFails)
			}
		})
	}
}

func TestProberSchedule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		spec      ProbeSpec
		wantFirst time.Duration // after the start (or readiness)
		wantNext  time.Duration // after the run began
	}{
		{"defaults", DefaultProbeSpec, 0, 10 * time.Second},
		{"initial delay", ProbeSpec{Period: 2 * time.Second, InitialDelay: 5 * time.Second}, 5 * time.Second, 2 * time.Second},
		{"negative initial delay is none", ProbeSpec{Period: time.Second, InitialDelay: -time.Second}, 0, time.Second},
		{"zero period is the default", ProbeSpec{InitialDelay: time.Second}, time.Second, DefaultProbeSpec.Period},
		{"negative period is the default", ProbeSpec{Period: -time.Second}, 0, DefaultProbeSpec.Period},
	}
	for _, tt := range tests {
		for _, role := range []ProbeRole{Readiness, Liveness} {
			t.Run(fmt.Sprintf("%s/%s", tt.name, role), func(t *testing.T) {
				t.Parallel()
				clk := &fakeClock{t0}
				p := NewProber(role, tt.spec)
				first := p.First(clk.Now())
				if got := first.Sub(t0); got != tt.wantFirst {
					t.Errorf("First = start%+v, want start%+v", got, tt.wantFirst)
				}
				// Runs are spaced from their starts, whatever they took.
				at := first
				for i := range 3 {
					clk.t = at
					clk.Advance(300 * time.Millisecond) // the run took this long
					next := p.Next(at)
					if got := next.Sub(at); got != tt.wantNext {
						t.Errorf("run %d: Next = ranAt%+v, want ranAt%+v", i, got, tt.wantNext)
					}
					at = next
				}
			})
		}
	}
}

func TestHealthStrings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		got, want string
	}{
		{NoChange.String(), "no change"},
		{BecameReady.String(), "became ready"},
		{BecameUnready.String(), "became unready"},
		{Hung.String(), "hung"},
		{Verdict(9).String(), "Verdict(9)"},
		{Readiness.String(), "readiness"},
		{Liveness.String(), "liveness"},
		{ProbeRole(-1).String(), "ProbeRole(-1)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// A worker that keeps crashing right after each start: the wait doubles up
// to Max. Jitter (0 here, to show the base) spreads each wait by ±Jitter.
func ExampleBackoff_Delay() {
	b := Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Factor: 2}
	var s Streak
	for range 7 {
		n := s.Fail(t0, time.Minute)
		fmt.Println(n, b.Delay(n, 0.5))
	}
	// Output:
	// 1 100ms
	// 2 200ms
	// 3 400ms
	// 4 800ms
	// 5 1.6s
	// 6 2s
	// 7 2s
}

func TestProbeTickAndAlign(t *testing.T) {
	for _, c := range []struct{ period, want time.Duration }{
		{time.Second, 100 * time.Millisecond},
		{10 * time.Second, 100 * time.Millisecond},
		{500 * time.Millisecond, 50 * time.Millisecond},
		{5 * time.Millisecond, time.Millisecond},
	} {
		if got := ProbeTick(c.period); got != c.want {
			t.Errorf("ProbeTick(%v) = %v, want %v", c.period, got, c.want)
		}
	}
	base := time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		t, tick time.Duration // offsets from base
		want    time.Duration
	}{
		{0, 100 * time.Millisecond, 0},
		{time.Nanosecond, 100 * time.Millisecond, 0},
		{49 * time.Millisecond, 100 * time.Millisecond, 0},
		{50 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond},
		{99 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond},
		{100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond},
		// a run that began 3 ms after its grid instant: the next is due
		// a period after the grid instant, not a period and a tick
		{1003 * time.Millisecond, 100 * time.Millisecond, time.Second},
		{150 * time.Millisecond, 0, 150 * time.Millisecond},
	} {
		if got := Align(base.Add(c.t), c.tick); !got.Equal(base.Add(c.want)) {
			t.Errorf("Align(+%v, %v) = +%v, want +%v", c.t, c.tick, got.Sub(base), c.want)
		}
	}
}
