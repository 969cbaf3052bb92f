//go:build linux

package health

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpsv/otpsv/config"
)

// then is what a rawServer does after writing an answer.
type then int

const (
	keepOpen  then = iota // read the next request
	closeConn             // close (FIN)
	resetConn             // close with SO_LINGER 0 (RST)
	hang                  // write nothing more, until the client closes
)

// answer is a rawServer's answer to one request: text written as is
// (nothing when empty), then extra, once the test has read the answer
// (it sends on the server's extraGo, and extraSent tells it when extra
// is written), then what to do.
type answer struct {
	text  string
	extra string
	then  then
}

// rawServer is a loopback server that reads HTTP requests and answers
// each with respond(conn, req) (both counted from 1), so that a test says
// byte for byte what the probe gets. It counts the connections accepted.
type rawServer struct {
	addr      string
	conns     atomic.Int64
	extraGo   chan struct{}
	extraSent chan struct{}
}

func newRawServer(t *testing.T, respond func(conn, req int) answer) *rawServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{addr: l.Addr().String(), extraGo: make(chan struct{}), extraSent: make(chan struct{})}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		open = map[net.Conn]bool{}
	)
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for c := range open {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n := int(s.conns.Add(1))
			mu.Lock()
			open[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(open, c)
					mu.Unlock()
					_ = c.Close()
				}()
				s.serve(c, n, respond)
			})
		}
	})
	return s
}

func (s *rawServer) serve(c net.Conn, n int, respond func(conn, req int) answer) {
	br := bufio.NewReader(c)
	for k := 1; ; k++ {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		a := respond(n, k)
		if a.text != "" {
			if _, err := c.Write([]byte(a.text)); err != nil {
				return
			}
		}
		if a.extra != "" {
			<-s.extraGo
			_, _ = c.Write([]byte(a.extra))
			s.extraSent <- struct{}{}
		}
		switch a.then {
		case closeConn:
			return
		case resetConn:
			_ = c.(*net.TCPConn).SetLinger(0)
			return
		case hang:
			_, _ = c.Read(make([]byte, 1)) // until the client's close
			return
		}
	}
}

// always answers every request alike.
func always(a answer) func(int, int) answer { return func(int, int) answer { return a } }

const ok11 = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// sessionRun runs s.Check and returns its *Failure, nil on success.
func sessionRun(t *testing.T, ctx context.Context, s *Session) *Failure {
	t.Helper()
	err := s.Check(ctx)
	if err == nil {
		return nil
	}
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("got %T %v, want a *Failure", err, err)
	}
	return f
}

// TestSessionReuse: what the server answers decides whether the next run
// reuses the connection; the result is the status either way.
func TestSessionReuse(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", maxKeptBody+1)
	chunk40k := "9c40\r\n" + strings.Repeat("y", 40000) + "\r\n"
	tests := []struct {
		name   string
		answer answer
		want   string // the failure reason; "" for success
		reuse  bool
	}{
		{name: "content-length", answer: answer{text: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"}, reuse: true},
		{name: "chunked", answer: answer{text: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"}, reuse: true},
		{name: "status failure", answer: answer{text: "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown"}, want: "503 Service Unavailable", reuse: true},
		{name: "no content", answer: answer{text: "HTTP/1.1 204 No Content\r\n\r\n"}, reuse: true},
		{name: "not modified", answer: answer{text: "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n"}, reuse: true},
		{name: "early hints", answer: answer{text: "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n" + ok11}, reuse: true},
		{name: "keep-alive header", answer: answer{text: "HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok"}, reuse: true},
		{name: "connection close", answer: answer{text: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", then: closeConn}},
		{name: "connection close failure", answer: answer{text: "HTTP/1.1 500 Oops\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n"}, want: "500 Oops"},
		{name: "http/1.0", answer: answer{text: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", then: closeConn}},
		{name: "http/1.0 keep-alive", answer: answer{text: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"}},
		{name: "body until close", answer: answer{text: "HTTP/1.1 200 OK\r\n\r\nbody", then: closeConn}},
		{name: "body too large", answer: answer{text: "HTTP/1.1 200 OK\r\nContent-Length: 65537\r\n\r\n" + big}},
		{name: "chunked too large", answer: answer{text: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk40k + chunk40k + "0\r\n\r\n"}},
		{name: "chunked and length", answer: answer{text: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 10\r\n\r\n0\r\n\r\n"}},
		{name: "gzip not chunked", answer: answer{text: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz", then: closeConn}},
		{name: "malformed chunk", answer: answer{text: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}},
		{name: "two lengths", answer: answer{text: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok"}},
		{name: "bad length", answer: answer{text: "HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nok"}},
		{name: "header too long", answer: answer{text: "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("h", maxHeader) + "\r\nContent-Length: 0\r\n\r\n"}},
		{name: "extra bytes", answer: answer{text: ok11 + "HTTP/1.1 200 OK\r\n"}},
		{name: "unsolicited after the answer", answer: answer{text: ok11, extra: "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", then: closeConn}},
		{name: "closed after the answer", answer: answer{text: ok11, then: closeConn}},
		{name: "reset after the answer", answer: answer{text: ok11, then: resetConn}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newRawServer(t, always(tt.answer))
			s := NewSession(httpProbe("http://"+srv.addr+"/", time.Minute), ExecEnv{})
			defer s.Close()
			const runs = 20
			for i := range runs {
				f := sessionRun(t, t.Context(), s)
				switch {
				case tt.want == "" && f != nil:
					t.Fatalf("run %d: got %v, want success", i, f)
				case tt.want != "" && (f == nil || f.Reason != tt.want):
					t.Fatalf("run %d: got %v, want %q", i, f, tt.want)
				}
				if tt.answer.extra != "" {
					srv.extraGo <- struct{}{}
					<-srv.extraSent // on loopback, arrived with the write
				}
			}
			want := int64(runs)
			if tt.reuse {
				want = 1
			}
			if got := srv.conns.Load(); got != want {
				t.Errorf("got %d connections for %d runs, want %d", got, runs, want)
			}
		})
	}
}

// TestSessionKeepAlive: against net/http's server, 100 runs take one
// connection, and the request asks for it to be kept.
func TestSessionKeepAlive(t *testing.T) {
	t.Parallel()
	seen := make(chan *http.Request, 1)
	srv := httptest.NewUnstartedServer(probeHandler(seen))
	var conns atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	s := NewSession(httpProbe(srv.URL+"/ok?x=1", time.Minute), ExecEnv{})
	defer s.Close()
	for i := range 100 {
		if f := sessionRun(t, t.Context(), s); f != nil {
			t.Fatalf("run %d: %v", i, f)
		}
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("got %d connections for 100 runs, want 1", got)
	}
	r := <-seen
	if r.Close || r.Header.Get("Connection") != "keep-alive" {
		t.Errorf("Connection got %q, want keep-alive", r.Header.Get("Connection"))
	}
	if r.URL.RawQuery != "x=1" || r.Header.Get("User-Agent") != userAgent {
		t.Errorf("got query %q, User-Agent %q", r.URL.RawQuery, r.Header.Get("User-Agent"))
	}
}

// TestSessionStale: a kept connection the server closes when the next
// request comes (its idle timeout racing the probe) is retried once on a
// new connection, and the run succeeds.
func TestSessionStale(t *testing.T) {
	t.Parallel()
	for _, end := range []then{closeConn, resetConn} {
		t.Run([]string{closeConn: "close", resetConn: "reset"}[end], func(t *testing.T) {
			t.Parallel()
			srv := newRawServer(t, func(_, req int) answer {
				if req == 1 {
					return answer{text: ok11}
				}
				return answer{then: end} // without a word
			})
			s := NewSession(httpProbe("http://"+srv.addr+"/", time.Minute), ExecEnv{})
			defer s.Close()
			const runs = 10
			for i := range runs {
				if f := sessionRun(t, t.Context(), s); f != nil {
					t.Fatalf("run %d: got %v, want success", i, f)
				}
			}
			if got := srv.conns.Load(); got != runs {
				t.Errorf("got %d connections, want %d", got, runs)
			}
		})
	}
}

// TestSessionAnswerless: a server that accepts and closes without an
// answer fails the probe; the retry on a new connection does not hide it.
func TestSessionAnswerless(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, func(conn, req int) answer {
		if conn == 1 && req == 1 {
			return answer{text: ok11}
		}
		return answer{then: closeConn}
	})
	s := NewSession(httpProbe("http://"+srv.addr+"/", time.Minute), ExecEnv{})
	defer s.Close()
	if f := sessionRun(t, t.Context(), s); f != nil {
		t.Fatalf("first run: %v", f)
	}
	for i := range 3 {
		f := sessionRun(t, t.Context(), s)
		if f == nil || f.Reason != "connection closed before a status line" {
			t.Errorf("run %d: got %v, want connection closed before a status line", i+2, f)
		}
	}
	// The second run's kept connection, its retry, then one per run.
	if got := srv.conns.Load(); got != 4 {
		t.Errorf("got %d connections, want 4", got)
	}
}

// TestSessionTimeout: a run that times out or is canceled ends its
// connection; the next run answers on a new one.
func TestSessionTimeout(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, func(_, req int) answer {
		if req == 1 {
			return answer{text: ok11}
		}
		return answer{then: hang}
	})
	s := NewSession(httpProbe("http://"+srv.addr+"/", 200*time.Millisecond), ExecEnv{})
	defer s.Close()
	run := func(ctx context.Context, what string, want error) {
		t.Helper()
		f := sessionRun(t, ctx, s)
		switch {
		case want == nil && f != nil:
			t.Fatalf("%s: got %v, want success", what, f)
		case want != nil && (f == nil || !errors.Is(f, want)):
			t.Fatalf("%s: got %v, want %v", what, f, want)
		}
	}
	run(t.Context(), "first", nil)
	run(t.Context(), "slow", ErrTimeout)
	run(t.Context(), "after the timeout", nil)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	run(ctx, "canceled", context.Canceled)
	run(t.Context(), "after the cancel", nil)
	if got := srv.conns.Load(); got != 3 {
		t.Errorf("got %d connections, want 3", got)
	}
}

// TestSessionHTTPS: an https:// Session keeps its connection too, and
// Close closes it.
func TestSessionHTTPS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(probeHandler(nil))
	var conns, closed atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			conns.Add(1)
		case http.StateClosed:
			closed.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	for _, tt := range []struct{ path, want string }{{"/ok", ""}, {"/fail", "503 Service Unavailable"}} {
		conns.Store(0)
		closed.Store(0)
		s := NewSession(httpProbe(srv.URL+tt.path, time.Minute), ExecEnv{})
		for i := range 20 {
			f := sessionRun(t, t.Context(), s)
			if (tt.want == "" && f != nil) || (tt.want != "" && (f == nil || f.Reason != tt.want)) {
				t.Fatalf("%s run %d: got %v, want %q", tt.path, i, f, tt.want)
			}
		}
		if got := conns.Load(); got != 1 {
			t.Errorf("%s: got %d connections, want 1", tt.path, got)
		}
		s.Close()
		waitBack(t, tt.path+": open connections after Close", 0, func() int { return int(conns.Load() - closed.Load()) })
	}
}

// TestSessionClose: Close is idempotent, may come while a run is under
// way (the run's connection is then closed when it returns), and a run
// after it keeps nothing.
func TestSessionClose(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(probeHandler(nil))
	var conns, closed atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			conns.Add(1)
		case http.StateClosed:
			closed.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	for i := range 50 {
		s := NewSession(httpProbe(srv.URL+"/ok", time.Minute), ExecEnv{})
		if i%2 == 1 {
			if err := s.Check(t.Context()); err != nil { // a kept connection to close
				t.Fatal(err)
			}
		}
		done := make(chan error)
		go func() { done <- s.Check(t.Context()) }()
		s.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		s.Close()
		if err := s.Check(t.Context()); err != nil {
			t.Fatal(err)
		}
		if s.conn != nil {
			t.Fatal("a closed Session keeps a connection")
		}
	}
	waitBack(t, "open connections", 0, func() int { return int(conns.Load() - closed.Load()) })
}

// TestSessionNoLeaks: 200 Sessions of every kind, each run a few times,
// leave no goroutine or descriptor behind once closed. Not parallel:
// other tests' goroutines would be counted.
func TestSessionNoLeaks(t *testing.T) {
	base := externalServer(t)
	addr := strings.TrimPrefix(base, "http://")
	tls := httptest.NewTLSServer(probeHandler(nil))
	defer tls.Close()
	probes := []struct {
		p  *config.Probe
		ok bool
	}{
		{httpProbe(base+"/", time.Minute), true},
		{httpProbe(base+"/fail", time.Minute), false},
		{httpProbe("http://"+closedAddr(t)+"/", time.Minute), false},
		{httpProbe(tls.URL+"/ok", time.Minute), true},
		{tcpProbe(addr, time.Minute), true},
		{execProbe(time.Minute, "true"), true},
		{execProbe(time.Minute, "false"), false},
	}
	round := func(n int) {
		var sessions []*Session
		for i := range n {
			pc := probes[i%len(probes)]
			s := NewSession(pc.p, ExecEnv{})
			sessions = append(sessions, s)
			for range 3 {
				if err := s.Check(t.Context()); (err == nil) != pc.ok {
					t.Fatalf("%s: got %v", pc.p, err)
				}
			}
		}
		for _, s := range sessions {
			s.Close()
		}
	}
	round(len(probes)) // lazily started goroutines, pools
	goroutines, fds := runtime.NumGoroutine(), fdCount(t)
	round(200)
	waitBack(t, "goroutines", goroutines, runtime.NumGoroutine)
	waitBack(t, "open descriptors", fds, func() int { return fdCount(t) })
	if t.Failed() {
		buf := make([]byte, 1<<20)
		t.Log(string(buf[:runtime.Stack(buf, true)]))
	}
}

// TestSessionAbandoned: an https:// Session nobody closes leaves no
// goroutine behind once two periods have passed.
func TestSessionAbandoned(t *testing.T) {
	tls := httptest.NewTLSServer(probeHandler(nil))
	defer tls.Close()
	p := httpProbe(tls.URL+"/ok", time.Minute)
	p.Period = 50 * time.Millisecond
	goroutines := runtime.NumGoroutine()
	s := NewSession(p, ExecEnv{})
	if err := s.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if runtime.NumGoroutine() <= goroutines {
		t.Fatal("no goroutine of a kept connection") // the test would test nothing
	}
	waitBack(t, "goroutines", goroutines, runtime.NumGoroutine)
}

func TestParseNumbers(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in       string
		dec, hex int64
		decOK    bool
		hexOK    bool
	}{
		{"0", 0, 0, true, true},
		{"10", 10, 16, true, true},
		{"fF", -1, 255, false, true},
		{"", -1, 0, false, false},
		{"-1", -1, 0, false, false},
		{"+1", -1, 0, false, false},
		{"1 2", -1, 0, false, false},
		{"0x10", -1, 0, false, false},
		{"1234567890123456789", -1, 0, false, false},
	} {
		if v, ok := parseDecimal([]byte(tt.in)); v != tt.dec || ok != tt.decOK {
			t.Errorf("parseDecimal(%q): got %d %v, want %d %v", tt.in, v, ok, tt.dec, tt.decOK)
		}
		if v, ok := parseHex([]byte(tt.in)); v != tt.hex || ok != tt.hexOK {
			t.Errorf("parseHex(%q): got %d %v, want %d %v", tt.in, v, ok, tt.hex, tt.hexOK)
		}
	}
}
