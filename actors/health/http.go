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

	"github.com/otpsv/otpsv/config"
)

const (
	userAgent = "otpsv-probe"
	// maxBody is how much of a response is read before closing.
	maxBody = 4 << 10
	// maxStatusLine bounds the wait for the status line.
	maxStatusLine = 512
)

// probeDialer dials probes' connections. They last a timeout at most:
// TCP keep-alive would only cost four setsockopt calls each.
var probeDialer = &net.Dialer{KeepAlive: -1}

// stdClient does the https:// probes. Keep-alives are off so that no idle
// connection, and no goroutine of the transport, outlives a probe; the
// environment's proxy is never used (a probe of 127.0.0.1 must not go
// through HTTP_PROXY); a redirect is an answer (3xx is success), not
// followed. As Kubernetes does, the certificate is not verified: a probe
// asks whether the worker answers, and restarting it would not renew an
// expired or self-signed certificate.
var stdClient = &http.Client{
	Transport: &http.Transport{
		Proxy:                  nil,
		DialContext:            probeDialer.DialContext,
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
		TLSClientConfig:        &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // see above
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func checkHTTP(ctx context.Context, p *config.Probe, timeout time.Duration) error {
	u, err := url.Parse(p.URL)
	if err != nil {
		return &Failure{Probe: p.String(), Reason: innermost(err).Error(), Err: err}
	}
	switch u.Scheme {
	case "http":
		return checkHTTPRaw(ctx, p, u, timeout)
	case "https":
		return checkHTTPStd(ctx, p, timeout)
	}
	return &Failure{Probe: p.String(), Reason: "scheme " + strconv.Quote(u.Scheme) + " is neither http nor https"}
}

// checkHTTPStd is a probe through net/http.
func checkHTTPStd(ctx context.Context, p *config.Probe, timeout time.Duration) error {
	pctx, cancel := withTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, p.URL, nil)
	if err != nil {
		return &Failure{Probe: p.String(), Reason: innermost(err).Error(), Err: err}
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := stdClient.Do(req)
	if err != nil {
		return failed(pctx, p.String(), timeout, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return &Failure{Probe: p.String(), Reason: statusText(resp.StatusCode, resp.Status)}
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

// bufPool holds the buffers of checkHTTPRaw.
var bufPool = sync.Pool{New: func() any { return new([maxBody]byte) }}

// checkHTTPRaw is a plain-http probe done by hand: one GET with
// `Connection: close` over a connection of its own, and the status line
// parsed, nothing else. Without keep-alives net/http sets up a transport
// connection per request (reader and writer goroutines, header maps, a
// body reader): this costs half its CPU, a quarter of its user CPU and
// a ninth of its allocated bytes per probe (BenchmarkCheckHTTP), which
// matters at 1000 workers probed every second.
func checkHTTPRaw(ctx context.Context, p *config.Probe, u *url.URL, timeout time.Duration) error {
	pctx, cancel := withTimeout(ctx, timeout)
	defer cancel()
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	c, err := probeDialer.DialContext(pctx, "tcp", addr)
	if err != nil {
		return failed(pctx, p.String(), timeout, err)
	}
	defer c.Close()
	deadline, _ := pctx.Deadline()
	_ = c.SetDeadline(deadline)
	// The deadline is the probe's timeout; the caller's cancellation
	// (a worker stopping) must cut the wait short too.
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	buf := bufPool.Get().(*[maxBody]byte)
	defer bufPool.Put(buf)
	req := append(buf[:0], "GET "...)
	req = append(req, u.RequestURI()...)
	req = append(req, " HTTP/1.1\r\nHost: "...)
	req = append(req, u.Host...)
	req = append(req, "\r\nUser-Agent: "+userAgent+"\r\nAccept: */*\r\nConnection: close\r\n"...)
	if u.User != nil {
		pw, _ := u.User.Password()
		req = append(req, "Authorization: Basic "...)
		req = base64.StdEncoding.AppendEncode(req, []byte(u.User.Username()+":"+pw))
		req = append(req, "\r\n"...)
	}
	req = append(req, "\r\n"...)
	if _, err := c.Write(req); err != nil {
		return failed(pctx, p.String(), timeout, err)
	}

	n, eol := 0, -1
	for eol < 0 {
		if n == maxStatusLine {
			return &Failure{Probe: p.String(), Reason: "no status line in the first " + strconv.Itoa(maxStatusLine) + " bytes"}
		}
		m, err := c.Read(buf[n:maxStatusLine])
		n += m
		eol = bytes.IndexByte(buf[:n], '\n')
		if eol < 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return &Failure{Probe: p.String(), Reason: "connection closed before a status line", Err: err}
			}
			return failed(pctx, p.String(), timeout, err)
		}
	}
	code, status, ok := parseStatusLine(buf[:eol])
	if !ok {
		return &Failure{Probe: p.String(), Reason: "malformed status line " + strconv.Quote(string(bytes.TrimSpace(buf[:eol])))}
	}
	endConn(c, buf[n:])
	if code < 200 || code > 399 {
		return &Failure{Probe: p.String(), Reason: statusText(code, string(status))}
	}
	return nil
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
