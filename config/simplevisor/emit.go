package simplevisor

import (
	"strconv"
	"strings"
	"unicode"
)

// The output is written by hand rather than through yaml.v3's encoder, so
// that comments sit where a reader looks for them (above the key they
// explain, above a list item's "- ") and commands stay on one line.

// ymap is a YAML mapping with comments.
type ymap struct {
	head   []string // comment lines above the mapping (above "- " in a list)
	fields []*yfield
}

// yfield is one key of a ymap: a scalar, a flow list, a mapping or a list
// of mappings. Scalars and list items are already rendered.
type yfield struct {
	key    string
	head   []string // comment lines above the key
	scalar string
	flow   []string
	isFlow bool
	node   *ymap
	list   []*ymap
	line   string // comment at the end of the line
}

func (m *ymap) add(key, scalar string, head ...string) *yfield {
	f := &yfield{key: key, scalar: scalar, head: head}
	m.fields = append(m.fields, f)
	return f
}

func (m *ymap) addFlow(key string, items []string, head ...string) *yfield {
	f := &yfield{key: key, flow: items, isFlow: true, head: head}
	m.fields = append(m.fields, f)
	return f
}

// render writes m at indent. first, when not empty, replaces the
// indentation of the first key ("- " for a list item).
func (m *ymap) render(b *strings.Builder, indent int, first string) {
	pad := strings.Repeat(" ", indent)
	for i, f := range m.fields {
		lead := pad
		if i == 0 && first != "" {
			lead = strings.Repeat(" ", indent-len(first)) + first
		}
		if i == 0 && first != "" {
			comments(b, strings.Repeat(" ", indent-len(first)), f.head)
		} else {
			comments(b, pad, f.head)
		}
		b.WriteString(lead)
		b.WriteString(f.key)
		b.WriteString(":")
		switch {
		case f.node != nil:
			trailing(b, f.line)
			f.node.render(b, indent+2, "")
		case f.list != nil:
			trailing(b, f.line)
			for _, it := range f.list {
				comments(b, pad+"  ", it.head)
				it.render(b, indent+4, "- ")
			}
		case f.isFlow:
			b.WriteString(" [")
			b.WriteString(strings.Join(f.flow, ", "))
			b.WriteString("]")
			trailing(b, f.line)
		default:
			b.WriteString(" ")
			b.WriteString(f.scalar)
			trailing(b, f.line)
		}
	}
}

// width is where comments wrap.
const width = 88

// comments writes each paragraph of lines as # comments at pad, wrapped
// at width (a word longer than the line stays whole).
func comments(b *strings.Builder, pad string, lines []string) {
	for _, l := range lines {
		words := strings.Fields(l)
		cur := pad + "#"
		n := 0
		for _, w := range words {
			if n > 0 && len(cur)+1+len(w) > width {
				b.WriteString(cur + "\n")
				cur, n = pad+"#", 0
			}
			cur += " " + w
			n++
		}
		b.WriteString(cur + "\n")
	}
}

func trailing(b *strings.Builder, c string) {
	if c != "" {
		b.WriteString("  # ")
		b.WriteString(c)
	}
	b.WriteString("\n")
}

// str renders a string value: plain when that is unambiguous, else double
// quoted. A $ that otpsv would read as the start of ${var} or $$ is
// doubled, since every variable is already resolved.
func str(s string) string {
	s = escapeDollar(s)
	if plainOK(s) {
		return s
	}
	return strconv.Quote(s)
}

func escapeDollar(s string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] == '$' && i+1 < len(s) && (s[i+1] == '{' || s[i+1] == '$') {
			b.WriteByte('$')
		}
	}
	return b.String()
}

// plainOK reports whether s can be written as a YAML plain scalar, in
// block and flow context, and still be read back as this string.
func plainOK(s string) bool {
	if s == "" {
		return false
	}
	letter := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	if s[0] == '-' {
		// An option (--conf, -v): a - followed by no blank starts a
		// plain scalar; -1 would be a number.
		if len(s) < 2 || !(s[1] == '-' || letter(s[1])) {
			return false
		}
	} else if !(letter(s[0]) || s[0] == '/' || s[0] == '_' || s[0] == '.') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("/_.+@%=-", c) >= 0) {
			return false
		}
	}
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null", ".inf", ".nan":
		return false
	}
	return true
}

// commentText makes text safe for a # comment: one line, and no
// character otpsv's loader refuses in a file; such text is shown escaped,
// as in a Go string.
func commentText(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return r != '\t' && !unicode.IsPrint(r) }) {
		q := strconv.Quote(s)
		return q[1 : len(q)-1]
	}
	return s
}
