package health

import (
	"bytes"
	"errors"
	"io"
	"net"
)

const (
	// maxStatusLine bounds the wait for the status line.
	maxStatusLine = 512
	// maxHeader bounds a response's header (and a chunked body's
	// trailer). It is also the size of the read buffer, which holds one
	// line at a time.
	maxHeader = 16 << 10
	// maxKeptBody is the longest body read to keep the connection: a
	// longer one is not worth reading to save a handshake, so the
	// connection is ended instead.
	maxKeptBody = 64 << 10
	// maxChunkLine bounds a chunk's size line, extensions included.
	maxChunkLine = 1 << 10
	// maxInterim bounds the 1xx interim responses skipped before the
	// final one (as net/http does); a further one is taken as final.
	maxInterim = 5
)

var (
	errTooLong   = errors.New("response header line too long")
	errMalformed = errors.New("malformed response framing")
	errTooLarge  = errors.New("response body too large to keep the connection")
)

// respReader reads an HTTP/1.1 response from c, through buf, as far as
// the end of the response, and no further: what is left in buf
// afterwards arrived after the response.
type respReader struct {
	c    net.Conn
	buf  []byte
	r, w int   // buf[r:w] is read from c and not consumed yet
	got  int64 // bytes read from c in all
}

// fill reads more from c, first moving what is unconsumed to the front.
func (rr *respReader) fill() error {
	if rr.r > 0 {
		rr.w = copy(rr.buf, rr.buf[rr.r:rr.w])
		rr.r = 0
	}
	if rr.w == len(rr.buf) {
		return errTooLong
	}
	n, err := rr.c.Read(rr.buf[rr.w:])
	rr.w += n
	rr.got += int64(n)
	switch {
	case n > 0:
		return nil // an error comes again with the next read
	case err == nil:
		return io.ErrNoProgress
	}
	return err
}

// line consumes the next line, at most limit bytes with its "\n", and
// returns it without "\n" or "\r\n", and the bytes consumed.
func (rr *respReader) line(limit int) ([]byte, int, error) {
	for {
		if i := bytes.IndexByte(rr.buf[rr.r:rr.w], '\n'); i >= 0 {
			if i+1 > limit {
				return nil, 0, errTooLong
			}
			l := rr.buf[rr.r : rr.r+i]
			rr.r += i + 1
			if len(l) > 0 && l[len(l)-1] == '\r' {
				l = l[:len(l)-1]
			}
			return l, i + 1, nil
		}
		if rr.w-rr.r >= limit {
			return nil, 0, errTooLong
		}
		if err := rr.fill(); err != nil {
			return nil, 0, err
		}
	}
}

// discard consumes n bytes.
func (rr *respReader) discard(n int64) error {
	for n > 0 {
		if rr.r == rr.w {
			rr.r, rr.w = 0, 0
			if err := rr.fill(); err != nil {
				return err
			}
		}
		k := min(n, int64(rr.w-rr.r))
		rr.r += int(k)
		n -= k
	}
	return nil
}

// framing is what a response's header says of where the response ends
// and of its connection.
type framing struct {
	length  int64 // Content-Length; -1 without one
	te      bool  // a Transfer-Encoding...
	chunked bool  // ...whose last coding is chunked
	close   bool  // Connection: close
	bad     bool  // a field that leaves the end of the response in doubt
}

// header consumes the header fields up to the empty line that ends them.
func (rr *respReader) header() (framing, error) {
	f := framing{length: -1}
	for budget := maxHeader; ; {
		l, n, err := rr.line(budget)
		if err != nil {
			return f, err
		}
		budget -= n
		if len(l) == 0 {
			return f, nil
		}
		colon := bytes.IndexByte(l, ':')
		if colon <= 0 || l[0] == ' ' || l[0] == '\t' { // a folded line, or not a field
			f.bad = true
			continue
		}
		name, value := l[:colon], bytes.Trim(l[colon+1:], " \t")
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			v, ok := parseDecimal(value)
			if !ok || (f.length >= 0 && v != f.length) {
				f.bad = true
			}
			f.length = v
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			f.te = true
			last := value[bytes.LastIndexByte(value, ',')+1:]
			f.chunked = bytes.EqualFold(bytes.Trim(last, " \t"), []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				if bytes.EqualFold(bytes.Trim(tok, " \t"), []byte("close")) {
					f.close = true
				}
			}
		}
	}
}

// finish consumes the rest of a final response of status code, its
// header and body, and says whether the connection can carry another
// request: it may not when the server says so, when the end of the body
// is the connection's end or is in doubt, when the body is too long to
// be worth reading, or when more than the response arrived.
func (rr *respReader) finish(code int) bool {
	f, err := rr.header()
	if err != nil || f.bad || f.close {
		return false
	}
	switch {
	case code < 200: // 101 Switching Protocols, or one 1xx too many
		return false
	case code == 204 || code == 304: // no body, whatever the header says
	case f.te:
		// Both Transfer-Encoding and Content-Length: a response smuggled
		// or mangled on its way (RFC 9112 6.3).
		if !f.chunked || f.length >= 0 || rr.chunked() != nil {
			return false
		}
	case f.length >= 0:
		if f.length > maxKeptBody || rr.discard(f.length) != nil {
			return false
		}
	default: // the body ends with the connection
		return false
	}
	return rr.r == rr.w
}

// chunked consumes a chunked body and its trailer.
func (rr *respReader) chunked() error {
	var total int64
	for {
		l, _, err := rr.line(maxChunkLine)
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(l, ';'); i >= 0 {
			l = l[:i]
		}
		size, ok := parseHex(bytes.Trim(l, " \t"))
		if !ok {
			return errMalformed
		}
		if size == 0 {
			break
		}
		if total += size; total > maxKeptBody {
			return errTooLarge
		}
		if err := rr.discard(size); err != nil {
			return err
		}
		if l, _, err := rr.line(2); err != nil || len(l) != 0 {
			return errMalformed
		}
	}
	_, err := rr.header() // the trailer
	return err
}

// parseDecimal reads a Content-Length: digits only, no more than 18.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return -1, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// parseHex reads a chunk size: hex digits only, no more than 15.
func parseHex(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | int64(c)
	}
	return v, true
}
