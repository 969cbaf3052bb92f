package proc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// countEnv, when set to "SIGNUM FILE [leave]", makes
// TestHelperCountSignals count the instances of signal SIGNUM it receives
// and write the count to FILE. It writes its pid to FILE.ready once it is
// counting. With "leave", it first moves to the process group of a child
// of its own (a sleep, whose pid follows its own in FILE.ready).
const countEnv = "OTPSV_PROC_TEST_COUNT"

// countBlockedEnv marks the helper's second image, started with the
// signal already blocked.
const countBlockedEnv = "OTPSV_PROC_TEST_COUNT_BLOCKED"

// sigCounted is a real-time signal: the kernel queues every instance of
// one, where two instances of SIGTERM sent a microsecond apart merge into
// one delivery. Only with it does a second send show up every time.
const sigCounted = syscall.Signal(40) // SIGRTMIN+6 for glibc

// TestHelperCountSignals is not a test: it is the process whose signals
// TestStopSignalsOnce counts. The count must see every queued instance:
// Go's own handler, and os/signal, merge instances that arrive before the
// first is handled. So the signal is blocked in every thread and read
// from a signalfd, one instance per read. A mask set after the runtime
// started would leave its other threads open to the signal: the helper
// blocks it on its own thread and executes itself again, since execve
// keeps the mask and each thread of the new image starts with it.
func TestHelperCountSignals(t *testing.T) {
	v := os.Getenv(countEnv)
	if v == "" {
		t.Skip("helper process only")
	}
	args := strings.Fields(v)
	if len(args) < 2 {
		helperFail("bad %s: %q", countEnv, v)
	}
	file := args[1]
	signum, err := strconv.Atoi(args[0])
	if err != nil {
		helperFail("bad %s: %q", countEnv, v)
	}
	var set unix.Sigset_t
	set.Val[(signum-1)/64] |= 1 << ((signum - 1) % 64)
	if os.Getenv(countBlockedEnv) == "" {
		runtime.LockOSThread()
		if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, nil); err != nil {
			helperFail("block: %v", err)
		}
		exe, err := os.Executable()
		if err != nil {
			helperFail("%v", err)
		}
		err = syscall.Exec(exe, os.Args, append(os.Environ(), countBlockedEnv+"=1"))
		helperFail("exec: %v", err)
	}
	fd, err := unix.Signalfd(-1, &set, unix.SFD_CLOEXEC)
	if err != nil {
		helperFail("signalfd: %v", err)
	}
	ready := strconv.Itoa(os.Getpid()) + "\n"
	if len(args) > 2 && args[2] == "leave" {
		attr := &syscall.ProcAttr{Sys: &syscall.SysProcAttr{Setpgid: true}}
		child, err := syscall.ForkExec("/bin/sleep", []string{"sleep", "600"}, attr)
		if err != nil {
			helperFail("start sleep: %v", err)
		}
		if err := syscall.Setpgid(0, child); err != nil {
			helperFail("setpgid: %v", err)
		}
		ready += strconv.Itoa(child) + "\n"
	}
	if err := os.WriteFile(file+".ready", []byte(ready), 0o644); err != nil {
		helperFail("%v", err)
	}
	// Wait for the first instance, then count what else arrives within a
	// time that dwarfs the gap between two sends of one Signal call.
	n, timeout := 0, -1
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		r, err := unix.Poll(fds, timeout)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			helperFail("poll: %v", err)
		}
		if r == 0 {
			break
		}
		var info [128]byte // struct signalfd_siginfo
		if _, err := unix.Read(fd, info[:]); err != nil {
			helperFail("read: %v", err)
		}
		n, timeout = n+1, 500
	}
	if err := os.WriteFile(file, []byte(strconv.Itoa(n)+"\n"), 0o644); err != nil {
		helperFail("%v", err)
	}
	os.Exit(0)
}

func helperFail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "helper: "+format+"\n", args...)
	os.Exit(3)
}

// startCounter starts TestHelperCountSignals counting sig, and waits until
// it counts. It returns the process and the file the count goes to.
func startCounter(t *testing.T, sig syscall.Signal, leave bool) (*Process, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "count")
	arg := fmt.Sprintf("%d %s", int(sig), file)
	if leave {
		arg += " leave"
	}
	spec := Spec{
		Argv:   []string{exe, "-test.run=^TestHelperCountSignals$"},
		Env:    append(os.Environ(), countEnv+"="+arg),
		Stderr: Output{Inherit: true},
	}
	p, err := Start(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background(), syscall.SIGKILL, 0, nil) })
	n := 1
	if leave {
		n = 2
	}
	pids := readPids(t, file+".ready", n)
	if pids[0] != p.Pid {
		t.Fatalf("helper pid got %d, want %d", pids[0], p.Pid)
	}
	if leave {
		// Not in the helper's group: Stop leaves it alone.
		sleep := ProcInfo{Pid: pids[1]}
		if pi, err := LookupProcess(pids[1]); err == nil {
			sleep = pi
		}
		t.Cleanup(func() { _ = SignalProcesses(context.Background(), []ProcInfo{sleep}, syscall.SIGKILL, 0, nil) })
	}
	return p, file
}

// readCount returns what TestHelperCountSignals counted.
func readCount(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestStopSignalsOnce: the leader is in its own group, so the signal to
// the group reaches it; signalling it again on its own would deliver the
// stop signal twice, and a program that takes a second SIGTERM or SIGINT
// as "stop now" would lose its graceful stop.
func TestStopSignalsOnce(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name         string
		leave, adopt bool
	}{
		{name: "leader in its group"},
		{name: "leader left its group", leave: true},
		{name: "adopted", adopt: true},
		{name: "adopted, left its group", leave: true, adopt: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, file := startCounter(t, sigCounted, tt.leave)
			if tt.leave {
				if pi, err := LookupProcess(p.Pid); err != nil || pi.Pgid == p.Pid {
					t.Fatalf("leader still in its group: %+v, %v", pi, err)
				}
			}
			stopped := p
			if tt.adopt {
				// As a restarted daemon would: not its child, known by pid
				// and start time.
				start, err := p.StartTime()
				if err != nil {
					t.Fatal(err)
				}
				if stopped, err = Adopt(p.Pid, start, false); err != nil {
					t.Fatal(err)
				}
			}
			if err := stopped.Stop(context.Background(), sigCounted, time.Minute, nil); err != nil {
				t.Fatal(err)
			}
			if st := waitExit(t, p); !st.Normal() {
				t.Fatalf("helper: %v", st)
			}
			if got := readCount(t, file); got != "1" {
				t.Errorf("the leader received the stop signal %s times, want 1", got)
			}
		})
	}
}
