package simplevisor

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"sort"
)

// readJSON reads simplevisor's JSON format into the same blocks as the
// Apache format: an object is a block, a list of objects is the same key
// repeated (as Config::General gives repeated blocks), so that a single
// child may be an object or a list. JSON has no includes and no
// variables.
func readJSON(file string, e *errs) *block {
	data, err := os.ReadFile(file)
	if err != nil {
		e.add(pos{file: file}, "", pathless(err))
		return nil
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	j := &jsonReader{errs: e, file: file, data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	j.dec.UseNumber()
	for i, c := range data {
		if c == '\n' {
			j.nl = append(j.nl, i)
		}
	}
	tok, at, ok := j.next()
	if !ok {
		return nil
	}
	if d, isDelim := tok.(json.Delim); !isDelim || d != '{' {
		e.addf(at, "", ErrSyntax, "want a JSON object at the top, got %s", jsonKind(tok))
		return nil
	}
	root := &block{at: at}
	if !j.object(root) {
		return nil
	}
	if _, at, err := j.token(); err != io.EOF {
		e.addf(at, "", ErrSyntax, "text after the top-level object")
		return nil
	}
	return root
}

type jsonReader struct {
	*errs
	file string
	data []byte
	dec  *json.Decoder
	nl   []int // offsets of the newlines
}

// lineAt turns a byte offset into a 1-based line.
func (j *jsonReader) lineAt(off int64) int {
	return 1 + sort.SearchInts(j.nl, int(off))
}

// token reads the next token and where it starts: the decoder's offset
// is the end of the previous token, before blanks, commas and colons.
func (j *jsonReader) token() (json.Token, pos, error) {
	off := j.dec.InputOffset()
	for off < int64(len(j.data)) {
		switch j.data[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
			continue
		}
		break
	}
	tok, err := j.dec.Token()
	return tok, pos{file: j.file, line: j.lineAt(off)}, err
}

// next is token that records a syntax error.
func (j *jsonReader) next() (json.Token, pos, bool) {
	tok, at, err := j.token()
	if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			at.line = j.lineAt(se.Offset)
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		j.addf(at, "", ErrSyntax, "%v", err)
		return nil, at, false
	}
	return tok, at, true
}

// object reads the members of an object whose { was read.
func (j *jsonReader) object(b *block) bool {
	for {
		tok, at, ok := j.next()
		if !ok {
			return false
		}
		if d, isDelim := tok.(json.Delim); isDelim && d == '}' {
			return true
		}
		key, _ := tok.(string)
		if !j.value(b, key, at, false) {
			return false
		}
	}
}

// value reads the value of key into b. inList is set for the elements of
// a list.
func (j *jsonReader) value(b *block, key string, keyAt pos, inList bool) bool {
	tok, at, ok := j.next()
	if !ok {
		return false
	}
	if !inList {
		at = keyAt
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			child := &block{at: at}
			b.items = append(b.items, &item{key: key, at: at, block: child, list: inList})
			return j.object(child)
		case '[':
			if inList {
				// A list in a list: keep its place, so that it is refused.
				b.items = append(b.items, &item{key: key, at: at, list: true})
				return j.skipList()
			}
			for {
				if j.dec.More() {
					if !j.value(b, key, at, true) {
						return false
					}
					continue
				}
				_, _, ok := j.next() // ]
				return ok
			}
		}
	case string:
		v := t
		b.items = append(b.items, &item{key: key, at: at, value: &v, list: inList})
	case json.Number:
		v := t.String()
		b.items = append(b.items, &item{key: key, at: at, value: &v, kind: kNumber, list: inList})
	case bool:
		v := "false"
		if t {
			v = "true"
		}
		b.items = append(b.items, &item{key: key, at: at, value: &v, kind: kBool, list: inList})
	case nil:
		b.items = append(b.items, &item{key: key, at: at, kind: kNull, list: inList})
	}
	return true
}

// skipList reads up to the end of a list whose [ was read.
func (j *jsonReader) skipList() bool {
	depth := 1
	for depth > 0 {
		tok, _, ok := j.next()
		if !ok {
			return false
		}
		if d, isDelim := tok.(json.Delim); isDelim {
			switch d {
			case '[', '{':
				depth++
			case ']', '}':
				depth--
			}
		}
	}
	return true
}

func jsonKind(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			return "a list"
		}
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "something else"
}
