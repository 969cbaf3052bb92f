package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	varRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	digitsRE = regexp.MustCompile(`^[0-9]+$`)
)

// parseDuration reads a Go duration ("500ms", "10s", "2m") or a whole
// number of seconds ("30"). Negative durations are refused.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-") {
		return 0, invalidf("negative duration %q", s)
	}
	if digitsRE.MatchString(s) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n > int64(1<<63-1)/int64(time.Second) {
			return 0, invalidf("duration %q out of range", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, invalidf("invalid duration %q (want Go syntax such as 500ms, 10s, 2m, or whole seconds)", s)
	}
	return d, nil
}

// signals maps signal names, without the SIG prefix, to their numbers on
// this platform. Only names defined on every Unix otpsv builds for appear.
var signals = map[string]syscall.Signal{
	"HUP":    syscall.SIGHUP,
	"INT":    syscall.SIGINT,
	"QUIT":   syscall.SIGQUIT,
	"ILL":    syscall.SIGILL,
	"TRAP":   syscall.SIGTRAP,
	"ABRT":   syscall.SIGABRT,
	"IOT":    syscall.SIGABRT,
	"BUS":    syscall.SIGBUS,
	"FPE":    syscall.SIGFPE,
	"KILL":   syscall.SIGKILL,
	"USR1":   syscall.SIGUSR1,
	"SEGV":   syscall.SIGSEGV,
	"USR2":   syscall.SIGUSR2,
	"PIPE":   syscall.SIGPIPE,
	"ALRM":   syscall.SIGALRM,
	"TERM":   syscall.SIGTERM,
	"CHLD":   syscall.SIGCHLD,
	"CONT":   syscall.SIGCONT,
	"STOP":   syscall.SIGSTOP,
	"TSTP":   syscall.SIGTSTP,
	"TTIN":   syscall.SIGTTIN,
	"TTOU":   syscall.SIGTTOU,
	"URG":    syscall.SIGURG,
	"XCPU":   syscall.SIGXCPU,
	"XFSZ":   syscall.SIGXFSZ,
	"VTALRM": syscall.SIGVTALRM,
	"PROF":   syscall.SIGPROF,
	"WINCH":  syscall.SIGWINCH,
	"IO":     syscall.SIGIO,
	"SYS":    syscall.SIGSYS,
}

// maxSignal is the highest signal number accepted as a number.
const maxSignal = 64

// parseSignal reads a signal name, with or without SIG and in any case
// ("TERM", "SIGTERM", "term"), or a number from 1 to 64.
func parseSignal(s string) (syscall.Signal, error) {
	s = strings.TrimSpace(s)
	if digitsRE.MatchString(s) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxSignal {
			return 0, invalidf("signal number %s out of range 1..%d", s, maxSignal)
		}
		return syscall.Signal(n), nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if sig, ok := signals[name]; ok {
		return sig, nil
	}
	return 0, invalidf("unknown signal %q", s)
}

// signalName returns the conventional name of sig without SIG ("TERM"),
// or its number when it has no name here.
func signalName(sig syscall.Signal) string {
	best := ""
	for name, s := range signals {
		// IOT is an alias of ABRT: prefer the usual name.
		if s == sig && name != "IOT" && (best == "" || name < best) {
			best = name
		}
	}
	if best == "" {
		return strconv.Itoa(int(sig))
	}
	return best
}

// errUnterminated is wrapped by splitWords errors for an unclosed quote
// or a trailing backslash.
var errUnterminated = errors.New("unterminated")

// splitWords splits s into words the way a POSIX shell splits a simple
// command, without any expansion: blanks separate words; 'single quotes'
// keep everything literally; "double quotes" keep everything but honour
// the escapes \" \\ \$ and \` (any other backslash is kept); a backslash
// outside quotes takes the next character literally. Quotes may join
// parts of one word (a'b c'd is one word) and ” is an empty word.
func splitWords(s string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case r == '\\':
			if i+1 >= len(rs) {
				return nil, invalidf("%w backslash at the end of %q", errUnterminated, s)
			}
			i++
			if rs[i] != '\n' { // backslash-newline joins lines
				cur.WriteRune(rs[i])
			}
			inWord = true
		case r == '\'':
			j := i + 1
			for j < len(rs) && rs[j] != '\'' {
				j++
			}
			if j >= len(rs) {
				return nil, invalidf("%w single quote in %q", errUnterminated, s)
			}
			cur.WriteString(string(rs[i+1 : j]))
			i = j
			inWord = true
		case r == '"':
			j := i + 1
			for ; j < len(rs) && rs[j] != '"'; j++ {
				if rs[j] == '\\' && j+1 < len(rs) && strings.ContainsRune("\"\\$`", rs[j+1]) {
					j++
				}
				cur.WriteRune(rs[j])
			}
			if j >= len(rs) {
				return nil, invalidf("%w double quote in %q", errUnterminated, s)
			}
			i = j
			inWord = true
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// quoteWord quotes w so that splitWords reads it back as one word; plain
// words are left alone.
func quoteWord(w string) string {
	if w != "" && !strings.ContainsFunc(w, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("-_./:=,+@%^", r))
	}) {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

// joinWords is the inverse of splitWords: argv as one readable string.
func joinWords(argv []string) string {
	q := make([]string, len(argv))
	for i, w := range argv {
		q[i] = quoteWord(w)
	}
	return strings.Join(q, " ")
}

// expand replaces every ${name} in s by the value of name in sc, and $$ by
// a single $. Any other $ is kept as it is, so "a$" and "$HOME" are left
// alone (no environment variable is ever read).
func expand(s string, sc *scope) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", invalidf("unterminated ${ in %q", s)
			}
			name := s[i+2 : i+2+end]
			if !varRE.MatchString(name) {
				return "", fmt.Errorf("%w ${%s} (want [A-Za-z_][A-Za-z0-9_]*)", ErrInvalidName, name)
			}
			v, ok := sc.lookup(name)
			if !ok {
				return "", fmt.Errorf("%w ${%s}", ErrUndefinedVar, name)
			}
			b.WriteString(v)
			i += 2 + end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// scope is one level of variables: the top-level vars, or a node's vars.
type scope struct {
	parent *scope
	vars   map[string]string
}

// lookup finds name in sc or its parents, innermost first.
func (sc *scope) lookup(name string) (string, bool) {
	for ; sc != nil; sc = sc.parent {
		if v, ok := sc.vars[name]; ok {
			return v, true
		}
	}
	return "", false
}
