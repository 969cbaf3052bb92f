package output

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// MaxLine is the longest line written whole; longer lines are cut.
	MaxLine = 64 << 10
	// CutMark ends a line that was cut at MaxLine bytes; the next line
	// written for the same stream holds what follows.
	CutMark = " [cut]"
	// StderrMarker follows the prefix on stderr lines when
	// Options.StderrMark is set.
	StderrMarker = "stderr: "
	// TimeLayout is the format of the timestamp that starts each line when
	// Options.Timestamps is set.
	TimeLayout = "2006-01-02T15:04:05.000000Z"

	// readSize is what every read asks for at least: a pipe returns at most
	// its capacity (64 KiB by default) per read, so asking for more only
	// helps readers that are not pipes. The read buffer adds MaxLine on top
	// for a partial line held from the previous read.
	readSize = 64 << 10
	// outSize is the batch buffer: one read's lines with their headers fit,
	// so a read costs one write.
	outSize = 256 << 10
)

// ErrClosed is reported for lines that arrive after Close.
var ErrClosed = errors.New("output closed")

// Options says how lines are written. The zero value copies lines as they
// are, without rotation.
type Options struct {
	// Timestamps starts each line with the time its read returned, in
	// TimeLayout, and a space.
	Timestamps bool
	// Prefix is written before each line's content, after the timestamp.
	// It must not contain a newline.
	Prefix string
	// StderrMark writes StderrMarker after the prefix on lines Copy reads
	// with stderr set.
	StderrMark bool
	// MaxSize rotates a file before a write would make it exceed MaxSize
	// bytes; 0 never rotates. Ignored by shared destinations.
	MaxSize int64
	// Keep is how many rotated files are kept: file.1 (newest) to
	// file.Keep. With 0, rotation removes the full file.
	Keep int
	// MaxWrite, when above 0, bounds each Write to the destination: it
	// carries only whole lines, at most MaxWrite bytes of them. Several
	// processes writing to one pipe (loggers sharing otpsv's stdout) need
	// it, since the kernel keeps a pipe write whole only up to PIPE_BUF
	// (4096 bytes on Linux). A single line longer than MaxWrite is written
	// alone, in one Write the kernel may split and interleave with another
	// process's lines: nothing can prevent that. 0: no bound.
	MaxWrite int
	// Mode is the permission of the files a file destination creates
	// (the first, and each rotation's), less the process's umask; 0
	// means 0644.
	Mode os.FileMode
	// Clock returns the time lines are stamped with; nil means time.Now.
	Clock func() time.Time
	// OnError, if set, is called with the first write error, and again
	// with the next one after a write succeeded. It runs on the goroutine
	// of the Copy that met the error, which reads nothing until it returns.
	OnError func(error)
}

func (o *Options) check() error {
	if strings.ContainsRune(o.Prefix, '\n') {
		return fmt.Errorf("prefix %q: contains a newline", o.Prefix)
	}
	if o.MaxSize < 0 {
		return fmt.Errorf("max size %d: negative", o.MaxSize)
	}
	if o.Keep < 0 {
		return fmt.Errorf("keep %d: negative", o.Keep)
	}
	if o.MaxWrite < 0 {
		return fmt.Errorf("max write %d: negative", o.MaxWrite)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return nil
}

// Shared is a writer several Dests write to, such as otpsv's own stdout.
// Its mutex makes each batch one Write call that no other batch enters.
type Shared struct {
	mu      sync.Mutex
	w       io.Writer
	midLine bool // a failed Write left a partial line behind
}

// NewShared returns a Shared writing to w.
func NewShared(w io.Writer) *Shared {
	return &Shared{w: w}
}

// Write writes p, which should hold whole lines, in one call to the
// underlying writer, between the lines of the Dests sharing s. It lets
// otpsv's own log share the destination without tearing worker lines.
func (s *Shared) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return writeLines(s.w, p, &s.midLine, 0)
}

// Dest returns a destination that writes to s with o. o.MaxSize and o.Keep
// are ignored.
func (s *Shared) Dest(o Options) (*Dest, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	return &Dest{opts: o, shared: s}, nil
}

// Dest is one destination for a worker's output: a file or a Shared.
// Copy may run for several streams at once; their lines stay whole.
type Dest struct {
	opts   Options
	shared *Shared // nil for a file

	mu      sync.Mutex
	path    string
	f       *os.File
	size    int64
	midLine bool
	closed  bool
	failing bool // the last write failed and OnError has heard of it
	dropped int64
}

// NewFile returns a destination appending to the file at path, created
// with Options.Mode (0644) less the process's umask if missing.
func NewFile(path string, o Options) (*Dest, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	d := &Dest{opts: o, path: path}
	if err := d.open(); err != nil {
		return nil, err
	}
	return d, nil
}

// Close closes the destination's file. Lines copied afterwards are
// dropped and reported as ErrClosed; Copy keeps reading until EOF.
func (d *Dest) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	if d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f = nil
	return err
}

// Dropped returns the number of lines that could not be written.
func (d *Dest) Dropped() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dropped
}

// Copy copies lines from r to d until r returns EOF or another error, then
// writes a final unterminated line with a newline added. stderr says
// whether r is the worker's stderr (for Options.StderrMark).
//
// Write errors do not stop Copy: the lines are dropped, and Copy returns
// the first write error it met, joined with r's error other than EOF.
func (d *Dest) Copy(r io.Reader, stderr bool) error {
	c := copier{d: d, hdr: d.header(stderr)}
	buf := make([]byte, MaxLine+readSize)
	held := 0
	var rerr error
	for {
		n, err := r.Read(buf[held:])
		if n > 0 {
			if d.opts.Timestamps {
				putStamp(c.hdr, d.opts.Clock())
			}
			rest := c.lines(buf[:held+n])
			c.flush()
			held = copy(buf, rest)
		}
		if err != nil {
			if err != io.EOF {
				rerr = fmt.Errorf("read: %w", err)
			}
			break
		}
	}
	if held > 0 {
		c.line(buf[:held], "\n")
		c.flush()
	}
	return errors.Join(rerr, c.werr)
}

// header returns what starts each line, with room for the stamp.
func (d *Dest) header(stderr bool) []byte {
	var h []byte
	if d.opts.Timestamps {
		h = append(h, TimeLayout...)
		h = append(h, ' ')
	}
	h = append(h, d.opts.Prefix...)
	if stderr && d.opts.StderrMark {
		h = append(h, StderrMarker...)
	}
	return h
}

// outPool holds batch buffers, so that an idle stream, blocked in Read,
// keeps only its read buffer.
var outPool = sync.Pool{New: func() any {
	b := make([]byte, 0, outSize)
	return &b
}}

// copier turns one stream's reads into batches of whole lines.
type copier struct {
	d    *Dest
	hdr  []byte
	out  *[]byte // from outPool while a read is being processed
	werr error   // the first write error
}

// lines writes the whole lines of data to the batch, cutting those over
// MaxLine, and returns the partial line at its end.
func (c *copier) lines(data []byte) []byte {
	if c.out == nil {
		c.out = outPool.Get().(*[]byte)
	}
	out := *c.out
	hdr := c.hdr
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 || i > MaxLine {
			if i < 0 && len(data) <= MaxLine {
				break
			}
			*c.out = out
			c.line(data[:MaxLine], CutMark+"\n")
			out = *c.out
			data = data[MaxLine:]
			continue
		}
		// The hot path: one line, header then content with its newline.
		if len(out)+len(hdr)+i+1 > cap(out) {
			*c.out = out
			c.write()
			out = *c.out
		}
		out = append(out, hdr...)
		out = append(out, data[:i+1]...)
		data = data[i+1:]
	}
	*c.out = out
	return data
}

// line adds content with the header and end (the newline, or CutMark and
// the newline) to the batch.
func (c *copier) line(content []byte, end string) {
	if c.out == nil {
		c.out = outPool.Get().(*[]byte)
	}
	if len(*c.out)+len(c.hdr)+len(content)+len(end) > cap(*c.out) {
		c.write()
	}
	out := *c.out
	if n := len(out) + len(c.hdr) + len(content) + len(end); n > cap(out) {
		out = make([]byte, 0, n) // only a prefix near outSize gets here
	}
	out = append(out, c.hdr...)
	out = append(out, content...)
	out = append(out, end...)
	*c.out = out
}

// write writes the batch and empties it.
func (c *copier) write() {
	if len(*c.out) == 0 {
		return
	}
	if err := c.d.write(*c.out); err != nil && c.werr == nil {
		c.werr = err
	}
	*c.out = (*c.out)[:0]
}

// flush writes the batch and returns its buffer to the pool.
func (c *copier) flush() {
	if c.out == nil {
		return
	}
	c.write()
	if cap(*c.out) == outSize {
		outPool.Put(c.out)
	}
	c.out = nil
}

// write writes whole lines b to the destination, dropping and counting
// what cannot be written.
func (d *Dest) write(b []byte) error {
	d.mu.Lock()
	var n int
	var err error
	switch {
	case d.closed:
		err = ErrClosed
	case d.shared != nil:
		d.shared.mu.Lock()
		n, err = writeLines(d.shared.w, b, &d.shared.midLine, d.opts.MaxWrite)
		d.shared.mu.Unlock()
	default:
		n, err = d.writeFile(b)
	}
	report := false
	if err != nil {
		d.dropped += int64(bytes.Count(b[n:], []byte{'\n'}))
		report = !d.failing
		d.failing = true
	} else {
		d.failing = false
	}
	d.mu.Unlock()
	if report && d.opts.OnError != nil {
		d.opts.OnError(err)
	}
	return err
}

// writeLines writes b with one Write, or, when maxWrite is above 0 and b
// longer, with Writes of at most maxWrite bytes of whole lines (a longer
// line alone). If an earlier Write stopped inside a line, it ends that
// line first so that b's first line is not glued to it.
func writeLines(w io.Writer, b []byte, midLine *bool, maxWrite int) (int, error) {
	if *midLine {
		if _, err := w.Write([]byte{'\n'}); err != nil {
			return 0, err
		}
		*midLine = false
	}
	written := 0
	for len(b) > 0 {
		n := len(b)
		if maxWrite > 0 && n > maxWrite {
			if n = bytes.LastIndexByte(b[:maxWrite], '\n') + 1; n == 0 {
				if n = bytes.IndexByte(b, '\n') + 1; n == 0 {
					n = len(b)
				}
			}
		}
		m, err := w.Write(b[:n])
		written += m
		if err == nil && m < n {
			err = io.ErrShortWrite
		}
		if err != nil {
			if m > 0 && b[m-1] != '\n' {
				*midLine = true
			}
			return written, err
		}
		b = b[n:]
	}
	return written, nil
}

// writeFile appends b to the file, rotating between lines. It returns how
// much of b was written. Called with d.mu held.
func (d *Dest) writeFile(b []byte) (int, error) {
	if d.f == nil {
		if err := d.open(); err != nil {
			return 0, err
		}
	}
	var rotErr error
	limit := d.opts.MaxSize > 0
	written := 0
	for len(b) > 0 {
		n := len(b)
		if max := d.opts.MaxSize; limit && d.size+int64(n) > max {
			// Write the whole lines that fit, then rotate.
			n = 0
			if room := max - d.size; room > 0 {
				n = bytes.LastIndexByte(b[:min(room, int64(len(b)))], '\n') + 1
			}
			if n == 0 {
				if d.size > 0 {
					rotErr = d.rotate()
					if d.f == nil {
						return written, rotErr
					}
					// If rotating failed, or someone else already wrote
					// to the new file, append this batch regardless
					// rather than lose it or rotate in a loop; the next
					// batch tries again.
					limit = rotErr == nil && d.size == 0
					continue
				}
				// A line longer than MaxSize, alone in a fresh file.
				if n = bytes.IndexByte(b, '\n') + 1; n == 0 {
					n = len(b)
				}
			}
		}
		m, err := writeLines(d.f, b[:n], &d.midLine, d.opts.MaxWrite)
		d.size += int64(m)
		written += m
		b = b[m:]
		if err != nil {
			return written, err
		}
	}
	return written, rotErr
}

func (d *Dest) open() error {
	mode := d.opts.Mode
	if mode == 0 {
		mode = 0o644
	}
	f, err := os.OpenFile(d.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, mode)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	d.f, d.size, d.midLine = f, fi.Size(), false
	return nil
}

// rotate renames file.(Keep-1) to file.Keep, ..., file to file.1 and opens
// a new file. Renaming over file.Keep removes the oldest. Called with d.mu
// held.
func (d *Dest) rotate() error {
	var errs []error
	if err := d.f.Close(); err != nil {
		errs = append(errs, err)
	}
	d.f = nil
	if d.opts.Keep == 0 {
		if err := os.Remove(d.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	} else {
		for i := d.opts.Keep - 1; i >= 0; i-- {
			from := d.path
			if i > 0 {
				from += "." + strconv.Itoa(i)
			}
			err := os.Rename(from, d.path+"."+strconv.Itoa(i+1))
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if err := d.open(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("rotate %s: %w", d.path, errors.Join(errs...))
	}
	return nil
}

// putStamp writes t in TimeLayout at the start of h, without allocating.
func putStamp(h []byte, t time.Time) {
	t = t.UTC()
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	year = max(0, min(year, 9999))
	put := func(at, width, v int) {
		for i := at + width - 1; i >= at; i-- {
			h[i] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, 4, year)
	put(5, 2, int(month))
	put(8, 2, day)
	put(11, 2, hour)
	put(14, 2, minute)
	put(17, 2, sec)
	put(20, 6, t.Nanosecond()/1000)
}
