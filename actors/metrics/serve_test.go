package metrics

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otpsv/otpsv/actors/control"
)

func TestParseAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr, network, address string
	}{
		{"127.0.0.1:9184", "tcp", "127.0.0.1:9184"},
		{":9184", "tcp", ":9184"},
		{"[::1]:9184", "tcp", "[::1]:9184"},
		{"localhost:65535", "tcp", "localhost:65535"},
		{"unix:/run/otpsv/metrics.sock", "unix", "/run/otpsv/metrics.sock"},
		{"unix:/run//x/../m.sock", "unix", "/run/m.sock"},
		{"127.0.0.1", "", ""},
		{"127.0.0.1:http", "", ""},
		{"127.0.0.1:0", "", ""},
		{"127.0.0.1:65536", "", ""},
		{"127.0.0.1:-1", "", ""},
		{"::1:9184", "", ""},
		{"unix:relative.sock", "", ""},
		{"unix:", "", ""},
		{"", "", ""},
	} {
		network, address, err := ParseAddr(tc.addr)
		if tc.network == "" {
			if !errors.Is(err, ErrAddr) || !strings.Contains(err.Error(), tc.addr) {
				t.Errorf("ParseAddr(%q) = %q, %q, %v; want ErrAddr naming it", tc.addr, network, address, err)
			}
			continue
		}
		if err != nil || network != tc.network || address != tc.address {
			t.Errorf("ParseAddr(%q) = %q, %q, %v; want %q, %q", tc.addr, network, address, err, tc.network, tc.address)
		}
	}
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func stop(t *testing.T, stop func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
}

func TestServeTCP(t *testing.T) {
	t.Parallel()
	m := New("dev", fakeTree)
	// a port in use
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = busy.Close() }()
	addr := busy.Addr().String()
	if _, err := Serve(addr, m.Handler()); !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), addr) {
		t.Errorf("Serve on a busy port: %v; want EADDRINUSE naming %s", err, addr)
	}
	if _, err := Serve("127.0.0.1:x", m.Handler()); !errors.Is(err, ErrAddr) {
		t.Errorf("Serve on a bad address: %v; want ErrAddr", err)
	}
	_ = busy.Close()
	s, err := Serve(addr, m.Handler())
	if err != nil {
		t.Fatal(err)
	}
	code, body := get(t, http.DefaultClient, "http://"+addr+"/metrics")
	if code != http.StatusOK || !strings.Contains(body, `otpsv_node_up{path="site/w",type="process"} 1`) {
		t.Errorf("GET /metrics: %d\n%s", code, body)
	}
	if code, _ := get(t, http.DefaultClient, "http://"+addr+"/"); code != http.StatusNotFound {
		t.Errorf("GET /: %d, want 404", code)
	}
	stop(t, s)
	if c, err := net.Dial("tcp", addr); err == nil {
		_ = c.Close()
		t.Error("still listening after stop")
	}
}

func unixClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
		DisableKeepAlives: true,
	}}
}

func TestServeUnix(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "metrics.sock")
	m := New("dev", func() *control.Node { return nil })
	s, err := Serve("unix:"+path, m.Handler())
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket 0600", fi.Mode())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".otpsv*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	code, body := get(t, unixClient(path), "http://otpsv/metrics")
	if code != http.StatusOK || !strings.Contains(body, `otpsv_build_info{version="dev"} 1`) {
		t.Errorf("GET /metrics: %d\n%s", code, body)
	}
	// a socket that answers is not taken over
	if _, err := Serve("unix:"+path, m.Handler()); !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), path) {
		t.Errorf("Serve on a socket in use: %v; want EADDRINUSE naming it", err)
	}
	stop(t, s)
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket still there after stop: %v", err)
	}
}

// TestServeUnixStale: a socket left by a daemon that died is replaced; a
// file that is not a socket is not.
func TestServeUnixStale(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "m.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	_ = ln.Close() // the socket file stays, nobody listens
	m := New("dev", fakeTree)
	s, err := Serve("unix:"+path, m.Handler())
	if err != nil {
		t.Fatalf("Serve over a stale socket: %v", err)
	}
	if code, _ := get(t, unixClient(path), "http://otpsv/metrics"); code != http.StatusOK {
		t.Errorf("GET /metrics: %d", code)
	}
	stop(t, s)

	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Serve("unix:"+file, m.Handler()); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Serve over a file: %v; want an error", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Errorf("file changed: %q", b)
	}
	long := filepath.Join(dir, strings.Repeat("l", 100)+".sock")
	if _, err := Serve("unix:"+long, m.Handler()); err == nil || !strings.Contains(err.Error(), long) {
		t.Errorf("Serve on a too long path: %v; want an error naming it", err)
	}
}
