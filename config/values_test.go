package config

import (
	"errors"
	"reflect"
	"syscall"
	"testing"
	"time"
)

func TestSplitWords(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want []string
		err  bool
	}{
		{in: "", want: nil},
		{in: "   ", want: nil},
		{in: "a", want: []string{"a"}},
		{in: "  a   b\tc\nd ", want: []string{"a", "b", "c", "d"}},
		{in: "--other 'foo bar'", want: []string{"--other", "foo bar"}},
		{in: `--other "foo bar"`, want: []string{"--other", "foo bar"}},
		{in: `'a "b" \c'`, want: []string{`a "b" \c`}},
		{in: `"a 'b' \" \\ \$ \x"`, want: []string{`a 'b' " \ $ \x`}},
		{in: `a\ b c\'d \\`, want: []string{"a b", "c'd", `\`}},
		{in: `pre'mid dle'post"x y"`, want: []string{"premid dlepostx y"}},
		{in: `'' ""`, want: []string{"", ""}},
		{in: "a | b > c; d", want: []string{"a", "|", "b", ">", "c;", "d"}},
		{in: "$HOME ~ *", want: []string{"$HOME", "~", "*"}},
		{in: "a\\\nb", want: []string{"ab"}},
		{in: "'open", err: true},
		{in: `"open`, err: true},
		{in: `"open\"`, err: true},
		{in: `trailing\`, err: true},
	}
	for _, tc := range cases {
		got, err := splitWords(tc.in)
		if tc.err {
			if !errors.Is(err, ErrInvalidValue) || !errors.Is(err, errUnterminated) {
				t.Errorf("splitWords(%q) = %q, %v; want an unterminated error", tc.in, got, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestJoinWordsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, argv := range [][]string{
		{"/bin/x", "--a=1", "foo bar", "it's", `"q"`, "", "$x", `back\slash`, "tab\there"},
	} {
		s := joinWords(argv)
		back, err := splitWords(s)
		if err != nil || !reflect.DeepEqual(back, argv) {
			t.Errorf("splitWords(joinWords(%q)) = %q, %v (via %s)", argv, back, err, s)
		}
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{in: "500ms", want: 500 * time.Millisecond},
		{in: "10s", want: 10 * time.Second},
		{in: "2m", want: 2 * time.Minute},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "30", want: 30 * time.Second},
		{in: "0", want: 0},
		{in: "0s", want: 0},
		{in: "-1s", err: true},
		{in: "-5", err: true},
		{in: "1.5", err: true},
		{in: "ten", err: true},
		{in: "", err: true},
		{in: "99999999999999999999", err: true},
	}
	for _, tc := range cases {
		got, err := parseDuration(tc.in)
		if tc.err {
			if !errors.Is(err, ErrInvalidValue) {
				t.Errorf("parseDuration(%q) = %v, %v; want ErrInvalidValue", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseSignal(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want syscall.Signal
		err  bool
	}{
		{in: "TERM", want: syscall.SIGTERM},
		{in: "SIGTERM", want: syscall.SIGTERM},
		{in: "term", want: syscall.SIGTERM},
		{in: "SigTerm", want: syscall.SIGTERM},
		{in: "HUP", want: syscall.SIGHUP},
		{in: "int", want: syscall.SIGINT},
		{in: "QUIT", want: syscall.SIGQUIT},
		{in: "KILL", want: syscall.SIGKILL},
		{in: "usr1", want: syscall.SIGUSR1},
		{in: "SIGUSR2", want: syscall.SIGUSR2},
		{in: "ALRM", want: syscall.SIGALRM},
		{in: "CHLD", want: syscall.SIGCHLD},
		{in: "CONT", want: syscall.SIGCONT},
		{in: "STOP", want: syscall.SIGSTOP},
		{in: "TSTP", want: syscall.SIGTSTP},
		{in: "WINCH", want: syscall.SIGWINCH},
		{in: "15", want: 15},
		{in: "1", want: 1},
		{in: "64", want: 64},
		{in: "0", err: true},
		{in: "65", err: true},
		{in: "-1", err: true},
		{in: "SIG", err: true},
		{in: "FOO", err: true},
		{in: "", err: true},
	}
	for _, tc := range cases {
		got, err := parseSignal(tc.in)
		if tc.err {
			if !errors.Is(err, ErrInvalidValue) {
				t.Errorf("parseSignal(%q) = %v, %v; want ErrInvalidValue", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseSignal(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if got := signalName(syscall.SIGTERM); got != "TERM" {
		t.Errorf("signalName(SIGTERM) = %q", got)
	}
	if got := signalName(syscall.SIGABRT); got != "ABRT" {
		t.Errorf("signalName(SIGABRT) = %q", got)
	}
	if got := signalName(syscall.Signal(63)); got != "63" {
		t.Errorf("signalName(63) = %q", got)
	}
}

func TestExpand(t *testing.T) {
	t.Parallel()
	sc := &scope{parent: &scope{vars: map[string]string{"a": "outer", "b": "B"}}, vars: map[string]string{"a": "inner"}}
	cases := []struct {
		in, want string
		err      error
	}{
		{in: "plain", want: "plain"},
		{in: "${a}/${b}", want: "inner/B"},
		{in: "x${a}y", want: "xinnery"},
		{in: "$$", want: "$"},
		{in: "$${a}", want: "${a}"},
		{in: "$$$${a}", want: "$${a}"},
		{in: "$a $ end$", want: "$a $ end$"},
		{in: "${nope}", err: ErrUndefinedVar},
		{in: "${a", err: ErrInvalidValue},
		{in: "${}", err: ErrInvalidName},
		{in: "${1a}", err: ErrInvalidName},
	}
	for _, tc := range cases {
		got, err := expand(tc.in, sc)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("expand(%q) = %q, %v; want %v", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
