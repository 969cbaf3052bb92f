//go:build linux

package health

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otpsv/otpsv/actors/proc"
)

// helperVar, in the environment, makes the test binary a helper process
// (os/exec's pattern): "notify" sends its arguments, each a datagram, to
// NOTIFY_SOCKET, writes a line on fd 3 when sentVar is set, then waits to
// be killed; "notify-exit" sends, writes the line and exits; "httpserver"
// serves HTTP on loopback and writes its address on fd 3.
const (
	helperVar = "HEALTH_TEST_HELPER"
	sentVar   = "HEALTH_TEST_SENT"
)

// TestMain makes the test process a child subreaper, as the otpsv daemon
// is, so that what an exec probe leaves behind is reaped by proc's reaper.
func TestMain(m *testing.M) {
	switch os.Getenv(helperVar) {
	case "":
	case "notify", "notify-exit":
		os.Exit(notifyHelper(os.Getenv(helperVar) == "notify"))
	case "httpserver":
		os.Exit(httpServerHelper())
	default:
		os.Exit(2)
	}
	if err := proc.BecomeSubreaper(); err != nil {
		fmt.Fprintln(os.Stderr, "become subreaper:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func notifyHelper(wait bool) int {
	for _, msg := range os.Args[1:] {
		if err := sendNotify(os.Getenv("NOTIFY_SOCKET"), msg); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	if os.Getenv(sentVar) != "" {
		f := os.NewFile(3, "sent")
		fmt.Fprintln(f, "sent")
		_ = f.Close()
	}
	if wait {
		time.Sleep(time.Hour) // killed by the test
	}
	return 0
}

// sendNotify sends one datagram, as sd_notify does.
func sendNotify(path, msg string) error {
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(msg))
	return err
}

func httpServerHelper() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 1
	}
	out := os.NewFile(3, "addr")
	fmt.Fprintln(out, l.Addr())
	_ = out.Close()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	_ = http.Serve(l, h)
	return 1
}

// helper starts the test binary as a helper process in a process group of
// its own, killed when the test ends.
func helper(tb testing.TB, mode string, env []string, extra map[int]*os.File, args ...string) *proc.Process {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	env = append(append(os.Environ(), helperVar+"="+mode), env...)
	p, err := proc.Start(proc.Spec{Argv: append([]string{exe}, args...), Env: env, ExtraFiles: extra, Stderr: proc.Output{Inherit: true}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Stop(context.Background(), syscall.SIGKILL, 0, nil) })
	return p
}

// externalServer starts an HTTP server in another process and returns its
// base URL: what it costs to answer is not counted in this process.
func externalServer(tb testing.TB) string {
	tb.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	helper(tb, "httpserver", nil, map[int]*os.File{3: w})
	_ = w.Close()
	_ = r.SetReadDeadline(time.Now().Add(time.Minute)) // hang guard
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		tb.Fatalf("http server helper: %v", err)
	}
	return "http://" + strings.TrimSpace(line)
}
