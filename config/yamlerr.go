package config

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// checkText finds the first byte sequence YAML refuses in data: invalid
// UTF-8, or a character outside YAML's printable set. yaml.v3 reports
// these without a line, so they are found here first, with one.
func checkText(data []byte) (line int, err error) {
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		return 1, fmt.Errorf("%w: the file is UTF-16; otpsv reads UTF-8", ErrSyntax)
	}
	line, col := 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return line, fmt.Errorf("%w: invalid UTF-8 (byte 0x%02x, column %d)", ErrSyntax, data[i], col)
		case r == 0:
			return line, fmt.Errorf("%w: NUL byte (column %d)", ErrSyntax, col)
		case !yamlPrintable(r):
			return line, fmt.Errorf("%w: control character %U (column %d) is not allowed in YAML; write it as an escape in a double-quoted string", ErrSyntax, r, col)
		case r == '\n':
			line, col = line+1, 0
		}
		i += size
		col++
	}
	return 0, nil
}

// yamlPrintable is YAML's c-printable set, as yaml.v3 checks it.
func yamlPrintable(r rune) bool {
	switch {
	case r == '\t', r == '\n', r == '\r', r == 0x85:
		return true
	case r >= 0x20 && r <= 0x7e:
		return true
	case r >= 0xa0 && r <= 0xd7ff, r >= 0xe000 && r <= 0xfffd, r >= 0x10000 && r <= 0x10ffff:
		return true
	}
	return false
}

var (
	yamlLineRE   = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	yamlAnchorRE = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

// yamlParserProblems are the messages of yaml.v3's parser, as opposed to
// its scanner: it gives their line counted from 0 (and none at all for
// the first line), where it gives scanner lines counted from 1.
var yamlParserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected <document start>": true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"found duplicate %YAML directive":        true,
	"found duplicate %TAG directive":         true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// yamlErrLine turns a yaml.v3 decoding error of data into its message and
// the 1-based line it concerns, within data's lines.
func yamlErrLine(data []byte, err error) (string, int) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	switch {
	case yamlAnchorRE.MatchString(msg):
		// Only the composer finds an unknown alias, and it has no mark.
		line = aliasLine(data, yamlAnchorRE.FindStringSubmatch(msg)[1])
	case yamlParserProblems[msg]:
		line++
	case line == 0:
		// A scanner mark on the first line is left out.
		line = 1
	}
	// Errors at the end of the stream point after the last line.
	if n := lineCount(data); line > n {
		line = n
	}
	return msg, line
}

// lineCount is the number of lines of data as an editor shows them (at
// least 1).
func lineCount(data []byte) int {
	n := bytes.Count(data, []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n++
	}
	return max(n, 1)
}

// aliasLine returns the line of the first alias *name in data, skipping
// comments and quoted scalars that open and close on one line; 0 when it
// is not found. It looks at the text only, so an alias written in a block
// scalar or a quoted scalar over several lines can mislead it; yaml.v3
// gives no better position for the error.
func aliasLine(data []byte, name string) int {
	tok := "*" + name
	before := " \t[{,"
	after := " \t\r,]}"
	for i, line := range strings.Split(string(data), "\n") {
		var quote byte
		for j := 0; j < len(line); j++ {
			c := line[j]
			sep := j == 0 || strings.IndexByte(before, line[j-1]) >= 0
			switch {
			case quote == '"' && c == '\\':
				j++
			case quote != 0:
				if c == quote {
					quote = 0
				}
			case c == '#' && sep:
				j = len(line)
			case (c == '"' || c == '\'') && sep:
				quote = c
			case c == '*' && sep && strings.HasPrefix(line[j:], tok) &&
				(j+len(tok) == len(line) || strings.IndexByte(after, line[j+len(tok)]) >= 0):
				return i + 1
			}
		}
	}
	return 0
}
