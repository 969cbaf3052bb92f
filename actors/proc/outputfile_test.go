package proc

import (
	"errors"
	"io"
	"os"
	"testing"
)

// TestOutputFile sends a child's stdout and stderr into two pipes: each
// reader gets its stream and then EOF when the child exits, which needs
// Start to have closed the parent's copies of the write ends.
func TestOutputFile(t *testing.T) {
	t.Parallel()
	rOut, wOut := pipe(t)
	rErr, wErr := pipe(t)
	p, err := Start(Spec{Argv: []string{"/bin/sh", "-c", "echo out; echo err >&2"},
		Stdout: Output{File: wOut}, Stderr: Output{File: wErr}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wOut.Write([]byte("x")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("stdout write end after Start: write got %v, want ErrClosed", err)
	}
	gotOut, errOut := io.ReadAll(rOut)
	gotErr, errErr := io.ReadAll(rErr)
	if st := waitExit(t, p); !st.Normal() || errOut != nil || errErr != nil {
		t.Fatalf("got %v, read errors %v, %v", st, errOut, errErr)
	}
	if string(gotOut) != "out\n" || string(gotErr) != "err\n" {
		t.Errorf("got stdout %q, stderr %q; want %q, %q", gotOut, gotErr, "out\n", "err\n")
	}
}

// TestOutputFileShared: one pipe for both streams, as a file would be.
func TestOutputFileShared(t *testing.T) {
	t.Parallel()
	r, w := pipe(t)
	p, err := Start(Spec{Argv: []string{"/bin/sh", "-c", "echo out; echo err >&2"},
		Stdout: Output{File: w}, Stderr: Output{File: w}})
	if err != nil {
		t.Fatal(err)
	}
	got, rerr := io.ReadAll(r)
	if st := waitExit(t, p); !st.Normal() || rerr != nil {
		t.Fatalf("got %v, read error %v", st, rerr)
	}
	if string(got) != "out\nerr\n" {
		t.Errorf("got %q, want %q", got, "out\nerr\n")
	}
}

// TestOutputFileClosedOnError: a start that fails still closes the files,
// so the reader sees EOF at once rather than waiting on a copy nobody
// will close.
func TestOutputFileClosedOnError(t *testing.T) {
	t.Parallel()
	r, w := pipe(t)
	r2, w2 := pipe(t)
	if _, err := Start(Spec{Argv: []string{"otpsv-no-such-program"}, Stdout: Output{File: w}, Stderr: Output{File: w2}}); err == nil {
		t.Fatal("started")
	}
	for _, rd := range []*os.File{r, r2} {
		if got, err := io.ReadAll(rd); err != nil || len(got) != 0 {
			t.Errorf("reader after a failed start: got %q, %v; want EOF", got, err)
		}
	}
	// A file closed beforehand is an error, not a closed stdout.
	_, wc := pipe(t)
	_ = wc.Close()
	if _, err := Start(Spec{Argv: []string{"/bin/true"}, Stdout: Output{File: wc}}); !errors.Is(err, os.ErrClosed) {
		t.Errorf("closed output file: got %v, want ErrClosed", err)
	}
}
