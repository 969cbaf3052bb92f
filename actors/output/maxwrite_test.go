package output

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// recordWriter keeps each Write's bytes.
type recordWriter struct{ writes [][]byte }

func (w *recordWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

// TestMaxWrite: every Write holds whole lines and at most MaxWrite bytes,
// except a line longer than that, written alone; nothing is lost.
func TestMaxWrite(t *testing.T) {
	t.Parallel()
	const max = 100
	long := strings.Repeat("L", 250)
	var in []string
	var want strings.Builder
	for i := range 40 {
		l := fmt.Sprintf("line %d %s", i, strings.Repeat("x", i%30))
		if i == 17 {
			l = long
		}
		in = append(in, l+"\n")
		want.WriteString("p: " + l + "\n")
	}
	// One read: the batch holds all the lines.
	src := pieces{strings.Join(in, "")}
	rw := &recordWriter{}
	d, err := NewShared(rw).Dest(Options{Prefix: "p: ", MaxWrite: max})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Copy(&src, false); err != nil {
		t.Fatal(err)
	}
	if got := string(bytes.Join(rw.writes, nil)); got != want.String() {
		t.Fatalf("got %q, want %q", got, want.String())
	}
	sawLong := false
	for _, w := range rw.writes {
		lines := bytes.Count(w, []byte{'\n'})
		switch {
		case w[len(w)-1] != '\n':
			t.Errorf("write %q does not end a line", w)
		case len(w) > max && lines != 1:
			t.Errorf("write of %d bytes, %d lines: over MaxWrite %d", len(w), lines, max)
		case len(w) > max:
			sawLong = string(w) == "p: "+long+"\n"
		case len(rw.writes) == 1:
			t.Error("one write: MaxWrite ignored")
		}
	}
	if !sawLong {
		t.Error("the long line was not written alone")
	}
}

// TestMaxWriteFile: a file destination bounds its writes too, and its
// rotation still sees every line.
func TestMaxWriteFile(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/w.log"
	d, err := NewFile(path, Options{MaxWrite: 64, MaxSize: 1000, Keep: 50})
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range 500 {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	src := pieces{want.String()}
	if err := d.Copy(&src, false); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if got := string(readRotated(t, path, 50, 1000)); got != want.String() {
		t.Errorf("got %d bytes, want %d", len(got), want.Len())
	}
}

// TestMaxWritePipeOfProcesses: loggers in separate processes share one
// pipe (otpsv's stdout) with no lock between them; with MaxWrite at
// PIPE_BUF no line is torn. Each writer has its own descriptor of the
// pipe, so the kernel, not an os.File lock, orders their writes, as it
// does for processes.
func TestMaxWritePipeOfProcesses(t *testing.T) {
	t.Parallel()
	const (
		loggers = 6
		lines   = 20_000
	)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(pr)
		pr.Close()
		out <- b
	}()
	want := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 2*loggers)
	var fds []*os.File
	for i := range loggers {
		fd, err := syscall.Dup(int(pw.Fd()))
		if err != nil {
			t.Fatal(err)
		}
		f := os.NewFile(uintptr(fd), "stdout")
		fds = append(fds, f)
		d, err := NewShared(f).Dest(Options{Timestamps: true, Prefix: fmt.Sprintf("w%d: ", i), MaxWrite: 4096})
		if err != nil {
			t.Fatal(err)
		}
		tag := fmt.Sprintf("w%d", i)
		want[tag] = lines
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(2)
		go func() { defer wg.Done(); errs <- writeSeqLines(w, tag, lines, uint64(i)) }()
		go func() { defer wg.Done(); errs <- d.Copy(r, false); r.Close() }()
	}
	pw.Close()
	wg.Wait()
	for _, f := range fds {
		f.Close()
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	checkSeqLines(t, <-out, true, want, func(tag string) string { return tag + ": " + tag + " " })
}

func TestMaxWriteRefused(t *testing.T) {
	t.Parallel()
	if _, err := NewShared(io.Discard).Dest(Options{MaxWrite: -1}); err == nil {
		t.Error("MaxWrite -1: got no error")
	}
}
