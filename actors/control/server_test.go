package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeBackend records the commands and reloads it is asked to carry out.
type fakeBackend struct {
	mu       sync.Mutex
	commands []string
	reloads  int
}

func (f *fakeBackend) Tree() *Node {
	return &Node{Name: "site", Path: "site", Type: "supervisor", Children: []*Node{{Name: "a", Path: "site/a", Type: "process"}}}
}

func (f *fakeBackend) Why(string) *Why { return nil }

func (f *fakeBackend) Command(_ context.Context, verb, path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commands = append(f.commands, verb+" "+path)
	return nil
}

func (f *fakeBackend) Reload(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads++
	return nil
}

func (f *fakeBackend) calls() ([]string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.commands...), f.reloads
}

// testIOTimeout is the servers' read bound here: what a stalled client
// waits for its answer.
const testIOTimeout = 500 * time.Millisecond

func startServer(t *testing.T) (string, *fakeBackend) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), SocketName)
	b := &fakeBackend{}
	s, err := listen(sock, b, Info{Pid: os.Getpid()}, slog.New(slog.DiscardHandler), testIOTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return sock, b
}

// rawRequest writes req on a new connection to sock as it is, closes the
// sending side if asked (a client that went away), and reads the answer.
func rawRequest(t *testing.T, sock, req string, closeWrite bool) (int, string) {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second)) // hang guard
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	if closeWrite {
		if err := c.(*net.UnixConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func withLength(target, body string, length int) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: otpsv\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", target, length, body)
}

func chunked(target string, chunks ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: otpsv\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", target)
	for _, c := range chunks {
		fmt.Fprintf(&b, "%x\r\n%s\r\n", len(c), c)
	}
	return b.String()
}

// TestStrictBodies: a command or reload is carried out only from a body
// that is complete and holds one JSON value (or nothing, for reload);
// anything else gets a 400 JSON error and the backend is never called.
func TestStrictBodies(t *testing.T) {
	t.Parallel()
	const stop = `{"verb":"stop","path":"site/a"}`
	const lastChunk = "0\r\n\r\n"
	for _, tc := range []struct {
		name       string
		req        string
		closeWrite bool
		want       int
		command    bool // Command called once with "stop site/a"
		reload     bool // Reload called once
	}{
		{"command", withLength("/v1/command", stop, len(stop)), false, 200, true, false},
		{"command then white space", withLength("/v1/command", stop+" \r\n\t", len(stop)+4), false, 200, true, false},
		{"command chunked", chunked("/v1/command", stop[:10], stop[10:]) + lastChunk, false, 200, true, false},
		{"command then junk", withLength("/v1/command", stop+" junk", len(stop)+5), false, 400, false, false},
		{"command twice", withLength("/v1/command", stop+stop, 2*len(stop)), false, 400, false, false},
		{"command then junk, chunked", chunked("/v1/command", stop, "junk") + lastChunk, false, 400, false, false},
		{"chunked without its last chunk, client gone", chunked("/v1/command", stop), true, 400, false, false},
		{"chunked without its last chunk, client stalls", chunked("/v1/command", stop), false, 400, false, false},
		{"shorter than Content-Length, client gone", withLength("/v1/command", stop, len(stop)+10), true, 400, false, false},
		{"shorter than Content-Length, client stalls", withLength("/v1/command", stop, len(stop)+10), false, 400, false, false},
		{"command over 64 KiB", withLength("/v1/command", strings.Repeat(" ", maxBody)+stop, maxBody+len(stop)), false, 413, false, false},
		{"reload", withLength("/v1/reload", "", 0), false, 200, false, true},
		{"reload over 64 KiB", withLength("/v1/reload", strings.Repeat(" ", maxBody+1), maxBody+1), false, 413, false, false},
		{"reload with a body", withLength("/v1/reload", "{}", 2), false, 400, false, false},
		{"reload chunked without its last chunk, client stalls", chunked("/v1/reload", " "), false, 400, false, false},
		{"reload shorter than Content-Length, client gone", withLength("/v1/reload", " ", 5), true, 400, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sock, b := startServer(t)
			code, body := rawRequest(t, sock, tc.req, tc.closeWrite)
			if code != tc.want {
				t.Errorf("status %d, want %d; body %s", code, tc.want, body)
			}
			if code == 400 || code == 413 {
				var e errorBody
				if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.HasPrefix(e.Error, "bad request: ") {
					t.Errorf("body %q: want a JSON error saying bad request", body)
				}
			}
			commands, reloads := b.calls()
			if want := map[bool]int{true: 1}[tc.command]; len(commands) != want || want == 1 && commands[0] != "stop site/a" {
				t.Errorf("commands carried out: %q, want %d", commands, want)
			}
			if want := map[bool]int{true: 1}[tc.reload]; reloads != want {
				t.Errorf("reloads carried out: %d, want %d", reloads, want)
			}
		})
	}
}

func TestDecodeBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body     string
		want     error // errors.Is; nil: accepted
		refused  bool
		wantPath string
	}{
		{body: `{"verb":"stop","path":"x"}`, wantPath: "x"},
		{body: " \n{\"verb\":\"stop\",\"path\":\"x\"}\n\n", wantPath: "x"},
		{body: `{"verb":"stop","path":"x"} junk`, want: errTrailingData, refused: true},
		{body: `{"verb":"stop","path":"x"}{}`, want: errTrailingData, refused: true},
		{body: `{"verb":"stop","path":"x"}]`, want: errTrailingData, refused: true},
		{body: `{"verb":"stop","path":"x"} {`, want: io.ErrUnexpectedEOF, refused: true},
		{body: `{"verb":"stop","path":"x"`, want: io.ErrUnexpectedEOF, refused: true},
		{body: `{"verb":"stop","other":"x"}`, refused: true},
		{body: ``, want: io.EOF, refused: true},
	} {
		var req CommandRequest
		err := decodeBody(strings.NewReader(tc.body), &req)
		if (err != nil) != tc.refused || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("decodeBody(%q) = %v, want refused=%v (%v)", tc.body, err, tc.refused, tc.want)
		}
		if err == nil && req.Path != tc.wantPath {
			t.Errorf("decodeBody(%q): path %q, want %q", tc.body, req.Path, tc.wantPath)
		}
	}
	// A body that breaks off after a whole value is incomplete, not done.
	var req CommandRequest
	broken := io.MultiReader(strings.NewReader(`{"verb":"stop","path":"x"}`), iotestErrReader{io.ErrUnexpectedEOF})
	if err := decodeBody(broken, &req); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("decodeBody of a broken body = %v, want %v", err, io.ErrUnexpectedEOF)
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

// TestListenSocket: the socket appears with mode 0600 and owned by us,
// replaces a stale one, leaves nothing behind in the state_dir (not even
// what a daemon killed halfway through Listen left), serves, and is
// removed on Close.
func TestListenSocket(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A state_dir others can enter: the socket's own mode must keep them
	// out from the moment it appears.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, SocketName)
	if err := os.WriteFile(sock, nil, 0o644); err != nil { // stale
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, bindDir, "s"), 0o755); err != nil { // leftover
		t.Fatal(err)
	}
	s, err := Listen(sock, &fakeBackend{}, Info{Pid: os.Getpid()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode() & (os.ModeType | os.ModePerm); got != os.ModeSocket|0o600 {
		t.Errorf("socket mode %v, want %v", got, os.ModeSocket|0o600)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != SocketName {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("state_dir holds %q, want only %s", names, SocketName)
	}
	info, err := NewClient(sock).Info(context.Background())
	if err != nil || info.Pid != os.Getpid() {
		t.Errorf("info through the socket: %+v, %v", info, err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket after Close: %v, want it removed", err)
	}
}
