//go:build linux

package health

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/otpsv/otpsv/actors/proc"
)

// startFDChild starts script with f's pipe as its fd 5, as a worker with
// `ready: fd:5` is started.
func startFDChild(t *testing.T, script string) (*FDReady, *proc.Process) {
	t.Helper()
	f, w, err := NewFDReady()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	p, err := proc.Start(proc.Spec{Argv: []string{"/bin/sh", "-c", script}, ExtraFiles: map[int]*os.File{5: w}})
	f.CloseChildEnd()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background(), syscall.SIGKILL, 0, nil) })
	return f, p
}

func TestFDReady(t *testing.T) {
	t.Parallel()
	f, _ := startFDChild(t, "sleep 0.1; echo >&5; exec sleep 60")
	ready := make(chan struct{}, 2)
	f.Start(func() { ready <- struct{}{} })
	f.Start(func() { t.Error("second Start ran") })
	select {
	case <-ready:
	case <-time.After(time.Minute):
		t.Fatal("not ready")
	}
	f.Close()
	f.Close()
	select {
	case <-ready:
		t.Error("ready called twice")
	default:
	}
}

// TestFDReadyEOF: a worker that closes the fd without a newline is never
// ready; the goroutine ends on EOF.
func TestFDReadyEOF(t *testing.T) {
	t.Parallel()
	f, _ := startFDChild(t, "printf 'no newline' >&5")
	called := make(chan struct{}, 1)
	f.Start(func() { called <- struct{}{} })
	select {
	case <-f.done:
	case <-time.After(time.Minute):
		t.Fatal("goroutine still waiting after EOF")
	}
	select {
	case <-called:
		t.Error("ready without a newline")
	default:
	}
}

// TestFDReadyClose: Close ends the wait of a worker that never writes, and
// the goroutine with it.
func TestFDReadyClose(t *testing.T) {
	t.Parallel()
	f, _ := startFDChild(t, "exec sleep 60")
	f.Start(func() { t.Error("ready") })
	f.Close()
	select {
	case <-f.done:
	default:
		t.Error("waiting goroutine running after Close")
	}
	f.Start(func() { t.Error("Start after Close ran") })
}
