package health

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/otpsv/otpsv/actors/policy"
)

const userAgent = "otpsv-probe"

// probeDialer dials probes' connections. TCP keep-alive is off: a
// connection is either a probe's, lasting a timeout at most, or one a
// Session keeps, which is checked before each use (idle) and retried once
// if it turns out dead; keep-alive segments would find out no sooner what
// the next run finds out anyway.
var probeDialer = &net.Dialer{KeepAlive: -1}

// insecureTLS is the TLS configuration of https:// probes. As Kubernetes
// does, the certificate is not verified: a probe asks whether the worker
// answers, and restarting it would not renew an expired or self-signed
// certificate.
var insecureTLS = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // see above

// stdClient does Check's one-shot https:// probes. Keep-alives are off so
// that no idle connection, and no goroutine of the transport, outlives a
// probe; the environment's proxy is never used (a probe of 127.0.0.1 must
// not go through HTTP_PROXY); a redirect is an answer (3xx is success),
// not followed.
var stdClient = &http.Client{
	Transport: &http.Transport{
		Proxy:                  nil,
		DialContext:            probeDialer.DialContext,
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
		TLSClientConfig:        insecureTLS,
	},
	CheckRedirect: noRedirect,
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// sessionTransport is the transport of one Session's https:// probe:
// stdClient's, keeping the one connection for two periods, so that it
// outlives the wait for the next run but not a Session nobody closed.
func sessionTransport(period time.Duration) *http.Transport {
	if period <= 0 {
		period = policy.DefaultProbeSpec.Period
	}
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            probeDialer.DialContext,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
		TLSClientConfig:        insecureTLS,
		MaxIdleConns:           1,
		MaxIdleConnsPerHost:    1,
		IdleConnTimeout:        2 * period,
	}
}

// prepareHTTP does once what every run of an HTTP probe needs: the URL
// parsed, the plain request written or the https:// client made.
func (s *Session) prepareHTTP() {
	p := s.p
	u, err := url.Parse(p.URL)
	if err != nil {
		s.bad = &Failure{Probe: p.String(), Reason: innermost(err).Error(), Err: err}
		return
	}
	switch u.Scheme {
	case "http":
		s.addr = u.Host
		if u.Port() == "" {
			s.addr = net.JoinHostPort(u.Hostname(), "80")
		}
		s.req = appendRequest(nil, u, s.keep)
	case "https":
		s.client = stdClient
		if s.keep {
			s.tr = sessionTransport(p.Period)
			s.client = &http.Client{Transport: s.tr, CheckRedirect: noRedirect}
		}
	default:
		s.bad = &Failure{Probe: p.String(), Reason: "scheme " + strconv.Quote(u.Scheme) + " is neither http nor https"}
	}
}

// appendRequest appends the GET of u to b.
func appendRequest(b []byte, u *url.URL, keep bool) []byte {
	b = append(b, "GET "...)
	b = append(b, u.RequestURI()...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, u.Host...)
	b = append(b, "\r\nUser-Agent: "+userAgent+"\r\nAccept: */*\r\n"...)
	if keep {
		b = append(b, "Connection: keep-alive\r\n"...)
	} else {
		b = append(b, "Connection: close\r\n"...)
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		b = append(b, "Authorization: Basic "...)
		b = base64.StdEncoding.AppendEncode(b, []byte(u.User.Username()+":"+pw))
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

// checkStd is an https:// probe, through net/http.
func (s *Session) checkStd(ctx context.Context) error {
	pctx, cancel := withTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, s.p.URL, nil)
	if err != nil {
		return &Failure{Probe: s.p.String(), Reason: innermost(err).Error(), Err: err}
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := s.client.Do(req)
	if err != nil {
		return failed(pctx, s.p.String(), s.timeout, err)
	}
	// Read to the end, so that the transport can keep the connection,
	// unless the body is too long to be worth it: closing it unread ends
	// the connection.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxKeptBody+1))
	_ = resp.Body.Close()
	if s.tr != nil {
		// A Close during the run found no idle connection to close: the
		// one just put back is closed here.
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			s.tr.CloseIdleConnections()
		}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return &Failure{Probe: s.p.String(), Reason: statusText(resp.StatusCode, resp.Status)}
	}
	return nil
}

// statusText is "503 Service Unavailable": the status line's own words,
// or the standard ones when it has none.
func statusText(code int, status string) string {
	if len(status) > 4 && status[3] == ' ' {
		return status
	}
	return strconv.Itoa(code) + " " + http.StatusText(code)
}

// bufPool holds the read buffers of checkRaw: a Session has none of its
// own between runs (1000 of them would hold 16 MiB).
var bufPool = sync.Pool{New: func() any { return new([maxHeader]byte) }}

// errStale says that a kept connection turned out closed by the server
// before it answered: the request is sent again on a new connection.
var errStale = errors.New("kept connection closed by the server")

// checkRaw is a plain-http probe done by hand: a GET, and as much of the
// response parsed as the result needs (the status line) and keeping the
// connection needs (where the response ends). net/http sets up a
// transport connection per connection (reader and writer goroutines,
// header maps, a body reader): without keep-alives that cost half of a
// probe's CPU. With them the handshake is gone too, and what is left of a
// probe is a write, a read and the wake-up between them.
//
// A kept connection is used again only when the server said nothing
// against it (HTTP/1.1, no `Connection: close`) and its whole response
// arrived, and nothing after it. Any error ends it. A kept connection the
// server has closed since (its idle timeout) is given up for a new one
// before the request, or when the request meets the close (EOF or a
// reset before any byte of an answer): a server that closes connections
// without answering fails on the new connection too.
func (s *Session) checkRaw(ctx context.Context) error {
	pctx, cancel := withTimeout(ctx, s.timeout)
	defer cancel()
	deadline, _ := pctx.Deadline()
	buf := bufPool.Get().(*[maxHeader]byte)
	defer bufPool.Put(buf)

	s.mu.Lock()
	c := s.conn
	s.conn = nil
	s.mu.Unlock()
	for {
		reused := c != nil
		if !reused {
			nc, err := probeDialer.DialContext(pctx, "tcp", s.addr)
			if err != nil {
				return failed(pctx, s.p.String(), s.timeout, err)
			}
			c = nc.(*net.TCPConn)
		}
		keep, err := s.exchange(ctx, pctx, c, buf[:], deadline, reused)
		if err == errStale {
			endConn(c, buf[:])
			_ = c.Close()
			c = nil // a new one, which is not retried
			continue
		}
		if keep {
			s.mu.Lock()
			if !s.closed {
				s.conn, c = c, nil
			}
			s.mu.Unlock()
		}
		if c != nil {
			endConn(c, buf[:])
			_ = c.Close()
		}
		return err
	}
}

// exchange sends the request on c and reads the answer, into buf. It
// returns whether c may carry the next request and the probe's result,
// or errStale when c, reused, turned out closed by the server.
func (s *Session) exchange(ctx, pctx context.Context, c *net.TCPConn, buf []byte, deadline time.Time, reused bool) (keep bool, _ error) {
	_ = c.SetDeadline(deadline)
	// The deadline is the probe's timeout; the caller's cancellation
	// (a worker stopping) must cut the wait short too. When it did, the
	// connection may be past its deadline and is not kept.
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() {
			keep = false
		}
	}()

	name := s.p.String()
	if reused && !idle(c) {
		return false, errStale
	}
	if _, err := c.Write(s.req); err != nil {
		if reused && closedByPeer(err) {
			return false, errStale
		}
		return false, failed(pctx, name, s.timeout, err)
	}
	r := respReader{c: c, buf: buf}
	for interim := 0; ; interim++ {
		line, _, err := r.line(maxStatusLine)
		switch {
		case err == nil:
		case errors.Is(err, errTooLong):
			return false, &Failure{Probe: name, Reason: "no status line in the first " + strconv.Itoa(maxStatusLine) + " bytes"}
		case reused && r.got == 0 && closedByPeer(err):
			return false, errStale
		case errors.Is(err, io.EOF):
			return false, &Failure{Probe: name, Reason: "connection closed before a status line", Err: err}
		default:
			return false, failed(pctx, name, s.timeout, err)
		}
		code, status, ok := parseStatusLine(line)
		if !ok {
			return false, &Failure{Probe: name, Reason: "malformed status line " + strconv.Quote(string(bytes.TrimSpace(line)))}
		}
		if code >= 100 && code <= 199 && code != 101 && interim < maxInterim {
			// An interim answer (103 Early Hints): a header, no body,
			// and the final answer after it.
			if _, err := r.header(); err != nil {
				return false, failed(pctx, name, s.timeout, err)
			}
			continue
		}
		var result error
		if code < 200 || code > 399 {
			result = &Failure{Probe: name, Reason: statusText(code, string(status))}
		}
		if !s.keep || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
			return false, result
		}
		// The status is the answer; what follows only decides whether the
		// connection can be kept.
		return r.finish(code), result
	}
}

// idle says whether c, kept since its last answer, is still open with
// nothing to read: otherwise the server has closed it (its idle timeout),
// or said something unasked (some send a 408 before closing an idle
// connection), which would be taken for the answer to the next request.
func idle(c *net.TCPConn) bool {
	sc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	open := false
	var b [1]byte
	err = sc.Read(func(fd uintptr) bool {
		_, err := syscall.Read(int(fd), b[:])
		open = err == syscall.EAGAIN
		return true // one attempt: never wait
	})
	return err == nil && open
}

// closedByPeer says whether err is the server's close or reset.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}

// endConn reads what has already arrived, without waiting for more, and
// says how the connection is to end. When that was the rest of a short
// answer and the server's close (about half the time against a Go
// server), the server closed first and keeps the TIME_WAIT socket, as it
// does for any `Connection: close`. Otherwise otpsv resets the connection
// (SO_LINGER 0), which leaves no socket behind on either side: closing
// first would leave one in TIME_WAIT on otpsv's side for a minute per
// probe, 60000 at 1000 probes a second. Waiting for the server's close
// instead would cost one more wake-up of otpsv per probe, and hold the
// probe for as long as a server keeps the connection open; a reset after
// its answer is something servers take in their stride.
func endConn(c net.Conn, buf []byte) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	sc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	eof := false
	_ = sc.Read(func(fd uintptr) bool {
		for n := 0; n < len(buf); {
			m, err := syscall.Read(int(fd), buf[n:])
			if m == 0 && err == nil {
				eof = true
			}
			if m <= 0 || err != nil {
				break
			}
			n += m
		}
		return true // one attempt: never wait
	})
	if !eof {
		_ = tc.SetLinger(0)
	}
}

// parseStatusLine reads "HTTP/1.1 503 Service Unavailable\r": the code
// and "503 Service Unavailable".
func parseStatusLine(line []byte) (int, []byte, bool) {
	line = bytes.TrimRight(line, "\r")
	if !bytes.HasPrefix(line, []byte("HTTP/")) {
		return 0, nil, false
	}
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 || len(line) < sp+4 || (len(line) > sp+4 && line[sp+4] != ' ') {
		return 0, nil, false
	}
	code := 0
	for _, c := range line[sp+1 : sp+4] {
		if c < '0' || c > '9' {
			return 0, nil, false
		}
		code = code*10 + int(c-'0')
	}
	return code, bytes.TrimSpace(line[sp+1:]), true
}
