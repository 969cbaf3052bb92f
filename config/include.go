package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// fileID is the identity of a file for cycle detection: its absolute
// path with symbolic links resolved where possible.
func fileID(file string) string {
	p, err := filepath.Abs(file)
	if err != nil {
		p = filepath.Clean(file)
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	return p
}

// hasMeta reports whether p holds glob metacharacters.
func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// globEscape quotes the glob metacharacters in p.
func globEscape(p string) string {
	var b strings.Builder
	for _, r := range p {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// include reads the include item in mapping m: every file its pattern
// matches, in lexical order, each holding a node or a list of items.
// The nodes take their place among the children of path.
func (l *loader) include(a *at, m *yaml.Node, path string, stopped bool) []*Node {
	f, ok := a.mapping(m, "", "a mapping", false)
	if !ok {
		return nil
	}
	for _, p := range f.list {
		if p.key != "include" {
			a.errf(p.k.Line, "", fmt.Errorf("%w %q beside include (an include item holds include only)", ErrUnknownKey, p.key))
		}
	}
	v, _ := f.get("include")
	line := deref(v).Line
	pattern, ok := a.str("include", v)
	if !ok {
		return nil
	}
	if pattern == "" {
		a.errf(line, "include", invalidf("empty include path"))
		return nil
	}
	var files []string
	if !hasMeta(pattern) {
		full := pattern
		if !filepath.IsAbs(full) {
			full = filepath.Join(a.src.dir, full)
		}
		st, err := os.Stat(full)
		if err == nil && st.IsDir() {
			a.errf(line, "include", invalidf("%s is a directory (include %s/*.yaml, say)", full, pattern))
			return nil
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				err = fmt.Errorf("%s: %w", full, fs.ErrNotExist)
			}
			a.errf(line, "include", err)
			return nil
		}
		files = []string{full}
	} else {
		glob := pattern
		if !filepath.IsAbs(glob) {
			glob = filepath.Join(globEscape(a.src.dir), glob)
		}
		matches, err := filepath.Glob(glob)
		if err != nil {
			a.errf(line, "include", invalidf("bad pattern %q: %w", pattern, err))
			return nil
		}
		sort.Strings(matches)
		for _, mt := range matches {
			// A glob such as conf.d/* skips the directories it meets.
			if st, err := os.Stat(mt); err == nil && st.IsDir() {
				continue
			}
			files = append(files, mt)
		}
	}
	var nodes []*Node
	for _, file := range files {
		nodes = append(nodes, l.includeFile(a, line, file, path, stopped)...)
	}
	return nodes
}

// includeFile reads one included file: a node, an include item, or a
// list of items. An empty file holds no node.
func (l *loader) includeFile(a *at, line int, file, path string, stopped bool) []*Node {
	id := fileID(file)
	for i, c := range l.chain {
		if c.id == id {
			names := make([]string, 0, len(l.chain)-i+1)
			for _, c := range l.chain[i:] {
				names = append(names, c.name)
			}
			names = append(names, file)
			a.errf(line, "include", fmt.Errorf("%w: %s", ErrIncludeCycle, strings.Join(names, " -> ")))
			return nil
		}
	}
	r, err := os.Open(file)
	if err != nil {
		a.errf(line, "include", err)
		return nil
	}
	defer r.Close()
	s := newSrc(file)
	doc, _ := l.parse(r, s)
	if doc == nil {
		return nil
	}
	l.chain = append(l.chain, chainLink{id: id, name: file})
	defer func() { l.chain = l.chain[:len(l.chain)-1] }()
	ia := &at{l: l, src: s, path: a.path, sc: a.sc}
	d := deref(doc)
	if d.Kind != yaml.SequenceNode {
		return l.item(ia, doc, path, filepath.Base(file), stopped)
	}
	var nodes []*Node
	for i, item := range d.Content {
		nodes = append(nodes, l.item(ia, item, path, fmt.Sprintf("%s[%d]", filepath.Base(file), i), stopped)...)
	}
	return nodes
}
