package simplevisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/otpsv/otpsv/config"
)

// dump gives a block the shape Config::General gives it: a hash, a key
// given twice an array, a named block a hash in a hash, no value null.
func dump(b *block) map[string]any {
	out := map[string]any{}
	for _, it := range b.items {
		var v any
		switch {
		case it.block != nil:
			v = dump(it.block)
			if it.named != "" {
				v = map[string]any{it.named: v}
			}
		case it.value != nil:
			v = *it.value
		}
		if prev, ok := out[it.key]; ok {
			if list, ok := prev.([]any); ok {
				out[it.key] = append(list, v)
			} else {
				out[it.key] = []any{prev, v}
			}
			continue
		}
		out[it.key] = v
	}
	return out
}

func parseFile(t *testing.T, file string) (map[string]any, error) {
	t.Helper()
	e := &errs{}
	b := readApache(file, e)
	if len(e.list) > 0 {
		return nil, errors.Join(e.list...)
	}
	return dump(b), nil
}

// perlDump runs Config::General with simplevisor's options, when Perl
// and the module are installed (Debian: libconfig-general-perl).
func perlDump(t *testing.T, file string) (any, bool) {
	t.Helper()
	if _, err := exec.LookPath("perl"); err != nil {
		return nil, false
	}
	abs, _ := filepath.Abs(file)
	out, err := exec.Command("perl", "-e", `use Config::General qw(ParseConfig); use JSON::PP;
print JSON::PP->new->canonical->allow_nonref->encode({ParseConfig(-ConfigFile => $ARGV[0],
  -IncludeRelative => 1, -IncludeGlob => 1, -IncludeAgain => 1, -InterPolateVars => 1)})`, abs).Output()
	if err != nil {
		return nil, false
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("perl output: %v", err)
	}
	return v, true
}

// TestApacheAsConfigGeneral compares the parser with what Config::General
// 2.65 gave for the same files: recorded in *.perl.json, and live when
// Perl has the module.
func TestApacheAsConfigGeneral(t *testing.T) {
	t.Parallel()
	// The *.perl.json files were written by Config::General 2.65 (Debian's
	// libconfig-general-perl) with the options perlDump gives.
	files, _ := filepath.Glob("testdata/parse/*.conf")
	files = append(files, "testdata/example/simplevisor.conf.example", "testdata/golden/full.conf", "testdata/instance/simplevisor.conf")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			got, err := parseFile(t, f)
			if err != nil {
				t.Fatal(err)
			}
			gotJSON, _ := json.Marshal(got)
			var g any
			_ = json.Unmarshal(gotJSON, &g)
			recorded := f + ".perl.json"
			if data, err := os.ReadFile(recorded); err == nil {
				var want any
				if err := json.Unmarshal(data, &want); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(g, want) {
					t.Errorf("got %s\nwant (recorded from Config::General) %s", gotJSON, data)
				}
			}
			if want, ok := perlDump(t, f); ok {
				if !reflect.DeepEqual(g, want) {
					w, _ := json.Marshal(want)
					t.Errorf("got %s\nwant (Config::General) %s", gotJSON, w)
				}
			}
		})
	}
}

// writeFiles writes name -> content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// wantErr is one expected problem: the file's base name, the line and
// the sentinel.
type wantErr struct {
	file string
	line int
	err  error
}

func (w wantErr) String() string { return fmt.Sprintf("%s:%d: %v", w.file, w.line, w.err) }

// checkErrs checks that err holds exactly the problems in want, in any
// order, each a *config.FieldError.
func checkErrs(t *testing.T, err error, want []wantErr) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", want)
	}
	var got []*config.FieldError
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			if _, isField := e.(*config.FieldError); !isField {
				for _, x := range j.Unwrap() {
					walk(x)
				}
				return
			}
		}
		var fe *config.FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("%v is not a *config.FieldError", e)
		}
		got = append(got, fe)
	}
	walk(err)
	if len(got) != len(want) {
		t.Fatalf("got %d errors, want %d (%v):\n%v", len(got), len(want), want, err)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Line < got[j].Line })
	ws := append([]wantErr(nil), want...)
	sort.Slice(ws, func(i, j int) bool { return ws[i].line < ws[j].line })
	for i, w := range ws {
		g := got[i]
		if filepath.Base(g.File) != w.file || g.Line != w.line || !errors.Is(g, w.err) {
			t.Errorf("got %v (%s:%d), want %v", g, filepath.Base(g.File), g.Line, w)
		}
	}
}

func TestApacheParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string // main.conf is the main file
		want  string            // the dump as JSON, when no error
		errs  []wantErr
	}{
		{
			name:  "separators",
			files: map[string]string{"main.conf": "a = 1\nb 2\nc=3\nd   =   x = y\ne x=y\nf\ng =\n"},
			want:  `{"a":"1","b":"2","c":"3","d":"x = y","e":"x=y","f":null,"g":""}`,
		},
		{
			name:  "comments",
			files: map[string]string{"main.conf": "# whole line\na = x # after\nb = x \\# kept\n  # indented\nc = /* gone */ y\n/* block\n d = hidden\n*/\ne = z\n"},
			want:  `{"a":"x","b":"x # kept","c":"y","e":"z"}`,
		},
		{
			name:  "quotes",
			files: map[string]string{"main.conf": "a = \"x y\"\nb = 'x y'\nc = \"x\" \"y\"\nd = \\\"x\\\"\n"},
			want:  `{"a":"x y","b":"'x y'","c":"x\" \"y","d":"\"x\""}`,
		},
		{
			name:  "continuation and here-documents",
			files: map[string]string{"main.conf": "a = one \\\n    two \\\n  three\nb <<EOT\n  x\n    y\n  EOT\nc = <<E\nl1\nl2\nE\n"},
			want:  `{"a":"one two three","b":"x\n  y","c":"l1\nl2"}`,
		},
		{
			name: "variables and their scope",
			files: map[string]string{"main.conf": `var_x = top
<b1>
    var_y = ${var_x}/y
    z = ${var_y}-z
    <inner>
        var_y = shadow
        w = ${var_y} $var_x
    </inner>
    after = ${var_y}
</b1>
<b2>
    v = ${var_x}
    esc = \${var_x} and '${var_x}' and \\
</b2>
`},
			want: `{"var_x":"top","b1":{"var_y":"top/y","z":"top/y-z","inner":{"var_y":"shadow","w":"shadow top"},"after":"top/y"},"b2":{"v":"top","esc":"${var_x} and '${var_x}' and \\"}}`,
		},
		{
			name: "undefined and out-of-scope variables",
			files: map[string]string{"main.conf": `<b1>
    var_y = 1
</b1>
<b2>
    a = ${var_y}
    b = $later
    later = 2
    c = $var_y.conf
</b2>
`},
			errs: []wantErr{{"main.conf", 5, ErrUndefinedVar}, {"main.conf", 6, ErrUndefinedVar}, {"main.conf", 8, ErrUndefinedVar}},
		},
		{
			name:  "repeated keys and blocks, named and empty blocks",
			files: map[string]string{"main.conf": "a = 1\na = 2\n<e>\nx = 1\n</e>\n<e>\nx = 2\n</e>\n<n foo>\nk = v\n</n>\n<empty/>\n"},
			want:  `{"a":["1","2"],"e":[{"x":"1"},{"x":"2"}],"n":{"foo":{"k":"v"}},"empty":{}}`,
		},
		{
			name: "includes: relative, glob, braces, none matched, main directory",
			files: map[string]string{
				"main.conf":        "<<include conf.d/*.conf>>\n<<include {b,a}.inc>>\n<<include empty.d/*.conf>>\n<<include sub/s.conf>>\n",
				"conf.d/2.conf":    "two = 2\n",
				"conf.d/10.conf":   "ten = 10\n",
				"conf.d/skip.txt":  "skip = 1\n",
				"a.inc":            "a = 1\n",
				"b.inc":            "b = 1\n",
				"sub/s.conf":       "<<include t.conf>>\n<<include top.conf>>\n",
				"sub/t.conf":       "t = 1\n",
				"top.conf":         "top = 1\n",
				"empty.d/.keepdir": "",
			},
			want: `{"ten":"10","two":"2","b":"1","a":"1","t":"1","top":"1"}`,
		},
		{
			name:  "include inside a block sees its variables",
			files: map[string]string{"main.conf": "<b>\nvar_x = 1\n<<include i.conf>>\n</b>\n", "i.conf": "y = ${var_x}\n"},
			want:  `{"b":{"var_x":"1","y":"1"}}`,
		},
		{
			name:  "missing include",
			files: map[string]string{"main.conf": "a = 1\n<<include nope.conf>>\n"},
			errs:  []wantErr{{"main.conf", 2, fs.ErrNotExist}},
		},
		{
			name:  "include cycle",
			files: map[string]string{"main.conf": "<<include a.conf>>\n", "a.conf": "x = 1\n<<include main.conf>>\n"},
			errs:  []wantErr{{"a.conf", 2, ErrIncludeCycle}},
		},
		{
			name:  "unclosed block",
			files: map[string]string{"main.conf": "<a>\n<b>\nx = 1\n</b>\n"},
			errs:  []wantErr{{"main.conf", 1, ErrSyntax}},
		},
		{
			name:  "end without start",
			files: map[string]string{"main.conf": "x = 1\n</a>\n"},
			errs:  []wantErr{{"main.conf", 2, ErrSyntax}},
		},
		{
			name:  "unterminated here-document and continuation",
			files: map[string]string{"main.conf": "a <<EOT\nx\n", "b.conf": "x = 1 \\\n"},
			errs:  []wantErr{{"main.conf", 1, ErrSyntax}},
		},
		{
			name:  "continuation at the end of an included file",
			files: map[string]string{"main.conf": "<<include b.conf>>\n", "b.conf": "x = 1\ny = 2 \\\n"},
			errs:  []wantErr{{"b.conf", 2, ErrSyntax}},
		},
		{
			name:  "invalid UTF-8",
			files: map[string]string{"main.conf": "a = 1\nb = \xff\n"},
			errs:  []wantErr{{"main.conf", 2, ErrSyntax}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			main := filepath.Join(dir, "main.conf")
			got, err := parseFile(t, main)
			if tt.errs != nil {
				checkErrs(t, err, tt.errs)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want map[string]any
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatalf("want: %v", err)
			}
			g, _ := json.Marshal(got)
			var gotAny map[string]any
			_ = json.Unmarshal(g, &gotAny)
			if !reflect.DeepEqual(gotAny, want) {
				t.Errorf("got  %s\nwant %s", g, tt.want)
			}
			if pw, ok := perlDump(t, main); ok {
				if !reflect.DeepEqual(any(gotAny), pw) {
					w, _ := json.Marshal(pw)
					t.Errorf("got %s\nConfig::General gives %s", g, w)
				}
			}
		})
	}
}

func TestExpandBraces(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"a", []string{"a"}},
		{"{b,a}.conf", []string{"b.conf", "a.conf"}},
		{"x{1,{2,3}}y", []string{"x1y", "x2y", "x3y"}},
		{"{a,b}{c,d}", []string{"ac", "ad", "bc", "bd"}},
		{"{}", []string{"{}"}},
		{`\{a,b}`, []string{`\{a,b}`}},
		{"{a,b", []string{"{a,b"}},
	}
	for _, tt := range tests {
		if got := expandBraces(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("expandBraces(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
