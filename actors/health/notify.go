package health

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

const (
	// maxDatagram is the largest notify message read; a longer one is
	// dropped whole (systemd's own limit is smaller still, PIPE_BUF).
	maxDatagram = 8 << 10
	// maxPassedFds is SCM_MAX_FD: room for every descriptor a message can
	// carry, so that each is received and closed (the kernel closes those
	// that do not fit anyway).
	maxPassedFds = 253
	// maxSocketPath is the longest socket path a client can connect to:
	// sun_path holds 108 bytes, and senders (libsystemd among them) want
	// room for the terminating NUL. An abstract name needs none.
	maxSocketPath = 107
)

// Message is one notify datagram from a worker's process, with the fields
// otpsv understands (sd_notify(3)); lines it does not know are ignored.
type Message struct {
	Pid             int // the sender (SCM_CREDENTIALS)
	Ready           bool
	Stopping        bool
	Reloading       bool
	Watchdog        bool    // WATCHDOG=1
	WatchdogTrigger bool    // WATCHDOG=trigger
	Status          *string // STATUS=, nil when absent
	MainPid         int     // MAINPID=, 0 when absent
	WatchdogUsec    uint64  // WATCHDOG_USEC=, 0 when absent
}

// Notifier is the NOTIFY_SOCKET of one worker: a unix datagram socket with
// SO_PASSCRED, so that the kernel tells who sent each message and only the
// worker's own processes can speak for it.
type Notifier struct {
	path string
	conn *net.UnixConn
	file os.FileInfo // the socket file bound; nil for an abstract socket

	mu      sync.Mutex
	started bool
	closed  bool
	done    chan struct{} // closed when the reading goroutine has returned

	closeOnce sync.Once
	closeErr  error
}

// ListenNotify binds a notify socket at path, removing a stale socket file
// first. The file gets mode 0600 and, when uid >= 0 (a worker with
// `user:`), is chowned to uid and gid so that the worker can send to it.
// The directory is the caller's to keep private: the mode is set after
// bind (the umask is process-wide and must not be changed), and senders
// outside the worker's group are dropped anyway. A path beginning with "@"
// is an abstract socket (no file; anyone in the network namespace can
// send to it, and only the group check keeps strangers out).
func ListenNotify(path string, uid, gid int) (*Notifier, error) {
	abstract := strings.HasPrefix(path, "@")
	if limit := maxSocketPath + b2i(abstract); len(path) > limit {
		return nil, fmt.Errorf("notify socket %s: %d bytes long, more than the %d a unix socket address holds", path, len(path), limit)
	}
	if path == "" || path == "@" {
		return nil, errors.New("notify socket: empty path")
	}
	if !abstract {
		if err := removeStaleSocket(path); err != nil {
			return nil, err
		}
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	n := &Notifier{path: path, conn: conn, done: make(chan struct{})}
	if err := n.setup(abstract, uid, gid); err != nil {
		_ = conn.Close()
		if !abstract {
			_ = os.Remove(path)
		}
		return nil, fmt.Errorf("notify socket %s: %w", path, err)
	}
	return n, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// removeStaleSocket removes what a previous run left at path, if it is a
// socket: anything else there is not ours to delete.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("notify socket: %w", err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("notify socket %s: exists and is not a socket", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("notify socket: %w", err)
	}
	return nil
}

func (n *Notifier) setup(abstract bool, uid, gid int) error {
	sc, err := n.conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := sc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("SO_PASSCRED: %w", serr)
	}
	if abstract {
		return nil
	}
	if err := os.Chmod(n.path, 0o600); err != nil {
		return err
	}
	if uid >= 0 {
		if err := os.Lchown(n.path, uid, gid); err != nil {
			return err
		}
	}
	fi, err := os.Lstat(n.path)
	if err != nil {
		return err
	}
	n.file = fi
	return nil
}

// Path is the value of NOTIFY_SOCKET.
func (n *Notifier) Path() string { return n.path }

// Start starts reading messages; those sent before it wait in the socket.
// Each message whose sender is alive and in process group pgid is passed
// to deliver, on the reading goroutine and in order; deliver must not call
// Close. Others are dropped: they are not the worker's. Start after Start
// or Close does nothing.
func (n *Notifier) Start(pgid int, deliver func(Message)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started || n.closed {
		return
	}
	n.started = true
	go n.read(pgid, deliver)
}

// bufs holds the buffers of Notifier reads: a worker's reading goroutine
// holds none while it waits, only while it reads one message.
var bufs = sync.Pool{New: func() any {
	return &msgBuf{oob: make([]byte, unix.CmsgSpace(unix.SizeofUcred)+unix.CmsgSpace(maxPassedFds*4))}
}}

type msgBuf struct {
	data [maxDatagram]byte
	oob  []byte
}

func (n *Notifier) read(pgid int, deliver func(Message)) {
	defer close(n.done)
	sc, err := n.conn.SyscallConn()
	if err != nil {
		return
	}
	for {
		var (
			m       Message
			ok      bool
			fds     []int
			recvErr error
		)
		// The callback runs when the socket is readable, so a buffer is
		// taken only then; returning false waits for readability again.
		rerr := sc.Read(func(fd uintptr) bool {
			b := bufs.Get().(*msgBuf)
			defer bufs.Put(b)
			nr, oobn, flags, _, err := unix.Recvmsg(int(fd), b.data[:], b.oob, unix.MSG_CMSG_CLOEXEC|unix.MSG_DONTWAIT)
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				return false
			}
			if err != nil {
				recvErr = err
				return true
			}
			var cred *unix.Ucred
			cred, fds = control(b.oob[:oobn])
			if cred == nil || flags&unix.MSG_TRUNC != 0 || !inGroup(cred.Pid, pgid) {
				return true
			}
			m, ok = parseMessage(b.data[:nr])
			m.Pid = int(cred.Pid)
			return true
		})
		if ok {
			deliver(m)
		}
		// After deliver: a sender waiting on BARRIER=1 (sd_notify_barrier,
		// systemd-notify) goes on when these are closed, so it was alive
		// while its message was checked and acted on.
		for _, fd := range fds {
			_ = unix.Close(fd)
		}
		if rerr != nil || recvErr != nil {
			return // closed, or unusable
		}
	}
}

// control returns the sender's credentials and the descriptors received.
func control(oob []byte) (*unix.Ucred, []int) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, nil
	}
	var (
		cred *unix.Ucred
		fds  []int
	)
	for i := range msgs {
		if msgs[i].Header.Level != unix.SOL_SOCKET {
			continue
		}
		switch msgs[i].Header.Type {
		case unix.SCM_CREDENTIALS:
			if c, err := unix.ParseUnixCredentials(&msgs[i]); err == nil {
				cred = c
			}
		case unix.SCM_RIGHTS:
			if f, err := unix.ParseUnixRights(&msgs[i]); err == nil {
				fds = append(fds, f...)
			}
		}
	}
	return cred, fds
}

// inGroup reports whether pid is alive and in process group pgid. A pid
// of another pid namespace comes as 0, and a reaped sender is gone: both
// are dropped.
func inGroup(pid int32, pgid int) bool {
	if pid <= 0 || pgid <= 0 {
		return false
	}
	g, err := unix.Getpgid(int(pid))
	return err == nil && g == pgid
}

// parseMessage reads the newline-separated KEY=VALUE lines of a datagram.
// It reports false when no line meant anything to otpsv (BARRIER=1 alone,
// say): there is nothing to deliver.
func parseMessage(b []byte) (Message, bool) {
	var m Message
	seen := false
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		k, v, ok := bytes.Cut(line, []byte{'='})
		if !ok {
			continue
		}
		switch string(k) {
		case "READY":
			if string(v) == "1" {
				m.Ready, seen = true, true
			}
		case "STOPPING":
			if string(v) == "1" {
				m.Stopping, seen = true, true
			}
		case "RELOADING":
			if string(v) == "1" {
				m.Reloading, seen = true, true
			}
		case "WATCHDOG":
			switch string(v) {
			case "1":
				m.Watchdog, seen = true, true
			case "trigger":
				m.WatchdogTrigger, seen = true, true
			}
		case "STATUS":
			s := strings.ToValidUTF8(string(v), "\uFFFD")
			m.Status, seen = &s, true
		case "MAINPID":
			if pid, err := strconv.Atoi(string(v)); err == nil && pid > 0 {
				m.MainPid, seen = pid, true
			}
		case "WATCHDOG_USEC":
			if us, err := strconv.ParseUint(string(v), 10, 64); err == nil && us > 0 {
				m.WatchdogUsec, seen = us, true
			}
		}
	}
	return m, seen
}

// Close stops reading (the goroutine is gone when it returns) and removes
// the socket file, unless another socket has been bound at its path
// since. It may be called more than once.
func (n *Notifier) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		started := n.started
		n.mu.Unlock()
		n.closeErr = n.conn.Close()
		if started {
			<-n.done
		}
		if n.file != nil {
			if fi, err := os.Lstat(n.path); err == nil && os.SameFile(fi, n.file) {
				if err := os.Remove(n.path); err != nil && !errors.Is(err, os.ErrNotExist) {
					n.closeErr = errors.Join(n.closeErr, err)
				}
			}
		}
	})
	return n.closeErr
}
