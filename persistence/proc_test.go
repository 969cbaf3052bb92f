package persistence

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseStat(t *testing.T) {
	t.Parallel()
	// Fields 3..22 after comm; starttime (22) is 8123456.
	const rest = " S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 8123456 1000000 100 18446744073709551615"
	tests := []struct {
		name      string
		line      string
		wantState byte
		wantStart uint64
		wantErr   bool
	}{
		{name: "plain", line: "4242 (sleep)" + rest, wantState: 'S', wantStart: 8123456},
		{name: "spaces in comm", line: "4242 (my worker 1)" + rest, wantState: 'S', wantStart: 8123456},
		{name: "parentheses in comm", line: "4242 (a) b (c))" + rest, wantState: 'S', wantStart: 8123456},
		{name: "fake fields in comm", line: "4242 (x) Z 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 99)" + rest, wantState: 'S', wantStart: 8123456},
		{name: "zombie", line: "4242 (sleep) Z 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 77 0 0", wantState: 'Z', wantStart: 77},
		{name: "no comm", line: "4242 sleep S 1 2", wantErr: true},
		{name: "too short", line: "4242 (sleep) S 1 1234", wantErr: true},
		{name: "starttime not a number", line: "4242 (sleep) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 x 0", wantErr: true},
		{name: "empty", line: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			state, start, err := parseStat([]byte(tt.line + "\n"))
			if tt.wantErr {
				if !errors.Is(err, errBadStat) {
					t.Fatalf("got %c, %d, %v, want errBadStat", state, start, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if state != tt.wantState || start != tt.wantStart {
				t.Errorf("got %c %d, want %c %d", state, start, tt.wantState, tt.wantStart)
			}
		})
	}
}

func TestProcessStartTimeSelf(t *testing.T) {
	t.Parallel()
	start, err := processStartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if start == 0 {
		t.Fatal("start time 0")
	}
	if !SameProcess(os.Getpid(), start) {
		t.Error("SameProcess(self): got false, want true")
	}
	if SameProcess(os.Getpid(), start+1) {
		t.Error("SameProcess(self, other start): got true, want false")
	}
	for _, pid := range []int{0, -1} {
		if SameProcess(pid, start) {
			t.Errorf("SameProcess(%d): got true, want false", pid)
		}
	}
	if SameProcess(os.Getpid(), 0) {
		t.Error("SameProcess(self, 0): got true, want false")
	}
}

func TestProcessStartTimeGone(t *testing.T) {
	t.Parallel()
	// Above any pid_max (at most 2^22).
	const pid = 1 << 30
	if _, err := processStartTime(pid); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want ErrNotExist", err)
	}
	if SameProcess(pid, 1) {
		t.Error("SameProcess(no such pid): got true, want false")
	}
}

// TestSameProcessZombie: a child that exited but was not reaped still
// has its pid and start time; it must not count as the same process.
func TestSameProcessZombie(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("cat") // lives until its stdin closes
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	start, err := processStartTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	if !SameProcess(pid, start) {
		t.Fatal("SameProcess(running child): got false, want true")
	}
	_ = stdin.Close()
	// Wait for the exit without reaping: the child stays a zombie.
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	if SameProcess(pid, start) {
		t.Error("SameProcess(zombie): got true, want false")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if SameProcess(pid, start) {
		t.Error("SameProcess(reaped): got true, want false")
	}
}
