//go:build linux

package health

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otpsv/otpsv/actors/proc"
)

// listen binds a notify socket in a fresh directory and closes it when the
// test ends.
func listen(t *testing.T) *Notifier {
	t.Helper()
	n, err := ListenNotify(filepath.Join(t.TempDir(), "notify"), -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// collect starts n for group pgid and returns the channel its messages
// arrive on.
func collect(n *Notifier, pgid int) <-chan Message {
	ch := make(chan Message, 64)
	n.Start(pgid, func(m Message) { ch <- m })
	return ch
}

// next waits for the next message; the timer is a hang guard.
func next(t *testing.T, ch <-chan Message) Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(time.Minute):
		t.Fatal("no message")
	}
	return Message{}
}

func strp(s string) *string { return &s }

// notifySender starts the helper that sends msgs to n's socket, in a
// process group of its own, and waits until it has sent them.
func notifySender(t *testing.T, n *Notifier, mode string, msgs ...string) *proc.Process {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := helper(t, mode, []string{"NOTIFY_SOCKET=" + n.Path(), sentVar + "=1"}, map[int]*os.File{3: w}, msgs...)
	_ = w.Close()
	waitLines(t, r, 1)
	return p
}

// waitLines reads count lines from r; the deadline is a hang guard.
func waitLines(t *testing.T, r *os.File, count int) {
	t.Helper()
	_ = r.SetReadDeadline(time.Now().Add(time.Minute))
	br := bufio.NewReader(r)
	for range count {
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatalf("waiting for the sender: %v", err)
		}
	}
}

// TestNotifySystemdNotify: systemd's own client, run by a worker's shell
// script, is heard, and its BARRIER=1 is released (it exits 0 only when
// the descriptor it sent is closed within its 5s wait). systemd-notify
// (252) sends with its parent's pid: the script's, in the group.
func TestNotifySystemdNotify(t *testing.T) {
	t.Parallel()
	const notify = "/usr/bin/systemd-notify"
	if _, err := os.Stat(notify); err != nil {
		t.Skip(err)
	}
	n := listen(t)
	p, err := proc.Start(proc.Spec{
		Argv: []string{"/bin/sh", "-c", notify + " --ready --status=hello; exit $?"},
		Env:  []string{"NOTIFY_SOCKET=" + n.Path(), "PATH=" + proc.DefaultPath},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Stop(context.Background(), syscall.SIGKILL, 0, nil) }()
	ch := collect(n, p.Pid)
	m := next(t, ch)
	if want := (Message{Pid: p.Pid, Ready: true, Status: strp("hello")}); !reflect.DeepEqual(m, want) {
		t.Errorf("got %s, want %s", show(m), show(want))
	}
	if st := waitExit(t, p); !st.Normal() {
		t.Errorf("systemd-notify: got %v, want exit status 0", st)
	}
}

func show(m Message) string {
	s := "<nil>"
	if m.Status != nil {
		s = *m.Status
	}
	return fmt.Sprintf("%+v (status %q)", m, s)
}

func waitExit(t *testing.T, p *proc.Process) proc.ExitStatus {
	t.Helper()
	select {
	case <-p.Done():
		return p.Status()
	case <-time.After(time.Minute):
		t.Fatal("process did not exit")
	}
	return proc.ExitStatus{}
}

// TestNotifyDropped: messages from this process (outside the group) and
// from a group member that is gone are dropped; the message after them,
// from a live member, is the first delivered.
func TestNotifyDropped(t *testing.T) {
	t.Parallel()
	n := listen(t)
	if err := sendNotify(n.Path(), "READY=1\nSTATUS=outsider"); err != nil {
		t.Fatal(err)
	}
	// The script's first sender exits and is reaped by the script before
	// the second sends.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	exe, _ := os.Executable()
	script := fmt.Sprintf(`%[1]s=notify-exit %[2]q STATUS=gone; %[1]s=notify %[2]q STATUS=alive & wait`, helperVar, exe)
	p, err := proc.Start(proc.Spec{
		Argv:       []string{"/bin/sh", "-c", script},
		Env:        append(os.Environ(), "NOTIFY_SOCKET="+n.Path(), sentVar+"=1"),
		ExtraFiles: map[int]*os.File{3: w},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Stop(context.Background(), syscall.SIGKILL, 0, nil) }()
	_ = w.Close()
	waitLines(t, r, 2)

	m := next(t, collect(n, p.Pid))
	if m.Status == nil || *m.Status != "alive" || m.Ready || m.Pid == p.Pid || m.Pid == os.Getpid() {
		t.Errorf("got %s, want STATUS=alive from the script's child", show(m))
	}
}

// TestNotifyMessages: every field, in order, one datagram each; lines and
// datagrams that mean nothing are not delivered.
func TestNotifyMessages(t *testing.T) {
	t.Parallel()
	n := listen(t)
	p := notifySender(t, n, "notify",
		"WATCHDOG=1",
		"WATCHDOG=trigger",
		"BARRIER=1",
		"garbage\nREADY=0\nFOO=bar\nMAINPID=x",
		"MAINPID=4242\nWATCHDOG_USEC=5000000\nSTATUS=two words\nREADY=1",
		"STOPPING=1",
		"RELOADING=1\nMONOTONIC_USEC=1",
		"STATUS=",
	)
	ch := collect(n, p.Pid)
	want := []Message{
		{Watchdog: true},
		{WatchdogTrigger: true},
		{MainPid: 4242, WatchdogUsec: 5000000, Status: strp("two words"), Ready: true},
		{Stopping: true},
		{Reloading: true},
		{Status: strp("")},
	}
	for _, w := range want {
		w.Pid = p.Pid
		if m := next(t, ch); !reflect.DeepEqual(m, w) {
			t.Errorf("got %s, want %s", show(m), show(w))
		}
	}
}

// TestNotifyClose: Close stops the goroutine, removes the socket file,
// and can be called again; Start after it does nothing.
func TestNotifyClose(t *testing.T) {
	t.Parallel()
	n, err := ListenNotify(filepath.Join(t.TempDir(), "notify"), -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	n.Start(1, func(Message) {})
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.done:
	default:
		t.Error("reading goroutine running after Close")
	}
	if _, err := os.Lstat(n.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file after Close: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	n.Start(1, func(Message) { t.Error("delivered after Close") })
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.closed {
		t.Error("not closed")
	}
}

// TestNotifyFile: the mode, the owner, and what is found at the path.
func TestNotifyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "notify")

	// A stale socket (otpsv killed) is replaced.
	stale, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	_ = stale.Close()
	uid := -1
	if os.Geteuid() == 0 {
		uid = 65534
	}
	n, err := ListenNotify(path, uid, uid)
	if err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Errorf("mode got %v, want socket 0600", fi.Mode())
	}
	if st := fi.Sys().(*syscall.Stat_t); uid >= 0 && (int(st.Uid) != uid || int(st.Gid) != uid) {
		t.Errorf("owner got %d:%d, want %d:%d", st.Uid, st.Gid, uid, uid)
	}
	_ = n.Close()

	// Anything else is left alone.
	if err := os.WriteFile(path, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ListenNotify(path, -1, -1); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("over a regular file: got %v, want not a socket", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "data" {
		t.Error("regular file changed")
	}
}

// TestNotifyAbstract: an abstract socket has no file and works the same.
func TestNotifyAbstract(t *testing.T) {
	t.Parallel()
	path := fmt.Sprintf("@otpsv-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	n, err := ListenNotify(path, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if n.Path() != path {
		t.Errorf("path got %q, want %q", n.Path(), path)
	}
	p := notifySender(t, n, "notify", "READY=1")
	if m := next(t, collect(n, p.Pid)); !m.Ready || m.Pid != p.Pid {
		t.Errorf("got %s, want READY=1", show(m))
	}
	if err := n.Close(); err != nil {
		t.Error(err)
	}
}

// TestNotifyPathLength: 107 bytes is the most a sender can connect to.
func TestNotifyPathLength(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pad := func(total int) string {
		return filepath.Join(dir, strings.Repeat("x", total-len(dir)-1))
	}
	n, err := ListenNotify(pad(107), -1, -1)
	if err != nil {
		t.Fatalf("107 bytes: %v", err)
	}
	_ = n.Close()
	_, err = ListenNotify(pad(108), -1, -1)
	if err == nil || !strings.Contains(err.Error(), "108 bytes long, more than the 107 a unix socket address holds") {
		t.Errorf("108 bytes: got %v", err)
	}
}

func TestParseMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Message
		ok   bool
	}{
		{"READY=1", Message{Ready: true}, true},
		{"READY=1\n", Message{Ready: true}, true},
		{"READY=0", Message{}, false},
		{"STATUS=a=b\nSTATUS=c", Message{Status: strp("c")}, true},
		{"STATUS=\xff", Message{Status: strp("\uFFFD")}, true},
		{"WATCHDOG=1\nWATCHDOG=trigger", Message{Watchdog: true, WatchdogTrigger: true}, true},
		{"WATCHDOG=2", Message{}, false},
		{"MAINPID=-3\nWATCHDOG_USEC=0", Message{}, false},
		{"MAINPID=77\nWATCHDOG_USEC=18446744073709551615", Message{MainPid: 77, WatchdogUsec: 1<<64 - 1}, true},
		{"STOPPING=1\nRELOADING=1", Message{Stopping: true, Reloading: true}, true},
		{"BARRIER=1", Message{}, false},
		{"", Message{}, false},
		{"READY", Message{}, false},
	}
	for _, tt := range tests {
		got, ok := parseMessage([]byte(tt.in))
		if !reflect.DeepEqual(got, tt.want) || ok != tt.ok {
			t.Errorf("%q: got %s %v, want %s %v", tt.in, show(got), ok, show(tt.want), tt.ok)
		}
	}
}
