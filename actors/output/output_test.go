package output

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

// stepClock returns t0, t0+1s, t0+2s, ... on successive calls.
func stepClock() func() time.Time {
	var n atomic.Int64
	return func() time.Time { return t0.Add(time.Duration(n.Add(1)-1) * time.Second) }
}

// pieces returns its strings one per Read, as a pipe returns what each
// write put in it.
type pieces []string

func (p *pieces) Read(b []byte) (int, error) {
	if len(*p) == 0 {
		return 0, io.EOF
	}
	n := copy(b, (*p)[0])
	if n == len((*p)[0]) {
		*p = (*p)[1:]
	} else {
		(*p)[0] = (*p)[0][n:]
	}
	return n, nil
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readRotated returns the contents of path.keep .. path.1 and path, oldest
// first, skipping missing files, and checks each is at most max bytes
// unless it holds a single line.
func readRotated(t *testing.T, path string, keep int, max int64) []byte {
	t.Helper()
	var all []byte
	for i := keep; i >= 0; i-- {
		p := path
		if i > 0 {
			p += "." + strconv.Itoa(i)
		}
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if max > 0 && int64(len(b)) > max && bytes.Count(b, []byte{'\n'}) > 1 {
			t.Errorf("%s: %d bytes in %d lines, want at most %d", p, len(b), bytes.Count(b, []byte{'\n'}), max)
		}
		all = append(all, b...)
	}
	return all
}

func TestLineFormat(t *testing.T) {
	t.Parallel()
	ts := func(s int) string { return t0.Add(time.Duration(s)*time.Second).Format(TimeLayout) + " " }
	tests := []struct {
		name   string
		opts   Options
		stderr bool
		reads  pieces
		want   string
	}{
		{name: "plain", reads: pieces{"a\nb\n"}, want: "a\nb\n"},
		{name: "empty input", reads: pieces{}, want: ""},
		{name: "empty lines", opts: Options{Prefix: "p: "}, reads: pieces{"\n\n"}, want: "p: \np: \n"},
		{name: "prefix", opts: Options{Prefix: "site/web: "}, reads: pieces{"a\nb\n"}, want: "site/web: a\nsite/web: b\n"},
		{
			name:  "timestamps shared by one read",
			opts:  Options{Timestamps: true},
			reads: pieces{"a\nb\n", "c\n"},
			want:  ts(0) + "a\n" + ts(0) + "b\n" + ts(1) + "c\n",
		},
		{
			name:   "stderr marked after timestamp and prefix",
			opts:   Options{Timestamps: true, Prefix: "site/web: ", StderrMark: true},
			stderr: true,
			reads:  pieces{"oops\n"},
			want:   ts(0) + "site/web: stderr: oops\n",
		},
		{name: "stdout not marked", opts: Options{Prefix: "w: ", StderrMark: true}, reads: pieces{"x\n"}, want: "w: x\n"},
		{name: "stderr unmarked without StderrMark", opts: Options{Prefix: "w: "}, stderr: true, reads: pieces{"x\n"}, want: "w: x\n"},
		{
			name:  "partial line held and stamped by the read that ends it",
			opts:  Options{Timestamps: true, Prefix: "w: "},
			reads: pieces{"ab", "c\nd", "e", "\n"},
			want:  ts(1) + "w: abc\n" + ts(3) + "w: de\n",
		},
		{name: "newline added at EOF", opts: Options{Prefix: "w: "}, reads: pieces{"x\ny"}, want: "w: x\nw: y\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "w.log")
			tt.opts.Clock = stepClock()
			d, err := NewFile(path, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Copy(&tt.reads, tt.stderr); err != nil {
				t.Fatal(err)
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, path); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTimestampsParsedBack(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "w.log")
	d, err := NewFile(path, Options{Timestamps: true, Prefix: "site/web: "})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().Truncate(time.Microsecond)
	go func() {
		for i := range 1000 {
			fmt.Fprintf(pw, "line %d\n", i)
		}
		pw.Close()
	}()
	if err := d.Copy(pr, false); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	d.Close()

	sc := bufio.NewScanner(strings.NewReader(readFile(t, path)))
	var prev time.Time
	n := 0
	for ; sc.Scan(); n++ {
		line := sc.Text()
		stamp, rest, ok := strings.Cut(line, " ")
		if !ok || len(stamp) != len(TimeLayout) {
			t.Fatalf("line %q: no timestamp", line)
		}
		at, err := time.Parse(time.RFC3339Nano, stamp)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if at.Location() != time.UTC || at.Before(before) || at.After(after) || at.Before(prev) {
			t.Errorf("line %q: time %v not in UTC, in [%v, %v] and after %v", line, at, before, after, prev)
		}
		prev = at
		if want := fmt.Sprintf("site/web: line %d", n); rest != want {
			t.Errorf("got %q, want %q", rest, want)
		}
	}
	if n != 1000 {
		t.Errorf("got %d lines, want 1000", n)
	}
}

func TestLongLinesCut(t *testing.T) {
	t.Parallel()
	line := func(n int) string { return strings.Repeat("x", n-1) + "y" }
	tests := []struct {
		content int
		want    []int // lengths of the contents written, cut ones first
	}{
		{content: MaxLine - 1, want: []int{MaxLine - 1}},
		{content: MaxLine, want: []int{MaxLine}},
		{content: MaxLine + 1, want: []int{MaxLine, 1}},
		{content: 2 * MaxLine, want: []int{MaxLine, MaxLine}},
		{content: 2*MaxLine + 10, want: []int{MaxLine, MaxLine, 10}},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1000, 1 << 20} {
			t.Run(fmt.Sprintf("%d in reads of %d", tt.content, chunk), func(t *testing.T) {
				t.Parallel()
				in := "before\n" + line(tt.content) + "\nafter\n"
				var reads pieces
				for off := 0; off < len(in); off += chunk {
					reads = append(reads, in[off:min(off+chunk, len(in))])
				}
				path := filepath.Join(t.TempDir(), "w.log")
				d, err := NewFile(path, Options{Prefix: "p: "})
				if err != nil {
					t.Fatal(err)
				}
				if err := d.Copy(&reads, false); err != nil {
					t.Fatal(err)
				}
				d.Close()

				want := "p: before\n"
				rest := line(tt.content)
				for i, n := range tt.want {
					want += "p: " + rest[:n]
					rest = rest[n:]
					if i < len(tt.want)-1 {
						want += CutMark
					}
					want += "\n"
				}
				want += "p: after\n"
				if got := readFile(t, path); got != want {
					t.Errorf("got %d bytes in %d lines, want %d bytes in %d lines",
						len(got), strings.Count(got, "\n"), len(want), strings.Count(want, "\n"))
				}
			})
		}
	}
}

// writeSeqLines writes n lines "<tag> <seq> <crc of payload> <payload>"
// to w in writes of random sizes (cutting lines anywhere), as fast as it
// can, then closes w.
func writeSeqLines(w io.WriteCloser, tag string, n int, seed uint64) error {
	defer w.Close()
	rng := rand.New(rand.NewPCG(seed, 0))
	buf := make([]byte, 0, 256<<10)
	letters := make([]byte, 64<<10)
	for i := range letters {
		letters[i] = 'a' + byte(rng.IntN(26))
	}
	flush := func() error {
		for off := 0; off < len(buf); {
			k := min(len(buf)-off, 1+rng.IntN(70<<10))
			if _, err := w.Write(buf[off : off+k]); err != nil {
				return err
			}
			off += k
		}
		buf = buf[:0]
		return nil
	}
	for seq := range n {
		at := rng.IntN(len(letters) - 200)
		p := letters[at : at+10+rng.IntN(190)]
		buf = append(buf, tag...)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(seq), 10)
		buf = append(buf, ' ')
		buf = strconv.AppendUint(buf, uint64(crc32.ChecksumIEEE(p)), 16)
		buf = append(buf, ' ')
		buf = append(buf, p...)
		buf = append(buf, '\n')
		if len(buf) > 200<<10 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// checkSeqLines checks that out holds, for each tag, the lines
// writeSeqLines wrote, whole and in order, each after the header head
// returns for its tag; timestamps, if stamped, must parse.
func checkSeqLines(t *testing.T, out []byte, stamped bool, want map[string]int, head func(tag string) string) {
	t.Helper()
	next := map[string]int{}
	heads := map[string]string{}
	for tag := range want {
		heads[head(tag)] = tag
	}
	bad := 0
	fail := func(format string, args ...any) {
		if bad++; bad <= 5 {
			t.Errorf(format, args...)
		}
	}
	for len(out) > 0 {
		i := bytes.IndexByte(out, '\n')
		if i < 0 {
			fail("no newline at the end")
			break
		}
		line := string(out[:i])
		out = out[i+1:]
		if stamped {
			if len(line) <= len(TimeLayout) {
				fail("line %q: no timestamp", line)
				continue
			}
			if _, err := time.Parse(TimeLayout, line[:len(TimeLayout)]); err != nil || line[len(TimeLayout)] != ' ' {
				fail("line %q: bad timestamp", line)
				continue
			}
			line = line[len(TimeLayout)+1:]
		}
		tag := ""
		for h, tg := range heads {
			if strings.HasPrefix(line, h) {
				tag = tg
				break
			}
		}
		if tag == "" {
			fail("line %q: torn or unknown header", line)
			continue
		}
		f := strings.SplitN(line[len(head(tag)):], " ", 3)
		seq, err := strconv.Atoi(f[0])
		if err != nil || len(f) != 3 {
			fail("torn line %q", line)
			continue
		}
		if seq != next[tag] {
			fail("%s: got line %d, want %d", tag, seq, next[tag])
		}
		next[tag] = seq + 1
		if strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(f[2]))), 16) != f[1] {
			fail("%s: line %d torn: checksum mismatch", tag, seq)
		}
	}
	for tag, n := range want {
		if next[tag] != n {
			t.Errorf("%s: got %d lines, want %d", tag, next[tag], n)
		}
	}
}

func TestRotationUnderLoad(t *testing.T) {
	t.Parallel()
	const (
		lines   = 500_000 // ~55 MB of lines of 10 to 200 bytes
		maxSize = 1 << 20
		keep    = 100
	)
	path := filepath.Join(t.TempDir(), "w.log")
	d, err := NewFile(path, Options{Timestamps: true, Prefix: "site/web: ", MaxSize: maxSize, Keep: keep})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	werr := make(chan error, 1)
	go func() { werr <- writeSeqLines(pw, "w", lines, 1) }()
	if err := d.Copy(pr, false); err != nil {
		t.Fatal(err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	d.Close()

	if _, err := os.Stat(path + "." + strconv.Itoa(keep)); err == nil {
		t.Fatalf("%s.%d exists: lines may have been rotated away; raise keep", path, keep)
	}
	if _, err := os.Stat(path + ".50"); err != nil {
		t.Errorf("want at least 50 rotations: %v", err)
	}
	out := readRotated(t, path, keep, maxSize)
	checkSeqLines(t, out, true, map[string]int{"w": lines}, func(tag string) string { return "site/web: " + tag + " " })
}

func TestBothStreamsOneFile(t *testing.T) {
	t.Parallel()
	const lines = 20_000
	path := filepath.Join(t.TempDir(), "w.log")
	d, err := NewFile(path, Options{Prefix: "site/web: ", StderrMark: true, MaxSize: 256 << 10, Keep: 100})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i, stderr := range []bool{false, true} {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		tag := map[bool]string{false: "out", true: "err"}[stderr]
		wg.Add(2)
		go func() { defer wg.Done(); errs <- writeSeqLines(pw, tag, lines, uint64(i)) }()
		go func() { defer wg.Done(); errs <- d.Copy(pr, stderr) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	out := readRotated(t, path, 100, 256<<10)
	checkSeqLines(t, out, false, map[string]int{"out": lines, "err": lines}, func(tag string) string {
		if tag == "err" {
			return "site/web: " + StderrMarker + tag + " "
		}
		return "site/web: " + tag + " "
	})
}

func TestRotationKeep(t *testing.T) {
	t.Parallel()
	// 100 lines of 100 bytes, 10 to a file of at most 1000 bytes.
	var in strings.Builder
	for i := range 100 {
		fmt.Fprintf(&in, "%04d%s\n", i, strings.Repeat(".", 95))
	}
	lines := func(from, to int) string { return in.String()[from*100 : to*100] }
	tests := []struct {
		keep  int
		reads pieces
		want  []string // file, file.1, ...
	}{
		{keep: 3, reads: pieces{in.String()}, want: []string{lines(90, 100), lines(80, 90), lines(70, 80), lines(60, 70)}},
		{keep: 0, reads: pieces{in.String()}, want: []string{lines(90, 100)}},
		{keep: 2, reads: pieces{lines(0, 50), lines(50, 95), lines(95, 100)}, want: []string{lines(90, 100), lines(80, 90), lines(70, 80)}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("keep %d in %d reads", tt.keep, len(tt.reads)), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "w.log")
			d, err := NewFile(path, Options{MaxSize: 1000, Keep: tt.keep})
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Copy(&tt.reads, false); err != nil {
				t.Fatal(err)
			}
			d.Close()
			for i, want := range tt.want {
				p := path
				if i > 0 {
					p += "." + strconv.Itoa(i)
				}
				if got := readFile(t, p); got != want {
					t.Errorf("%s: got lines %.4s to %.4s, want %.4s to %.4s", p, got, got[max(len(got)-100, 0):], want, want[len(want)-100:])
				}
			}
			if _, err := os.Stat(path + "." + strconv.Itoa(len(tt.want))); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s.%d: got %v, want it removed", path, len(tt.want), err)
			}
		})
	}
}

func TestRotationOddSizes(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("L", 300) + "\n"
	tests := []struct {
		name     string
		existing string
		in       string
		want     []string // file, file.1, ...
	}{
		{name: "line longer than max size alone in a fresh file", in: "a\n" + long + "b\n", want: []string{"b\n", long, "a\n"}},
		{name: "long line first into the empty file", in: long + "b\n", want: []string{"b\n", long}},
		{name: "existing file's size counts", existing: strings.Repeat("e", 90) + "\n", in: "0123456789\n", want: []string{"0123456789\n", strings.Repeat("e", 90) + "\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "w.log")
			if tt.existing != "" {
				if err := os.WriteFile(path, []byte(tt.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			d, err := NewFile(path, Options{MaxSize: 100, Keep: 5})
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Copy(&pieces{tt.in}, false); err != nil {
				t.Fatal(err)
			}
			d.Close()
			for i, want := range tt.want {
				p := path
				if i > 0 {
					p += "." + strconv.Itoa(i)
				}
				if got := readFile(t, p); got != want {
					t.Errorf("%s: got %q, want %q", p, got, want)
				}
			}
		})
	}
}

func TestRotationFailureKeepsLines(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "w.log")
	// A directory where file.1 goes makes every rotation fail.
	if err := os.MkdirAll(path+".1/x", 0o755); err != nil {
		t.Fatal(err)
	}
	var reports atomic.Int32
	d, err := NewFile(path, Options{MaxSize: 100, Keep: 1, OnError: func(error) { reports.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	var in string
	for i := range 50 {
		in += fmt.Sprintf("line %02d\n", i)
	}
	err = d.Copy(&pieces{in[:200], in[200:]}, false)
	d.Close()
	if err == nil {
		t.Error("got no error, want the rotation's")
	}
	if got := readFile(t, path); got != in {
		t.Errorf("got %q, want every line kept in the file", got)
	}
	if got := reports.Load(); got != 1 {
		t.Errorf("got %d reports, want 1", got)
	}
	if got := d.Dropped(); got != 0 {
		t.Errorf("got %d dropped, want 0", got)
	}
}

// checkWriter fails the test if Write is entered concurrently or given
// anything but whole lines.
type checkWriter struct {
	t        *testing.T
	inflight atomic.Int32
	buf      bytes.Buffer
}

func (w *checkWriter) Write(p []byte) (int, error) {
	if w.inflight.Add(1) != 1 {
		w.t.Error("concurrent Write")
	}
	defer w.inflight.Add(-1)
	if len(p) == 0 || p[len(p)-1] != '\n' {
		w.t.Errorf("Write of %d bytes not ending a line", len(p))
	}
	return w.buf.Write(p)
}

func TestSharedNeverInterleaves(t *testing.T) {
	t.Parallel()
	const (
		workers = 6
		lines   = 5_000
	)
	cw := &checkWriter{t: t}
	sh := NewShared(cw)
	want := map[string]int{}
	head := func(tag string) string {
		w, stream, _ := strings.Cut(tag, "-")
		h := w + ": "
		if stream == "err" {
			h += StderrMarker
		}
		return h + tag + " "
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4*workers+1)
	for i := range workers {
		d, err := sh.Dest(Options{Timestamps: true, Prefix: fmt.Sprintf("w%d: ", i), StderrMark: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, stderr := range []bool{false, true} {
			tag := fmt.Sprintf("w%d-%s", i, map[bool]string{false: "out", true: "err"}[stderr])
			want[tag] = lines
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(2)
			go func() { defer wg.Done(); errs <- writeSeqLines(pw, tag, lines, uint64(len(tag)+i)) }()
			go func() { defer wg.Done(); errs <- d.Copy(pr, stderr) }()
		}
	}
	// otpsv's own log shares the writer too.
	want["otpsv"] = 1000
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 1000 {
			p := fmt.Sprintf("otpsv-%d", i)
			line := fmt.Sprintf("%s otpsv %d %x %s\n", time.Now().UTC().Format(TimeLayout), i, crc32.ChecksumIEEE([]byte(p)), p)
			if _, err := sh.Write([]byte(line)); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	checkSeqLines(t, cw.buf.Bytes(), true, want, func(tag string) string {
		if tag == "otpsv" {
			return "otpsv "
		}
		return head(tag)
	})
}

var errBoom = errors.New("boom")

// failWriter fails the calls whose numbers (from 0) are in fail, or all
// calls if fail is nil; a failing call writes half of p first if half is
// set.
type failWriter struct {
	mu    sync.Mutex
	calls int
	fail  map[int]bool
	half  bool
	buf   bytes.Buffer
}

func (w *failWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.calls
	w.calls++
	if w.fail == nil || w.fail[n] {
		if w.half {
			return w.buf.Write(p[:len(p)/2])
		}
		return 0, errBoom
	}
	return w.buf.Write(p)
}

func TestWriteErrorsDoNotBlockTheWorker(t *testing.T) {
	t.Parallel()
	const lines = 100_000 // ~10 MB, far more than a pipe holds
	tests := []struct {
		name    string
		dest    func(t *testing.T, o Options) (*Dest, func())
		wantErr error
	}{
		{
			name: "shared writer failing",
			dest: func(t *testing.T, o Options) (*Dest, func()) {
				d, err := NewShared(&failWriter{}).Dest(o)
				if err != nil {
					t.Fatal(err)
				}
				return d, func() {}
			},
			wantErr: errBoom,
		},
		{
			name: "file closed before",
			dest: func(t *testing.T, o Options) (*Dest, func()) {
				d, err := NewFile(filepath.Join(t.TempDir(), "w.log"), o)
				if err != nil {
					t.Fatal(err)
				}
				d.Close()
				return d, func() {}
			},
			wantErr: ErrClosed,
		},
		{
			name: "file closed while copying",
			dest: func(t *testing.T, o Options) (*Dest, func()) {
				d, err := NewFile(filepath.Join(t.TempDir(), "w.log"), o)
				if err != nil {
					t.Fatal(err)
				}
				return d, func() { d.Close() }
			},
			wantErr: ErrClosed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var reports atomic.Int32
			d, midway := tt.dest(t, Options{Prefix: "w: ", OnError: func(error) { reports.Add(1) }})
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			produced := make(chan error, 1)
			go func() {
				// The worker's lines pass through here so that the
				// destination can be closed once 5 MB are in the pipe.
				pr1, pw1 := io.Pipe()
				defer pr1.Close()
				go writeSeqLines(pw1, "w", lines, 7)
				_, err := io.CopyN(pw, pr1, 5<<20)
				if err == nil {
					midway()
					_, err = io.Copy(pw, pr1)
				}
				pw.Close()
				produced <- err
			}()
			copied := make(chan error, 1)
			go func() { copied <- d.Copy(pr, false) }()

			guard := time.NewTimer(time.Minute) // hang guard, not a success condition
			defer guard.Stop()
			select {
			case err := <-produced:
				if err != nil {
					t.Fatalf("worker: %v", err)
				}
			case <-guard.C:
				t.Fatal("worker blocked: Copy stopped reading")
			}
			select {
			case err := <-copied:
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("Copy: got %v, want %v", err, tt.wantErr)
				}
			case <-guard.C:
				t.Fatal("Copy did not return")
			}
			if got := reports.Load(); got != 1 {
				t.Errorf("got %d reports, want 1", got)
			}
			if got := d.Dropped(); got == 0 || got > lines {
				t.Errorf("got %d dropped, want 1 to %d", got, lines)
			}
		})
	}
}

func TestErrorReportedAgainAfterRecovery(t *testing.T) {
	t.Parallel()
	fw := &failWriter{fail: map[int]bool{0: true, 1: true, 3: true}}
	var reports []error
	d, err := NewShared(fw).Dest(Options{OnError: func(err error) { reports = append(reports, err) }})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Copy(&pieces{"a\n", "b\nc\n", "d\n", "e\n", "f\n"}, false)
	if !errors.Is(err, errBoom) {
		t.Errorf("got %v, want %v", err, errBoom)
	}
	if len(reports) != 2 {
		t.Errorf("got %d reports, want 2 (first failure, failure after recovery)", len(reports))
	}
	if got := d.Dropped(); got != 4 {
		t.Errorf("got %d dropped, want 4", got)
	}
	if got := fw.buf.String(); got != "d\nf\n" {
		t.Errorf("got %q, want %q", got, "d\nf\n")
	}
}

func TestPartialWriteEndsTheLine(t *testing.T) {
	t.Parallel()
	fw := &failWriter{fail: map[int]bool{0: true}, half: true}
	d, err := NewShared(fw).Dest(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Copy(&pieces{"abcdef\n", "next\n"}, false); !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("got %v, want %v", err, io.ErrShortWrite)
	}
	if got, want := fw.buf.String(), "abc\nnext\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestNoAllocationPerLine(t *testing.T) {
	d, err := NewShared(io.Discard).Dest(Options{Timestamps: true, Prefix: "w: "})
	if err != nil {
		t.Fatal(err)
	}
	block := lineBlock(10 << 20) // 100k lines
	allocs := testing.AllocsPerRun(3, func() {
		if err := d.Copy(bytes.NewReader(block), false); err != nil {
			t.Fatal(err)
		}
	})
	// A few per Copy and per read (the pool may be emptied by the GC or,
	// under -race, drop what it is given); none per line.
	if lines := float64(len(block) / 100); allocs > lines/100 {
		t.Errorf("got %.0f allocations for %.0f lines", allocs, lines)
	}
}

func TestNewFileMode(t *testing.T) {
	t.Parallel()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status to read the umask from")
	}
	_, rest, ok := strings.Cut(string(status), "Umask:\t")
	umask, err := strconv.ParseUint(strings.SplitN(rest, "\n", 2)[0], 8, 32)
	if !ok || err != nil {
		t.Skip("no umask in /proc/self/status")
	}
	path := filepath.Join(t.TempDir(), "w.log")
	d, err := NewFile(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o644&^umask); got != want {
		t.Errorf("got mode %v, want %v", got, want)
	}
}

func TestOptionsRefused(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{{Prefix: "a\nb"}, {MaxSize: -1}, {Keep: -1}} {
		if _, err := NewShared(io.Discard).Dest(o); err == nil {
			t.Errorf("%+v: got no error", o)
		}
		if _, err := NewFile(filepath.Join(t.TempDir(), "w.log"), o); err == nil {
			t.Errorf("%+v: got no error", o)
		}
	}
}

// TestFileModeOption: Options.Mode is the mode of the files a file
// destination creates, the first and each rotation's (less the umask,
// which leaves 0600 alone).
func TestFileModeOption(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "w.log")
	d, err := NewFile(path, Options{Mode: 0o600, MaxSize: 64, Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Copy(strings.NewReader(strings.Repeat("0123456789abcdef\n", 10)), false); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + ".1"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", p, st.Mode().Perm())
		}
	}
}
