package metrics

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrAddr is an address Serve cannot use as written: neither HOST:PORT
// with a numeric port from 1 to 65535 nor unix:/ABSOLUTE/PATH. The daemon
// reports it as a configuration error.
var ErrAddr = errors.New("invalid metrics address")

// ParseAddr splits addr into a network ("tcp" or "unix") and an address
// for net.Listen.
func ParseAddr(addr string) (network, address string, err error) {
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		if !filepath.IsAbs(p) {
			return "", "", fmt.Errorf("%w %q: want unix:/absolute/path", ErrAddr, addr)
		}
		return "unix", filepath.Clean(p), nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", fmt.Errorf("%w %q: want HOST:PORT or unix:/PATH", ErrAddr, addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("%w %q: port %q: want a number from 1 to 65535", ErrAddr, addr, port)
	}
	return "tcp", addr, nil
}

// Serve serves h at /metrics on addr (HOST:PORT, or unix:PATH) until
// stop is called. Errors name addr: a malformed one wraps ErrAddr, one
// already in use wraps syscall.EADDRINUSE.
//
// A unix socket gets mode 0600 before it appears at PATH: it is bound in
// a private directory beside PATH and renamed into place, which needs no
// change of the process-wide umask. A socket left at PATH by a process
// that is gone is replaced; one that answers is not. stop removes the
// socket (if it is still ours).
func Serve(addr string, h http.Handler) (stop func(context.Context) error, err error) {
	network, address, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	var ln net.Listener
	cleanup := func() {}
	if network == "unix" {
		ln, cleanup, err = listenUnix(address)
	} else {
		ln, err = net.Listen(network, address)
	}
	if err != nil {
		return nil, fmt.Errorf("metrics address %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
	go func() { _ = srv.Serve(ln) }()
	var once sync.Once
	return func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		once.Do(cleanup)
		return err
	}, nil
}

// maxSocketPath is the longest path a unix socket can be bound to
// (sun_path's 108 bytes with its NUL).
const maxSocketPath = 107

// listenUnix binds a socket of mode 0600 at path and returns it with the
// function that removes it.
func listenUnix(path string) (net.Listener, func(), error) {
	// Rename would put a socket at a longer path; clients could not reach it.
	if len(path) > maxSocketPath {
		return nil, nil, fmt.Errorf("socket path too long (%d bytes, at most %d)", len(path), maxSocketPath)
	}
	if err := replaceable(path); err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".otpsv")
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	// MkdirTemp asks for 0700, which the umask can only make narrower.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, nil, err
	}
	tmp := filepath.Join(dir, "s")
	if len(tmp) > maxSocketPath {
		return nil, nil, fmt.Errorf("socket path too long (binding it needs %d bytes beside it, at most %d)",
			len(tmp), maxSocketPath)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, nil, err
	}
	// The listener would unlink its bind name, gone after the rename.
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		_ = ln.Close()
		return nil, nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = ln.Close()
		return nil, nil, err
	}
	ours, err := os.Lstat(path)
	if err != nil {
		_ = ln.Close()
		return nil, nil, err
	}
	return ln, func() {
		// Another daemon may have taken the path since: leave its socket.
		if fi, err := os.Lstat(path); err == nil && os.SameFile(fi, ours) {
			_ = os.Remove(path)
		}
	}, nil
}

// replaceable says whether a socket may be put at path: nothing is there,
// or a socket nobody listens on.
func replaceable(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		_ = c.Close()
		return fmt.Errorf("%s: %w", path, syscall.EADDRINUSE)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return nil // left by a process that is gone
	}
	return err
}
