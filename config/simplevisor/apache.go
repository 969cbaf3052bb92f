package simplevisor

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// This file reads the Apache-style format the way Config::General 2.65
// does with the options simplevisor passes (IncludeRelative, IncludeGlob,
// IncludeAgain, InterPolateVars; CComments, AllowMultiOptions and
// StrictVars by their defaults). It works in Config::General's two
// stages: read turns the files into logical lines, following includes
// textually; parse builds the blocks and interpolates variables, whose
// scope is the block and the blocks inside it.

// line is one logical line: a physical line, several joined by trailing
// backslashes, or a here-document.
type line struct {
	text string
	at   pos
	// here is set for a here-document: key and value are already split.
	here       bool
	key, value string
}

// reader turns files into logical lines.
type reader struct {
	*errs
	lines []line
	// mainDir is the directory of the main file: Config::General's
	// ConfigPath, where an include not found beside its includer is
	// looked for next.
	mainDir string
	// chain is the include chain being read (absolute paths), to refuse
	// cycles that Config::General would follow forever.
	chain []string
	// seen counts the files read, to stop a glob that includes itself
	// through others beyond reason.
	seen int
}

// maxFiles bounds how many files one configuration may read (the same
// file counts each time it is included).
const maxFiles = 10000

// readApache reads the main file and everything it includes and parses
// the result into the file's top-level block.
func readApache(file string, e *errs) *block {
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		dir = filepath.Dir(file)
	}
	r := &reader{errs: e, mainDir: dir}
	r.readFile(file, file, pos{})
	p := &parser{errs: e, lines: r.lines}
	root := &block{at: pos{file: file, line: 1}}
	p.block(root, map[string]string{}, 0)
	return root
}

// readFile reads one file. name is how messages show it; from is the
// include line (zero for the main file).
func (r *reader) readFile(path, name string, from pos) {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	for i, c := range r.chain {
		if c == abs {
			chain := append(append([]string(nil), r.chain[i:]...), abs)
			r.addf(from, "", ErrIncludeCycle, "%s", strings.Join(chain, " -> "))
			return
		}
	}
	if r.seen++; r.seen > maxFiles {
		if r.seen == maxFiles+1 {
			r.addf(from, "", ErrUnsupported, "more than %d files read (includes repeat too much)", maxFiles)
		}
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if from.file == "" {
			r.add(pos{file: name}, "", pathless(err))
		} else {
			r.add(from, "", fmt.Errorf("include %s: %w", name, pathless(err)))
		}
		return
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		n := 1 + bytes.Count(data[:firstInvalid(data)], []byte("\n"))
		r.addf(pos{file: name, line: n}, "", ErrSyntax, "invalid UTF-8")
		return
	}
	r.chain = append(r.chain, abs)
	defer func() { r.chain = r.chain[:len(r.chain)-1] }()
	r.readLines(string(data), name, filepath.Dir(path))
}

func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		c, n := utf8.DecodeRune(b[i:])
		if c == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// readLines is Config::General's _read: comments, continuations,
// here-documents, empty blocks and includes.
func (r *reader) readLines(text, name, dir string) {
	phys := strings.Split(text, "\n")
	if len(phys) > 0 && phys[len(phys)-1] == "" {
		phys = phys[:len(phys)-1]
	}
	var (
		inHere          bool
		hereKey, hereTo string
		hereAt          pos
		hereLines       []string
		cComment        bool
		long            string
		longAt          pos
		inLong          bool
	)
	for i, s := range phys {
		at := pos{file: name, line: i + 1}
		s = strings.TrimSuffix(s, "\r")
		if inHere {
			if indent, ok := hereEnd(s, hereTo); ok {
				var v strings.Builder
				if indent != "" {
					for _, h := range hereLines {
						v.WriteString(strings.TrimPrefix(h, indent))
						v.WriteByte('\n')
					}
				} else {
					v.WriteString(strings.Join(hereLines, "\n"))
				}
				r.lines = append(r.lines, line{at: hereAt, here: true, key: hereKey, value: strings.TrimSpace(v.String())})
				inHere, hereLines = false, nil
			} else {
				hereLines = append(hereLines, s)
			}
			continue
		}
		// C comments: one on a line is cut out; one that starts a line
		// hides everything up to its end.
		if a := strings.Index(s, "/*"); a >= 0 && strings.LastIndex(s, "*/") > a+1 {
			b := strings.LastIndex(s, "*/")
			s = strings.TrimRight(s[:a], " \t\r\n\f\v") + strings.TrimLeft(s[b+2:], " \t\r\n\f\v")
		} else if strings.HasPrefix(strings.TrimLeft(s, " \t"), "/*") {
			cComment = true
		} else if b := strings.LastIndex(s, "*/"); b >= 0 {
			// Config::General does this on any line holding */, inside a
			// C comment or not.
			cComment = false
			s = s[b+2:]
		}
		if cComment {
			continue
		}
		s = cutComment(s)
		if strings.HasSuffix(s, `\`) && !strings.HasSuffix(s, `\\`) {
			if !inLong {
				inLong, longAt = true, at
			}
			long += strings.TrimLeft(s[:len(s)-1], " \t\r\f\v")
			continue
		}
		if t := strings.TrimSpace(s); strings.HasPrefix(t, "<") && !strings.HasPrefix(t, "</") && strings.HasSuffix(t, "/>") && len(t) > 3 {
			// <entry/> is an empty block.
			inner := t[1 : len(t)-2]
			name := strings.Fields(inner)[0]
			r.lines = append(r.lines, line{text: "<" + inner + ">", at: at}, line{text: "</" + name + ">", at: at})
			continue
		}
		if k, to, ok := hereStart(s); ok {
			inHere, hereKey, hereTo, hereAt = true, k, to, at
			continue
		}
		if inLong {
			long += strings.TrimLeft(s, " \t\r\f\v")
			r.lines = append(r.lines, line{text: long, at: longAt})
			inLong, long = false, ""
			continue
		}
		if strings.TrimSpace(s) == "" {
			continue
		}
		if file, ok := includeLine(s); ok {
			r.include(file, dir, at)
			continue
		}
		r.lines = append(r.lines, line{text: s, at: at})
	}
	if inHere {
		r.addf(hereAt, "", ErrSyntax, "here-document %q has no end line %q", hereKey, hereTo)
	}
	if cComment {
		r.addf(pos{file: name, line: len(phys)}, "", ErrSyntax, "C comment (/*) not closed at the end of the file")
	}
	if inLong {
		// Config::General drops it silently.
		r.addf(longAt, "", ErrSyntax, "the file ends in a line continued with a backslash")
	}
}

// cutComment removes a # comment: from the first # that is not escaped
// by a backslash to the end of the line.
func cutComment(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '#' && (i == 0 || s[i-1] != '\\') {
			return s[:i]
		}
	}
	return s
}

// hereStart recognises "key = <<EOF" and "key <<EOF".
func hereStart(s string) (key, to string, ok bool) {
	t := strings.TrimSpace(s)
	i := strings.Index(t, "<<")
	if i <= 0 {
		return "", "", false
	}
	to = strings.TrimSpace(t[i+2:])
	if to == "" {
		return "", "", false
	}
	head := strings.TrimRight(t[:i], " \t")
	if strings.HasSuffix(head, "=") {
		key = strings.TrimSpace(strings.TrimSuffix(head, "="))
		if key != "" && !strings.Contains(key, "=") {
			return key, to, true
		}
		return "", "", false
	}
	// Without =, the key is one word and blanks separate it from <<.
	if head == t[:i] || strings.ContainsAny(head, " \t") {
		return "", "", false
	}
	return head, to, true
}

// hereEnd recognises the end line of a here-document and returns its
// indentation, which is taken off every line of the document.
func hereEnd(s, to string) (string, bool) {
	t := strings.TrimLeft(s, " \t")
	if strings.TrimRight(t, " \t\r\f\v") != to {
		return "", false
	}
	return s[:len(s)-len(t)], true
}

// includeLine recognises <<include FILE>> (in any case).
func includeLine(s string) (string, bool) {
	t := strings.TrimLeft(s, " \t")
	const kw = "<<include"
	if len(t) < len(kw)+1 || !strings.EqualFold(t[:len(kw)], kw) {
		return "", false
	}
	rest := t[len(kw):]
	if rest == "" || (rest[0] != ' ' && rest[0] != '\t') {
		return "", false
	}
	rest = strings.TrimLeft(rest, " \t")
	rest = strings.TrimRight(rest, " \t\r\f\v")
	if !strings.HasSuffix(rest, ">>") || len(rest) < 3 {
		return "", false
	}
	return rest[:len(rest)-2], true
}

// globChars are the characters that make an include a glob for
// Config::General.
const globChars = `*?[{\`

// include reads the files an include line names. A relative name is
// taken from the including file's directory, then from the main file's.
func (r *reader) include(file, dir string, at pos) {
	full := file
	if !filepath.IsAbs(file) {
		full = filepath.Join(dir, file)
	}
	if strings.ContainsAny(full, globChars) {
		matches, err := globFiles(full)
		if err == nil && len(matches) == 0 && !filepath.IsAbs(file) && r.mainDir != "" {
			if d := filepath.Dir(filepath.Join(r.mainDir, file)); isDir(d) {
				matches, err = globFiles(filepath.Join(r.mainDir, file))
			}
		}
		if err != nil {
			r.addf(at, "", ErrSyntax, "include %s: %v", file, err)
			return
		}
		// A glob matching nothing is no error, as in Config::General.
		for _, m := range matches {
			r.readFile(m, m, at)
		}
		return
	}
	if _, err := os.Stat(full); err != nil && !filepath.IsAbs(file) && r.mainDir != "" {
		if alt := filepath.Join(r.mainDir, file); exists(alt) {
			full = alt
		}
	}
	st, err := os.Stat(full)
	if err != nil {
		r.addf(at, "", fs.ErrNotExist, "include %s: %s does not exist", file, full)
		return
	}
	if st.IsDir() {
		r.addf(at, "", ErrInvalidValue, "include %s: %s is a directory", file, full)
		return
	}
	r.readFile(full, full, at)
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func isDir(p string) bool { st, err := os.Stat(p); return err == nil && st.IsDir() }

// parser is Config::General's _parse: it builds blocks from logical lines
// and interpolates variables.
type parser struct {
	*errs
	lines []line
	i     int
}

// block reads items into b until its end line (depth > 0) or the end of
// the input. vars is the variable stack of b: the keys of the enclosing
// blocks and those of b read so far. It reports whether an end line
// closed the block.
func (p *parser) block(b *block, vars map[string]string, depth int) bool {
	firsts := map[string]bool{}
	for p.i < len(p.lines) {
		ln := p.lines[p.i]
		p.i++
		var key string
		var value *string
		if ln.here {
			key = ln.key
			v := ln.value
			value = &v
		} else {
			t := strings.TrimSpace(ln.text)
			if strings.HasPrefix(t, "</") && strings.HasSuffix(t, ">") && len(t) > 3 {
				if depth == 0 {
					p.addf(ln.at, "", ErrSyntax, "end of block %s has no start", t)
					continue
				}
				return true
			}
			if strings.HasPrefix(t, "<") && strings.HasSuffix(t, ">") && len(t) > 2 && t[1] != '/' {
				name, named := blockName(t[1 : len(t)-1])
				child := &block{at: ln.at}
				it := &item{key: name, at: ln.at, block: child, named: named}
				b.items = append(b.items, it)
				firsts[name] = true
				inner := make(map[string]string, len(vars))
				for k, v := range vars {
					inner[k] = v
				}
				if !p.block(child, inner, depth+1) {
					p.addf(ln.at, "", ErrSyntax, "block <%s> has no end line </%s>", name, name)
					return false
				}
				continue
			}
			var ok bool
			key, value, ok = splitOption(t)
			if !ok {
				value = nil
			}
		}
		if value != nil {
			v := *value
			if v != "" && v != "0" && strings.HasPrefix(v, `"`) && strings.HasSuffix(v, `"`) {
				v = strings.TrimPrefix(v, `"`)
				v = strings.TrimSuffix(v, `"`)
			}
			v = p.interpolate(v, vars, ln.at, key)
			v = unescape(v)
			value = &v
		}
		if !firsts[key] {
			firsts[key] = true
			if value != nil {
				vars[key] = *value
			} else {
				vars[key] = ""
			}
		}
		b.items = append(b.items, &item{key: key, at: ln.at, value: value})
	}
	return false
}

// blockName splits "<entry>" or "<entry name>" (either part may be
// double-quoted) into the block and the block name.
func blockName(s string) (name, named string) {
	if len(s) > 2 && strings.HasPrefix(s, `"`) && strings.HasSuffix(s, `"`) && !strings.Contains(s[1:len(s)-1], `"`) {
		return s[1 : len(s)-1], ""
	}
	unq := func(x string) string {
		if len(x) > 2 && strings.HasPrefix(x, `"`) && strings.HasSuffix(x, `"`) {
			return x[1 : len(x)-1]
		}
		return x
	}
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return unq(s[:i]), unq(strings.TrimSpace(s[i:]))
	}
	return unq(s), ""
}

// splitOption splits a line at its first separator: blanks around an =,
// or else blanks. A line of one word has no value.
func splitOption(t string) (key string, value *string, ok bool) {
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c != '=' && !isBlank(c) {
			continue
		}
		j := i
		for j < len(t) && isBlank(t[j]) {
			j++
		}
		if j < len(t) && t[j] == '=' {
			j++
			for j < len(t) && isBlank(t[j]) {
				j++
			}
		}
		v := t[j:]
		return t[:i], &v, true
	}
	return t, nil, false
}

func isBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'
}

// unescape turns \$, \\, \" and \# into the character.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`$\"#`, s[i+1]) >= 0 {
			b.WriteByte(s[i+1])
			i++
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isVarStart and isVarChar are Config::General's variable name:
// [a-zA-Z0-9][a-zA-Z0-9_\-.:+]*.
func isVarStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isVarChar(c byte) bool {
	return isVarStart(c) || c == '_' || c == '-' || c == '.' || c == ':' || c == '+'
}

// interpolate replaces $name and ${name} with the variables in scope. A
// $ after a backslash, and anything between single quotes, is left alone.
// An undefined variable is an error (StrictVars).
func (p *parser) interpolate(v string, vars map[string]string, at pos, key string) string {
	if !strings.Contains(v, "$") {
		return v
	}
	// Config::General hides '...' (at least one character inside) from
	// interpolation.
	quoted := make([]bool, len(v))
	for i := 0; i < len(v); i++ {
		if v[i] != '\'' {
			continue
		}
		j := strings.IndexByte(v[i+1:], '\'')
		if j <= 0 {
			continue
		}
		for k := i; k <= i+1+j; k++ {
			quoted[k] = true
		}
		i += 1 + j
	}
	var b strings.Builder
	last := 0    // end of the text copied so far
	prevEnd := 0 // end of the previous match: \G in the Perl regex
	for i := 0; i < len(v); i++ {
		if v[i] != '$' || quoted[i] {
			continue
		}
		if i > 0 && i != prevEnd && v[i-1] == '\\' {
			continue
		}
		var name string
		end := 0
		if i+1 < len(v) && v[i+1] == '{' {
			j := i + 2
			if j < len(v) && isVarStart(v[j]) {
				for j++; j < len(v) && isVarChar(v[j]); j++ {
				}
				if j < len(v) && v[j] == '}' {
					name, end = v[i+2:j], j+1
				}
			}
		} else if j := i + 1; j < len(v) && isVarStart(v[j]) {
			for j++; j < len(v) && isVarChar(v[j]); j++ {
			}
			name, end = v[i+1:j], j
		}
		if name == "" {
			continue
		}
		val, ok := vars[name]
		if !ok {
			p.addf(at, key, ErrUndefinedVar, "$%s (variables are the keys defined before, in this block or an enclosing one)", name)
			val = v[i:end]
		}
		b.WriteString(v[last:i])
		b.WriteString(val)
		last, prevEnd = end, end
		i = end - 1
	}
	b.WriteString(v[last:])
	return b.String()
}

// describe names an item for messages.
func (it *item) describe() string {
	if it.block != nil {
		return fmt.Sprintf("block <%s>", it.key)
	}
	return fmt.Sprintf("key %q", it.key)
}
