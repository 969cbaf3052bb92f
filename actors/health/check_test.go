//go:build linux

package health

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/otpsv/otpsv/actors/policy"
	"github.com/otpsv/otpsv/actors/proc"
	"github.com/otpsv/otpsv/config"
)

func httpProbe(url string, timeout time.Duration) *config.Probe {
	ps := policy.DefaultProbeSpec
	ps.Timeout = timeout
	return &config.Probe{Kind: config.ProbeHTTP, URL: url, ProbeSpec: ps}
}

func tcpProbe(addr string, timeout time.Duration) *config.Probe {
	ps := policy.DefaultProbeSpec
	ps.Timeout = timeout
	return &config.Probe{Kind: config.ProbeTCP, Addr: addr, ProbeSpec: ps}
}

func execProbe(timeout time.Duration, argv ...string) *config.Probe {
	ps := policy.DefaultProbeSpec
	ps.Timeout = timeout
	return &config.Probe{Kind: config.ProbeExec, Argv: argv, ProbeSpec: ps}
}

// checkFailure runs Check and returns its *Failure, nil on success.
func checkFailure(t *testing.T, ctx context.Context, p *config.Probe, env ExecEnv) *Failure {
	t.Helper()
	err := Check(ctx, p, env)
	if err == nil {
		return nil
	}
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("got %T %v, want a *Failure", err, err)
	}
	if got, want := err.Error(), p.String()+": "+f.Reason; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	return f
}

// probeHandler answers each path of the HTTP tests and records what the
// probe sent on /ok.
func probeHandler(seen chan<- *http.Request) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		select {
		case seen <- r:
		default:
		}
		_, _ = w.Write([]byte("fine\n"))
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/teapot", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/fail", http.StatusFound) })
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 16 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
	})
	hijack := func(answer string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			c, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte(answer))
			_ = c.Close()
		}
	}
	mux.Handle("/bare", hijack("HTTP/1.1 500\r\nContent-Length: 0\r\n\r\n"))
	mux.Handle("/garbage", hijack("hello\r\n\r\n"))
	mux.Handle("/silent", hijack(""))
	return mux
}

// TestCheckHTTP runs the same probes against an http:// server (the
// hand-written client) and an https:// one (net/http, with a self-signed
// certificate).
func TestCheckHTTP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path      string
		want      string // the failure reason; "" for success
		plainOnly bool   // the text is the hand-written client's
	}{
		{path: "/ok"},
		{path: "/redirect"}, // a 3xx is an answer, not followed to /fail
		{path: "/nocontent"},
		{path: "/big"}, // not read to the end: the connection is ended
		{path: "/fail", want: "503 Service Unavailable"},
		{path: "/teapot", want: "418 I'm a teapot"},
		{path: "/missing", want: "404 Not Found"},
		{path: "/bare", want: "500 Internal Server Error", plainOnly: true},
		{path: "/garbage", want: `malformed status line "hello"`, plainOnly: true},
		{path: "/silent", want: "connection closed before a status line", plainOnly: true},
		{path: "/slow", want: "no answer within 200ms"},
	}
	for _, scheme := range []string{"http", "https"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			seen := make(chan *http.Request, 1)
			srv := httptest.NewUnstartedServer(probeHandler(seen))
			if scheme == "https" {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			t.Cleanup(srv.Close)
			for _, tt := range tests {
				if tt.plainOnly && scheme == "https" {
					continue
				}
				t.Run(tt.path, func(t *testing.T) {
					t.Parallel()
					timeout := time.Minute // no flake on a loaded machine
					if tt.path == "/slow" {
						timeout = 200 * time.Millisecond
					}
					f := checkFailure(t, t.Context(), httpProbe(srv.URL+tt.path, timeout), ExecEnv{})
					switch {
					case tt.want == "" && f != nil:
						t.Errorf("got %v, want success", f)
					case tt.want != "" && f == nil:
						t.Errorf("got success, want %q", tt.want)
					case f != nil && f.Reason != tt.want:
						t.Errorf("got %q, want %q", f.Reason, tt.want)
					}
					if tt.path == "/slow" && f != nil && !errors.Is(f, ErrTimeout) {
						t.Errorf("got %v, want ErrTimeout", f.Err)
					}
				})
			}
			t.Run("headers", func(t *testing.T) {
				if f := checkFailure(t, t.Context(), httpProbe(srv.URL+"/ok?x=1", time.Minute), ExecEnv{}); f != nil {
					t.Fatal(f)
				}
				r := <-seen
				if ua := r.Header.Get("User-Agent"); ua != "otpsv-probe" {
					t.Errorf("User-Agent got %q, want otpsv-probe", ua)
				}
				if host := strings.TrimPrefix(srv.URL, scheme+"://"); r.Host != host {
					t.Errorf("Host got %q, want %q", r.Host, host)
				}
				if !r.Close {
					t.Error("no Connection: close")
				}
				if r.URL.RawQuery != "x=1" {
					t.Errorf("query got %q, want x=1", r.URL.RawQuery)
				}
			})
		})
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// silentAddr is a loopback address that accepts connections and never
// says a word.
func silentAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return l.Addr().String()
}

func TestCheckRefused(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	for _, p := range []*config.Probe{httpProbe("http://"+addr+"/", time.Minute), httpProbe("https://"+addr+"/", time.Minute), tcpProbe(addr, time.Minute)} {
		f := checkFailure(t, t.Context(), p, ExecEnv{})
		if f == nil || f.Reason != "connection refused" || !errors.Is(f, syscall.ECONNREFUSED) {
			t.Errorf("%s: got %v, want connection refused", p, f)
		}
	}
}

func TestCheckTCP(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if f := checkFailure(t, t.Context(), tcpProbe(l.Addr().String(), time.Minute), ExecEnv{}); f != nil {
		t.Errorf("got %v, want success", f)
	}
	f := checkFailure(t, t.Context(), tcpProbe("127.0.0.1:notaport", time.Minute), ExecEnv{})
	if f == nil {
		t.Error("bad address: got success")
	}
}

// TestCheckTCPTimeout: a listener whose backlog is full drops the SYN of
// a further connection, which then gets no answer.
func TestCheckTCPTimeout(t *testing.T) {
	t.Parallel()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	// Fill the backlog with connections nobody accepts.
	for range 4 {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			break
		}
		defer c.Close()
	}
	f := checkFailure(t, t.Context(), tcpProbe(addr, 200*time.Millisecond), ExecEnv{})
	if f == nil || f.Reason != "no answer within 200ms" || !errors.Is(f, ErrTimeout) {
		t.Errorf("got %v, want no answer within 200ms", f)
	}
}

func TestCheckExec(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name string
		argv []string
		env  ExecEnv
		want string
	}{
		{name: "ok", argv: []string{"true"}},
		{name: "exit", argv: []string{"/bin/sh", "-c", "echo; echo '  db down  '; echo more; exit 3"}, want: "exit 3: db down"},
		{name: "silent", argv: []string{"/bin/sh", "-c", "exit 4"}, want: "exit 4"},
		{name: "signal", argv: []string{"/bin/sh", "-c", "kill -KILL $$"}, want: "killed by signal KILL"},
		{name: "env", argv: []string{"/bin/sh", "-c", `test "$PWD" = "$WANT"`}, env: ExecEnv{Dir: dir, Env: []string{"WANT=" + dir}}},
		{name: "missing", argv: []string{"/nonexistent/check"}, want: "no such file or directory"},
		{name: "long", argv: []string{"/bin/sh", "-c", "printf '%0300d' 0; exit 1"}, want: "exit 1: " + strings.Repeat("0", maxReasonLine) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := checkFailure(t, t.Context(), execProbe(time.Minute, tt.argv...), tt.env)
			switch {
			case tt.want == "" && f != nil:
				t.Errorf("got %v, want success", f)
			case tt.want != "" && (f == nil || f.Reason != tt.want):
				t.Errorf("got %v, want %q", f, tt.want)
			}
		})
	}
}

// TestCheckExecTimeout: a command that does not exit in time is killed
// with everything it started in its group.
func TestCheckExecTimeout(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pgid")
	start := time.Now()
	f := checkFailure(t, t.Context(), execProbe(200*time.Millisecond, "/bin/sh", "-c", `sleep 60 & echo $$ > `+pidFile+`; wait`), ExecEnv{})
	if f == nil || f.Reason != "no exit within 200ms (killed)" || !errors.Is(f, ErrTimeout) {
		t.Fatalf("got %v, want no exit within 200ms (killed)", f)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pgid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if proc.GroupAlive(pgid) {
		t.Errorf("group %d alive after the probe", pgid)
	}
}

// TestCheckCanceled: the caller's cancellation ends a probe at once and
// says so, unlike its own timeout.
func TestCheckCanceled(t *testing.T) {
	t.Parallel()
	addr := silentAddr(t)
	for _, p := range []*config.Probe{
		httpProbe("http://"+addr+"/", time.Minute),
		httpProbe("https://"+addr+"/", time.Minute),
		execProbe(time.Minute, "sleep", "60"),
	} {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		f := checkFailure(t, ctx, p, ExecEnv{})
		if f == nil || !errors.Is(f, context.Canceled) || errors.Is(f, ErrTimeout) {
			t.Errorf("%s: got %v, want canceled", p, f)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: took %v", p, d)
		}
		cancel()
	}
}

func fdCount(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// waitBack waits for count to come back to at most base; the deadline is
// a hang guard, not a success condition.
func waitBack(t *testing.T, what string, base int, count func() int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for count() > base {
		if time.Now().After(deadline) {
			t.Errorf("%s: got %d, want at most %d", what, count(), base)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCheckNoLeaks: after 200 probes of every kind (passing and failing)
// against a server in another process, this process has no more
// goroutines and descriptors than before; nor after 50 https probes.
// Not parallel: other tests' goroutines would be counted.
func TestCheckNoLeaks(t *testing.T) {
	base := externalServer(t)
	addr := strings.TrimPrefix(base, "http://")
	probes := []struct {
		p  *config.Probe
		ok bool
	}{
		{httpProbe(base+"/", time.Minute), true},
		{httpProbe(base+"/fail", time.Minute), false},
		{httpProbe("http://"+closedAddr(t)+"/", time.Minute), false},
		{tcpProbe(addr, time.Minute), true},
		{execProbe(time.Minute, "true"), true},
		{execProbe(time.Minute, "false"), false},
	}
	leakCheck(t, 200, func(i int) {
		pc := probes[i%len(probes)]
		if err := Check(t.Context(), pc.p, ExecEnv{}); (err == nil) != pc.ok {
			t.Fatalf("%s: got %v", pc.p, err)
		}
	})

	// net/http's transport runs goroutines of its own per connection.
	tls := httptest.NewTLSServer(probeHandler(nil))
	defer tls.Close()
	leakCheck(t, 50, func(int) {
		if err := Check(t.Context(), httpProbe(tls.URL+"/ok", time.Minute), ExecEnv{}); err != nil {
			t.Fatal(err)
		}
	})
}

// leakCheck runs probe n times after a warm-up round (lazily started
// goroutines, pools), then waits for the goroutine and descriptor counts
// to come back to what they were.
func leakCheck(t *testing.T, n int, probe func(i int)) {
	t.Helper()
	for i := range 6 {
		probe(i)
	}
	goroutines, fds := runtime.NumGoroutine(), fdCount(t)
	for i := range n {
		probe(i)
	}
	waitBack(t, "goroutines", goroutines, runtime.NumGoroutine)
	waitBack(t, "open descriptors", fds, func() int { return fdCount(t) })
	if t.Failed() {
		buf := make([]byte, 1<<20)
		t.Log(string(buf[:runtime.Stack(buf, true)]))
	}
}

func TestParseStatusLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line   string
		code   int
		status string
		ok     bool
	}{
		{"HTTP/1.1 200 OK\r", 200, "200 OK", true},
		{"HTTP/1.0 503 Service Unavailable", 503, "503 Service Unavailable", true},
		{"HTTP/1.1 204", 204, "204", true},
		{"HTTP/1.1 2000 OK", 0, "", false},
		{"HTTP/1.1 20x OK", 0, "", false},
		{"HTTP/1.1", 0, "", false},
		{"SSH-2.0-OpenSSH_9.2", 0, "", false},
	}
	for _, tt := range tests {
		code, status, ok := parseStatusLine([]byte(tt.line))
		if code != tt.code || string(status) != tt.status || ok != tt.ok {
			t.Errorf("%q: got %d %q %v, want %d %q %v", tt.line, code, status, ok, tt.code, tt.status, tt.ok)
		}
	}
}

// benchClient is a way of running a probe: open prepares one probe's
// runs, and returns a run and a close.
type benchClient struct {
	name string
	open func(p *config.Probe) (run func(context.Context) error, close func())
}

// benchClients are the ways of running an HTTP probe the benchmarks
// compare.
var benchClients = []benchClient{
	// Check: a connection per run, by hand.
	{"raw", func(p *config.Probe) (func(context.Context) error, func()) {
		return func(ctx context.Context) error { return Check(ctx, p, ExecEnv{}) }, func() {}
	}},
	// A Session: the connection kept between runs.
	{"session", func(p *config.Probe) (func(context.Context) error, func()) {
		s := NewSession(p, ExecEnv{})
		return s.Check, s.Close
	}},
	// net/http, as https:// probes use it, without and with keep-alive.
	{"nethttp", func(p *config.Probe) (func(context.Context) error, func()) {
		s := newSession(p, ExecEnv{}, false)
		s.client = stdClient
		return s.Check, s.Close
	}},
	{"nethttp-session", func(p *config.Probe) (func(context.Context) error, func()) {
		s := newSession(p, ExecEnv{}, true)
		s.tr = sessionTransport(p.Period)
		s.client = &http.Client{Transport: s.tr, CheckRedirect: noRedirect}
		return s.Check, s.Close
	}},
}

// BenchmarkCheckHTTP measures one HTTP probe, through each of
// benchClients, against a server in this process (httptest: the server's
// CPU is counted too) and against one in another process. There,
// cpu-µs/op is this process's own CPU time per probe (user and system,
// also given apart): what 1000 workers probed every second cost otpsv, in
// ms of CPU per second.
func BenchmarkCheckHTTP(b *testing.B) {
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) }))
	defer local.Close()
	external := externalServer(b)
	for _, srv := range []struct{ name, url string }{{"httptest", local.URL + "/"}, {"external", external + "/"}} {
		for _, c := range benchClients {
			b.Run(srv.name+"/"+c.name, func(b *testing.B) {
				run, done := c.open(httpProbe(srv.url, 5*time.Second))
				defer done()
				benchCPU(b, func() error { return run(context.Background()) })
			})
		}
	}
}

// BenchmarkCheckTCP is the floor under an HTTP probe: a connection opened
// and closed, against a server in another process.
func BenchmarkCheckTCP(b *testing.B) {
	p := tcpProbe(strings.TrimPrefix(externalServer(b), "http://"), 5*time.Second)
	benchCPU(b, func() error { return Check(context.Background(), p, ExecEnv{}) })
}

// benchCPU runs probe b.N times and reports this process's CPU time per
// run: user and system together, and apart.
func benchCPU(b *testing.B, probe func() error) {
	b.ReportAllocs()
	user0, sys0 := cpuTime(b)
	for b.Loop() {
		if err := probe(); err != nil {
			b.Fatal(err)
		}
	}
	user1, sys1 := cpuTime(b)
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(b.N) }
	b.ReportMetric(per(user1-user0+sys1-sys0), "cpu-µs/op")
	b.ReportMetric(per(user1-user0), "user-µs/op")
	b.ReportMetric(per(sys1-sys0), "sys-µs/op")
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime(tb testing.TB) (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// BenchmarkCheckHTTPLoad is the target of SPEC §6 in miniature: 1000
// workers, each with a probe every second, against a server in another
// process. One op is one second of it; %core is this process's CPU time
// over wall time (the target: under 5 for all of otpsv), cpu-µs/probe the
// same per probe. Besides HTTP through each of benchClients, "tcp" (a TCP
// probe) and "timers" (the 1000 timers firing, no probe) show what is
// left when the HTTP request is taken away, and then the connection.
func BenchmarkCheckHTTPLoad(b *testing.B) {
	const workers = 1000
	url := externalServer(b) + "/"
	tcp := tcpProbe(strings.TrimPrefix(url[:len(url)-1], "http://"), 5*time.Second)
	clients := append(slices.Clone(benchClients),
		benchClient{"tcp", func(*config.Probe) (func(context.Context) error, func()) {
			return func(ctx context.Context) error { return Check(ctx, tcp, ExecEnv{}) }, func() {}
		}},
		benchClient{"timers", func(*config.Probe) (func(context.Context) error, func()) {
			return func(context.Context) error { return nil }, func() {}
		}},
	)
	for _, c := range clients {
		b.Run(c.name, func(b *testing.B) {
			p := httpProbe(url, 5*time.Second)
			p.Period = time.Second
			var fails, probes atomic.Int64
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for i := range workers {
				wg.Go(func() {
					run, done := c.open(p)
					defer done()
					// Spread the workers over the second, as their starts are.
					t := time.NewTimer(time.Duration(i) * time.Second / workers)
					defer t.Stop()
					for {
						select {
						case <-ctx.Done():
							return
						case <-t.C:
						}
						if err := run(ctx); err != nil && ctx.Err() == nil {
							fails.Add(1)
						}
						probes.Add(1)
						t.Reset(time.Second)
					}
				})
			}
			time.Sleep(2 * time.Second) // all started, and connected once
			user0, sys0 := cpuTime(b)
			probes0 := probes.Load()
			start := time.Now()
			for b.Loop() {
				time.Sleep(time.Second)
			}
			user1, sys1 := cpuTime(b)
			wall := time.Since(start)
			n := probes.Load() - probes0
			cancel()
			wg.Wait()
			if n := fails.Load(); n > 0 {
				b.Errorf("%d probes failed", n)
			}
			cpu := user1 - user0 + sys1 - sys0
			b.ReportMetric(100*float64(cpu)/float64(wall), "%core")
			b.ReportMetric(100*float64(user1-user0)/float64(wall), "%user")
			b.ReportMetric(100*float64(sys1-sys0)/float64(wall), "%sys")
			b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(max(n, 1)), "cpu-µs/probe")
		})
	}
}

// BenchmarkCheckHTTPBatched is BenchmarkCheckHTTPLoad with the probes'
// times put on a grid: 1000 probes a second started 100 at a time every
// 100ms (or 10 every 10ms), so that they share otpsv's wake-ups. What it
// saves is what a probe scheduler gains by rounding its times; "raw" is
// Check's connection per run, "session" 1000 Sessions keeping theirs.
func BenchmarkCheckHTTPBatched(b *testing.B) {
	p := httpProbe(externalServer(b)+"/", 5*time.Second)
	p.Period = time.Second
	for _, c := range benchClients[:2] {
		for _, batch := range []int{100, 10} {
			b.Run(c.name+"/"+strconv.Itoa(batch), func(b *testing.B) {
				runs := make([]func(context.Context) error, 1000)
				for i := range runs {
					run, done := c.open(p)
					defer done()
					runs[i] = run
					if err := run(context.Background()); err != nil { // connected
						b.Fatal(err)
					}
				}
				tick := time.NewTicker(time.Second / time.Duration(1000/batch))
				defer tick.Stop()
				user0, sys0 := cpuTime(b)
				start := time.Now()
				for b.Loop() {
					for i := range 1000 / batch {
						<-tick.C
						var wg sync.WaitGroup
						for _, run := range runs[i*batch : (i+1)*batch] {
							wg.Go(func() {
								if err := run(context.Background()); err != nil {
									b.Error(err)
								}
							})
						}
						wg.Wait()
					}
				}
				user1, sys1 := cpuTime(b)
				b.ReportMetric(100*float64(user1-user0+sys1-sys0)/float64(time.Since(start)), "%core")
			})
		}
	}
}
