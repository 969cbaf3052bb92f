package simplevisor

import (
	"os"
	"path/filepath"
)

// globFiles expands an include glob as Perl's bsd_glob does with
// GLOB_BRACE and GLOB_QUOTE: {a,b} alternatives in the order written, the
// matches of each sorted, \ escaping the next character; only regular
// files (after symlinks) are kept.
func globFiles(pattern string) ([]string, error) {
	var out []string
	for _, p := range expandBraces(pattern) {
		ms, err := filepath.Glob(p)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() {
				out = append(out, m)
			}
		}
	}
	return out, nil
}

// expandBraces expands the first {a,b,...} group of s, recursively. An
// escaped brace, a {} and an unmatched { are literal.
func expandBraces(s string) []string {
	open := -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			if i+1 < len(s) && s[i+1] == '}' {
				i++
				continue
			}
			open = i
		}
		if open >= 0 {
			break
		}
	}
	if open < 0 {
		return []string{s}
	}
	depth := 0
	var parts []string
	start := open + 1
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				parts = append(parts, s[start:i])
				var out []string
				for _, p := range parts {
					out = append(out, expandBraces(s[:open]+p+s[i+1:])...)
				}
				return out
			}
		case ',':
			if depth == 1 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	// Unmatched: the { is literal; expand what follows it.
	var out []string
	for _, rest := range expandBraces(s[open+1:]) {
		out = append(out, s[:open+1]+rest)
	}
	return out
}
