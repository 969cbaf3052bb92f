package proc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"
)

func pipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(); _ = w.Close() })
	return r, w
}

// TestExtraFiles gives a child two pipes at 5 and 9, and it writes on both.
func TestExtraFiles(t *testing.T) {
	t.Parallel()
	r5, w5 := pipe(t)
	r9, w9 := pipe(t)
	p, err := Start(Spec{Argv: []string{"/bin/sh", "-c", "echo five >&5; echo nine >&9"}, ExtraFiles: map[int]*os.File{5: w5, 9: w9}})
	if err != nil {
		t.Fatal(err)
	}
	// EOF comes when the child, the only writer left, exits.
	_ = w5.Close()
	_ = w9.Close()
	got5, err5 := io.ReadAll(r5)
	got9, err9 := io.ReadAll(r9)
	if st := waitExit(t, p); !st.Normal() || err5 != nil || err9 != nil {
		t.Fatalf("got %v, read errors %v, %v", st, err5, err9)
	}
	if string(got5) != "five\n" {
		t.Errorf("fd 5 got %q, want %q", got5, "five\n")
	}
	if string(got9) != "nine\n" {
		t.Errorf("fd 9 got %q, want %q", got9, "nine\n")
	}
}

// TestExtraFilesHoleClosed: a descriptor the parent holds open without
// close-on-exec, at a number the map leaves out, is closed in the child
// (without ExtraFiles it would be inherited). Not parallel: the children
// of other tests would inherit the descriptor too.
func TestExtraFilesHoleClosed(t *testing.T) {
	r, w := pipe(t)
	leak, _ := pipe(t)
	n := int(leak.Fd())
	if _, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(n), syscall.F_SETFD, 0); errno != 0 {
		t.Fatal(errno)
	}
	top := max(n+1, int(w.Fd())+1)
	script := fmt.Sprintf("if [ -e /proc/$$/fd/%d ]; then echo open; else echo closed; fi >&%d", n, top)
	// bash, since /bin/sh may take only one-digit descriptors.
	p, err := Start(Spec{Argv: []string{"/bin/bash", "-c", script}, ExtraFiles: map[int]*os.File{top: w}})
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	got, _ := io.ReadAll(r)
	waitExit(t, p)
	if string(got) != "closed\n" {
		t.Errorf("descriptor %d in the child: got %q, want closed", n, got)
	}
}

func TestExtraFilesErrors(t *testing.T) {
	t.Parallel()
	_, w := pipe(t)
	closed, cw := pipe(t)
	_ = closed.Close()
	_ = cw
	for name, extra := range map[string]map[int]*os.File{
		"stdio":  {2: w},
		"nil":    {4: nil},
		"closed": {4: closed},
	} {
		_, err := Start(Spec{Argv: []string{"/bin/true"}, ExtraFiles: extra})
		if err == nil {
			t.Errorf("%s: started", name)
		}
		if name == "closed" && !errors.Is(err, os.ErrClosed) {
			t.Errorf("%s: got %v, want ErrClosed", name, err)
		}
	}
}
