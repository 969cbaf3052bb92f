package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// The schema is checked with a real draft 2020-12 validator (a test-only
// dependency): compiling it also checks it against the meta-schema.
const schemaURL = "otpsv.schema.json"

// The compiler is not safe for concurrent use: mu guards it and the
// schemas compiled from it.
var (
	mu         sync.Mutex
	compiler   *jsonschema.Compiler
	compileErr error
	compiled   = map[string]*jsonschema.Schema{} // by JSON pointer
)

// schemaAt compiles the schema, or the part of it at the JSON pointer ptr
// ("" for the whole schema, "/$defs/duration" for one definition).
func schemaAt(t testing.TB, ptr string) *jsonschema.Schema {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if compiler == nil && compileErr == nil {
		var doc any
		if doc, compileErr = jsonschema.UnmarshalJSON(bytes.NewReader(Schema())); compileErr == nil {
			compiler = jsonschema.NewCompiler()
			compileErr = compiler.AddResource(schemaURL, doc)
		}
	}
	if compileErr != nil {
		t.Fatalf("schema: %v", compileErr)
	}
	if s, ok := compiled[ptr]; ok {
		return s
	}
	s, err := compiler.Compile(schemaURL + "#" + ptr)
	if err != nil {
		t.Fatalf("compile schema%s: %v", ptr, err)
	}
	compiled[ptr] = s
	return s
}

// yamlToJSON turns a YAML document into the JSON value an editor checks:
// yaml.v3 into Go values, then encoding/json.
func yamlToJSON(src string) (any, error) {
	var v any
	if err := yaml.Unmarshal([]byte(src), &v); err != nil {
		return nil, err
	}
	b, err := json.Marshal(jsonable(v))
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

// jsonable converts what yaml.v3 produces and encoding/json refuses:
// mappings with non-string keys, infinite floats, timestamps.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return fmt.Sprint(x)
		}
	case time.Time:
		return x.Format(time.RFC3339Nano)
	}
	return v
}

// schemaErr validates the YAML document src against the whole schema.
func schemaErr(t testing.TB, src string) error {
	t.Helper()
	v, err := yamlToJSON(src)
	if err != nil {
		t.Fatalf("yaml to json: %v\n%s", err, src)
	}
	return schemaAt(t, "").Validate(v)
}

func TestSchemaIsValidJSONSchema(t *testing.T) {
	t.Parallel()
	var doc map[string]any
	if err := json.Unmarshal(Schema(), &doc); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	if got, want := doc["$schema"], "https://json-schema.org/draft/2020-12/schema"; got != want {
		t.Errorf("$schema = %v, want %v", got, want)
	}
	schemaAt(t, "") // compiles against the 2020-12 meta-schema
	if !bytes.Equal(Schema(), Schema()) {
		t.Error("Schema() differs between calls")
	}
}

// acceptedByLoad reports whether Load accepts src, as an ordinary user or
// as root (user and group are only valid as root), with the file in dir.
func acceptedByLoad(src, dir string) bool {
	file := filepath.Join(dir, "otpsv.yaml")
	for _, euid := range []int{1000, 0} {
		if _, err := load(strings.NewReader(src), file, euid); err == nil {
			return true
		}
	}
	return false
}

// corpus returns the YAML texts found in the examples, the documentation
// and the tests of this package and of test/, each with where it was
// found; only those holding "tree:" are kept.
func corpus(t *testing.T) map[string]string {
	t.Helper()
	cands := map[string]string{}
	add := func(where, src string) {
		if _, ok := cands[src]; !ok && strings.Contains(src, "tree:") {
			cands[src] = where
		}
	}
	examples, _ := filepath.Glob("../examples/*.yaml")
	if len(examples) == 0 {
		t.Fatal("no example under ../examples")
	}
	for _, f := range examples {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !acceptedByLoad(string(b), t.TempDir()) {
			t.Errorf("%s: refused by Load", f)
		}
		add(f, string(b))
	}
	docs, _ := filepath.Glob("../docs/*.md")
	for _, f := range docs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, block := range yamlBlocks(string(b)) {
			add(fmt.Sprintf("%s, yaml block %d", f, i+1), block)
		}
	}
	for _, pat := range []string{"*_test.go", "../test/*_test.go"} {
		files, _ := filepath.Glob(pat)
		for _, f := range files {
			strs, err := testStrings(f)
			if err != nil {
				// Another file being edited must not fail this test.
				t.Logf("%s: %v (skipped)", f, err)
				continue
			}
			for _, s := range strs {
				add(f, s)
			}
		}
	}
	return cands
}

// sortedKeys returns the texts of a corpus in a stable order.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestSchemaAcceptsValidConfigs checks that every configuration the
// loader accepts, among the examples, the documentation and the tests,
// passes the schema.
func TestSchemaAcceptsValidConfigs(t *testing.T) {
	t.Parallel()
	cands := corpus(t)
	dir := t.TempDir()
	valid := 0
	for _, src := range sortedKeys(cands) {
		if !acceptedByLoad(src, dir) {
			continue
		}
		valid++
		if err := schemaErr(t, src); err != nil {
			t.Errorf("%s: valid config refused by the schema:\n%s\n%v", cands[src], src, err)
		}
	}
	t.Logf("%d valid configs out of %d candidates checked against the schema", valid, len(cands))
	// The extraction must keep finding the tests' configs.
	if valid < 100 {
		t.Errorf("only %d valid configs found, want at least 100", valid)
	}
}

// TestSchemaRefusesTestsKeyAndTypeErrors checks that every configuration
// of the corpus that Load refuses only for unknown keys and wrong types
// is refused by the schema too.
func TestSchemaRefusesTestsKeyAndTypeErrors(t *testing.T) {
	t.Parallel()
	cands := corpus(t)
	dir := t.TempDir()
	n := 0
	for _, src := range sortedKeys(cands) {
		_, err := load(strings.NewReader(src), filepath.Join(dir, "otpsv.yaml"), 1000)
		if err == nil || !onlyKeyAndTypeErrors(err) {
			continue
		}
		n++
		if schemaErr(t, src) == nil {
			t.Errorf("%s: the schema accepts a config Load refuses:\n%s\n%v", cands[src], src, err)
		}
	}
	t.Logf("%d configs with key or type errors checked against the schema", n)
	if n < 30 {
		t.Errorf("only %d configs with key or type errors found, want at least 30", n)
	}
}

// onlyKeyAndTypeErrors reports whether every problem in err, a joined
// error of Load, is an unknown key or a wrong type.
func onlyKeyAndTypeErrors(err error) bool {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		if !errors.Is(e, ErrUnknownKey) && !errors.Is(e, ErrType) {
			return false
		}
	}
	return true
}

// yamlBlocks returns the ```yaml blocks of a Markdown text.
func yamlBlocks(md string) []string {
	var out []string
	var cur []string
	in := false
	for _, line := range strings.Split(md, "\n") {
		switch {
		case !in && strings.HasPrefix(line, "```yaml"):
			in, cur = true, nil
		case in && strings.HasPrefix(line, "```"):
			in = false
			out = append(out, strings.Join(cur, "\n")+"\n")
		case in:
			cur = append(cur, line)
		}
	}
	return out
}

// testStrings returns the strings a Go test file builds from constants:
// literals, their concatenations, named constants and local variables set
// once, and calls of this package's config helpers (proc, svc, sup, job,
// logTree) or fmt.Sprintf with such arguments (an argument it cannot
// evaluate formats as "1", which passes for a path, a number or a name).
func testStrings(file string) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	e := &evaluator{pkg: map[string]ast.Expr{}}
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok {
			e.collect(g, e.pkg)
		}
	}
	var out []string
	seen := map[string]bool{}
	visit := func(root ast.Node, local map[string]ast.Expr) {
		ast.Inspect(root, func(n ast.Node) bool {
			x, ok := n.(ast.Expr)
			if !ok {
				return true
			}
			switch x.(type) {
			case *ast.BasicLit, *ast.BinaryExpr, *ast.CallExpr:
				if v, ok := e.eval(x, local, 0); ok {
					if s, ok := v.(string); ok && !seen[s] {
						seen[s] = true
						out = append(out, s)
					}
				}
			}
			return true
		})
	}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			if g, ok := d.(*ast.GenDecl); ok {
				visit(g, nil)
			}
			continue
		}
		local := map[string]ast.Expr{}
		twice := map[string]bool{}
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			switch s := n.(type) {
			case *ast.GenDecl:
				e.collect(s, local)
			case *ast.AssignStmt:
				if s.Tok == token.DEFINE && len(s.Lhs) == 1 && len(s.Rhs) == 1 {
					if id, ok := s.Lhs[0].(*ast.Ident); ok {
						if _, dup := local[id.Name]; dup {
							twice[id.Name] = true
						}
						local[id.Name] = s.Rhs[0]
					}
				}
			}
			return true
		})
		for name := range twice {
			delete(local, name) // which one a use means is not known
		}
		visit(fd.Body, local)
	}
	return out, nil
}

// evaluator evaluates the constant string expressions of one file.
type evaluator struct {
	pkg map[string]ast.Expr // package-level constants and variables
}

func (e *evaluator) collect(g *ast.GenDecl, into map[string]ast.Expr) {
	if g.Tok != token.CONST && g.Tok != token.VAR {
		return
	}
	for _, sp := range g.Specs {
		vs, ok := sp.(*ast.ValueSpec)
		if !ok || len(vs.Names) != len(vs.Values) {
			continue
		}
		for i, n := range vs.Names {
			into[n.Name] = vs.Values[i]
		}
	}
}

// placeholder formats as "1" whatever the verb.
type placeholder struct{}

func (placeholder) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("1")) }

// eval returns the value of x, a string or a []string, when it is built
// from constants only.
func (e *evaluator) eval(x ast.Expr, local map[string]ast.Expr, depth int) (any, bool) {
	if depth > 20 {
		return nil, false
	}
	depth++
	str := func(x ast.Expr) (string, bool) {
		v, ok := e.eval(x, local, depth)
		s, isStr := v.(string)
		return s, ok && isStr
	}
	strs := func(xs []ast.Expr) ([]string, bool) {
		var out []string
		for _, a := range xs {
			s, ok := str(a)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	switch x := x.(type) {
	case *ast.BasicLit:
		if x.Kind != token.STRING {
			return nil, false
		}
		s, err := strconv.Unquote(x.Value)
		return s, err == nil
	case *ast.ParenExpr:
		return e.eval(x.X, local, depth)
	case *ast.BinaryExpr:
		if x.Op != token.ADD {
			return nil, false
		}
		a, ok1 := str(x.X)
		b, ok2 := str(x.Y)
		return a + b, ok1 && ok2
	case *ast.Ident:
		if d, ok := local[x.Name]; ok {
			return e.eval(d, local, depth)
		}
		if d, ok := e.pkg[x.Name]; ok {
			return e.eval(d, nil, depth)
		}
	case *ast.CompositeLit:
		if at, ok := x.Type.(*ast.ArrayType); ok {
			if id, ok := at.Elt.(*ast.Ident); ok && id.Name == "string" {
				return strs(x.Elts)
			}
		}
	case *ast.CallExpr:
		if sel, ok := x.Fun.(*ast.SelectorExpr); ok {
			if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "fmt" && sel.Sel.Name == "Sprintf" && len(x.Args) > 0 {
				format, ok := str(x.Args[0])
				if !ok {
					return nil, false
				}
				args := make([]any, 0, len(x.Args)-1)
				for _, a := range x.Args[1:] {
					if v, ok := e.eval(a, local, depth); ok {
						args = append(args, v)
					} else {
						args = append(args, placeholder{})
					}
				}
				return fmt.Sprintf(format, args...), true
			}
			return nil, false
		}
		id, ok := x.Fun.(*ast.Ident)
		if !ok {
			return nil, false
		}
		list := func(i int) ([]string, bool) {
			if i >= len(x.Args) {
				return nil, false
			}
			v, ok := e.eval(x.Args[i], local, depth)
			l, isList := v.([]string)
			return l, ok && isList
		}
		switch id.Name {
		case "proc", "svc", "sup":
			lines, ok := strs(x.Args)
			if !ok {
				return nil, false
			}
			return map[string]func(...string) string{"proc": proc, "svc": svc, "sup": sup}[id.Name](lines...), true
		case "job":
			root, ok1 := list(0)
			kid, ok2 := strs(x.Args[1:])
			return job(root, kid...), ok1 && ok2
		case "logTree":
			set, ok1 := list(0)
			root, ok2 := list(1)
			grp, ok3 := list(2)
			kid, ok4 := list(3)
			return logTree(set, root, grp, kid), ok1 && ok2 && ok3 && ok4
		}
	}
	return nil, false
}

func TestTestStringsFindsHelpers(t *testing.T) {
	t.Parallel()
	strs, err := testStrings("health_test.go")
	if err != nil {
		t.Fatal(err)
	}
	want := proc("ready: spawn")
	for _, s := range strs {
		if s == want {
			return
		}
	}
	t.Errorf("proc(\"ready: spawn\") not among the %d strings of health_test.go", len(strs))
}

// TestSchemaRefusesWhatLoadRefuses: configs with a key or type error (and
// some value errors the schema can see) are refused by both.
func TestSchemaRefusesWhatLoadRefuses(t *testing.T) {
	t.Parallel()
	const kids = "  children: [{name: a, command: x}]\n"
	node := func(lines ...string) string { return proc(lines...) } // a process worker under r
	cases := []struct {
		name string
		src  string
		want error
	}{
		// Unknown keys.
		{"top-level key", "colour: red\ntree: {name: r, command: x}\n", ErrUnknownKey},
		{"settings key", "settings: {colour: red}\ntree: {name: r, command: x}\n", ErrUnknownKey},
		{"node key", node("colour: red"), ErrUnknownKey},
		{"pattern on a process worker", node("pattern: x"), ErrUnknownKey},
		{"stop_signal on a service worker", svc("stop_signal: TERM"), ErrUnknownKey},
		{"children on a typed process worker", "tree:\n  name: r\n  type: process\n  command: x\n" + kids, ErrUnknownKey},
		{"ready on a service worker", svc("ready: notify"), ErrUnknownKey},
		{"log on a service worker", svc("log: {to: stdout}"), ErrUnknownKey},
		{"pidfile on a supervisor", "tree:\n  name: r\n  pidfile: /run/r.pid\n" + kids, ErrUnknownKey},
		{"strategy on a process worker", node("strategy: one_for_all"), ErrUnknownKey},
		{"auto_shutdown on a process worker", node("auto_shutdown: any_significant"), ErrUnknownKey},
		{"command on a typed service worker", "tree:\n  name: r\n  type: service\n  start: x\n  command: y\n", ErrUnknownKey},
		{"probes kind", node("probes: {startup: {tcp: \"h:1\"}}"), ErrUnknownKey},
		{"probe key", node("probes: {liveness: {tcp: \"h:1\", interval: 5s}}"), ErrUnknownKey},
		{"backoff key", node("backoff: {min: 1s}"), ErrUnknownKey},
		{"log key", node("log: {rotate: true}"), ErrUnknownKey},
		{"settings log key", "settings: {log: {color: true}}\ntree: {name: r, command: x}\n", ErrUnknownKey},
		{"key beside include", "tree:\n  name: r\n  children:\n    - include: conf.d/*.yaml\n      name: y\n", ErrUnknownKey},
		{"include as the root", "tree: {include: conf.d/*.yaml}\n", ErrUnknownKey},
		{"typo of a key", node("stop_timout: 5s"), ErrUnknownKey},
		// Wrong types.
		{"file is a list", "- tree\n", ErrType},
		{"tree is a list", "tree: [a]\n", ErrType},
		{"settings is a list", "settings: [a]\ntree: {name: r, command: x}\n", ErrType},
		{"vars is a list", "vars: [a]\ntree: {name: r, command: x}\n", ErrType},
		{"vars value is a list", "vars: {a: [b]}\ntree: {name: r, command: x}\n", ErrType},
		{"node vars is a string", node("vars: x"), ErrType},
		{"name is a list", "tree: {name: [r], command: x}\n", ErrType},
		{"children is a mapping", "tree:\n  name: r\n  children: {name: a, command: x}\n", ErrType},
		{"child is a string", "tree:\n  name: r\n  children: [a]\n", ErrType},
		{"command is a mapping", "tree: {name: r, command: {a: b}}\n", ErrType},
		{"command is null", "tree:\n  name: r\n  children:\n    - name: w\n      command:\n", ErrType},
		{"command word is a list", "tree: {name: r, command: [x, [y]]}\n", ErrType},
		{"env is a list", node("env: [A=b]"), ErrType},
		{"env value is a mapping", node("env: {A: {b: c}}"), ErrType},
		{"stop_signal is a list", node("stop_signal: [TERM]"), ErrType},
		{"stop_timeout is null", node("stop_timeout:"), ErrType},
		{"stdout is null", node("stdout:"), ErrType},
		{"intensity is a list", "tree:\n  name: r\n  intensity: [3]\n" + kids, ErrType},
		{"probes is a list", node("probes: [a]"), ErrType},
		{"probe is a string", node("probes: {readiness: \"http://h/\"}"), ErrType},
		{"backoff is null", node("backoff:"), ErrType},
		{"log is a string", node("log: stdout"), ErrType},
		{"include is a list", "tree:\n  name: r\n  children:\n    - include: [a.yaml]\n", ErrType},
		{"significant is a list", "tree:\n  name: r\n  auto_shutdown: any_significant\n  children: [{name: a, command: x, restart: temporary, significant: [true]}]\n", ErrType},
		// Values the schema can see too.
		{"strategy", "tree:\n  name: r\n  strategy: one_for_most\n" + kids, ErrInvalidValue},
		{"restart type", node("restart: sometimes"), ErrInvalidValue},
		{"node type", "tree: {name: r, type: worker, command: x}\n", ErrInvalidValue},
		{"log level", "settings: {log_level: loud}\ntree: {name: r, command: x}\n", ErrInvalidValue},
		{"duration in words", node("stop_timeout: 10 seconds"), ErrInvalidValue},
		{"fractional seconds", node("stop_timeout: 1.5"), ErrInvalidValue},
		{"negative duration", node("stop_timeout: -1s"), ErrInvalidValue},
		{"zero period", "tree:\n  name: r\n  period: 0\n" + kids, ErrInvalidValue},
		{"negative intensity", "tree:\n  name: r\n  intensity: -1\n" + kids, ErrInvalidValue},
		{"signal name", node("stop_signal: SIGFOO"), ErrInvalidValue},
		{"signal number", node("stop_signal: 65"), ErrInvalidValue},
		{"ready fd", node("ready: fd:2"), ErrInvalidValue},
		{"jitter", node("backoff: {jitter: 1}"), ErrInvalidValue},
		{"backoff true", node("backoff: true"), ErrInvalidValue},
		{"boolean yes", "tree:\n  name: r\n  auto_shutdown: any_significant\n  children: [{name: a, command: x, restart: temporary, significant: yes}]\n", ErrInvalidValue},
		{"size unit", node("log: {max_size: 10M}"), ErrInvalidValue},
		{"keep 0", node("log: {max_size: 1MiB, keep: 0}"), ErrInvalidValue},
		{"prefix line break", node("log: {prefix: \"a\\nb\"}"), ErrInvalidValue},
		{"liveness success_threshold", node("probes: {liveness: {tcp: \"h:1\", success_threshold: 2}}"), ErrInvalidValue},
		{"threshold 0", node("probes: {readiness: {tcp: \"h:1\", failure_threshold: 0}}"), ErrInvalidValue},
		{"http scheme", node("probes: {readiness: {http: \"ftp://h/\"}}"), ErrInvalidValue},
		{"name", "tree: {name: a b, command: x}\n", ErrInvalidName},
		{"variable name", "vars: {a-b: x}\ntree: {name: r, command: x}\n", ErrInvalidName},
		{"empty command", node("status: []"), ErrInvalidValue},
		{"blank command", "tree: {name: r, command: \"  \\t \"}\n", ErrInvalidValue},
		{"empty stdout", node("stdout: \"\""), ErrInvalidValue},
		// Structure.
		{"no tree", "settings: {}\n", ErrMissingKey},
		{"no name", "tree: {command: x}\n", ErrMissingKey},
		{"supervisor without children", "tree: {name: r, type: supervisor}\n", ErrMissingKey},
		{"service without control or start", "tree: {name: r, type: service, stop: x}\n", ErrMissingKey},
		{"probe without a kind", node("probes: {readiness: {period: 1s}}"), ErrMissingKey},
		{"empty children", "tree: {name: r, children: []}\n", ErrEmptyChildren},
		{"no kind key", "tree: {name: r}\n", ErrNodeType},
		{"two kinds", "tree: {name: r, command: x, start: y}\n", ErrNodeType},
		{"two probe kinds", node("probes: {readiness: {tcp: \"h:1\", exec: x}}"), ErrConflictingKeys},
		{"watchdog without notify", node("watchdog: 10s"), ErrConflictingKeys},
		{"max_size beside to: stdout", node("log: {to: stdout, max_size: 1MiB}"), ErrConflictingKeys},
		{"log with both streams given", node("stdout: inherit", "stderr: inherit", "log: {to: stdout}"), ErrConflictingKeys},
		{"significant permanent", "tree:\n  name: r\n  auto_shutdown: any_significant\n  children: [{name: a, command: x, significant: true}]\n", ErrSignificant},
		{"significant under never", "tree:\n  name: r\n  children: [{name: a, command: x, restart: temporary, significant: true}]\n", ErrSignificant},
		{"significant service", "tree:\n  name: r\n  auto_shutdown: any_significant\n  children: [{name: a, start: x, significant: true}]\n", ErrSignificant},
		{"significant root", "tree: {name: r, command: x, restart: temporary, significant: true}\n", ErrSignificant},
	}
	typeOrKey := 0
	for _, tc := range cases {
		if tc.want == ErrUnknownKey || tc.want == ErrType {
			typeOrKey++
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(strings.NewReader(tc.src), filepath.Join(t.TempDir(), "otpsv.yaml"), 1000)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Load: got %v, want %v\n%s", err, tc.want, tc.src)
			}
			if schemaErr(t, tc.src) == nil {
				t.Errorf("schema accepts it; Load says %v\n%s", err, tc.src)
			}
		})
	}
	if typeOrKey < 20 {
		t.Errorf("%d key or type errors in the table, want at least 20", typeOrKey)
	}
}

// TestSchemaKeys checks that the schema holds exactly the keys the
// loader accepts on each kind of node and section, each described.
func TestSchemaKeys(t *testing.T) {
	t.Parallel()
	doc := schemaDoc()
	defs := doc.get("$defs").(obj)
	def := func(name string) obj {
		d, ok := defs.get(name).(obj)
		if !ok {
			t.Fatalf("no $defs/%s", name)
		}
		return d
	}
	propsOf := func(d obj) []string {
		var keys []string
		for _, m := range d.get("properties").(obj) {
			keys = append(keys, m.key)
		}
		return keys
	}
	all := append(append(append([]string(nil), commonKeys...), supervisorKeys...), processKeys...)
	all = append(all, serviceKeys...)
	settingsKeys := []string{"state_dir", "check_interval", "log_level", "log_format", "metrics", "log"}
	backoff := def("backoff").get("anyOf").([]any)[2].(obj)
	for _, tc := range []struct {
		def  string
		s    obj
		want []string
	}{
		{"supervisor", def("supervisor"), append(append([]string(nil), commonKeys...), supervisorKeys...)},
		{"process", def("process"), append(append([]string(nil), commonKeys...), processKeys...)},
		{"service", def("service"), append(append([]string(nil), commonKeys...), serviceKeys...)},
		{"any_node", def("any_node"), all},
		{"probe", def("probe"), probeKeys},
		{"liveness_probe", def("liveness_probe"), probeKeys},
		{"probes", def("probes"), []string{"readiness", "liveness"}},
		{"backoff", backoff, backoffKeys},
		{"log", def("log"), logKeys},
		{"settings", def("settings"), settingsKeys},
		{"include_item", def("include_item"), []string{"include"}},
		{"top level", doc, []string{"settings", "vars", "tree"}},
	} {
		got, want := dedup(propsOf(tc.s)), dedup(tc.want)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s keys: got %v, want %v", tc.def, got, want)
		}
		if ap := tc.s.get("additionalProperties"); ap != false {
			t.Errorf("%s: additionalProperties = %v, want false", tc.def, ap)
		}
	}

	// Every key of the settings is one the loader knows.
	for _, k := range settingsKeys {
		src := fmt.Sprintf("settings: {%s: x}\ntree: {name: r, command: x}\n", k)
		if _, err := load(strings.NewReader(src), testFile, 1000); errors.Is(err, ErrUnknownKey) {
			t.Errorf("settings key %s: Load says %v", k, err)
		}
	}

	// Every property, everywhere, has a one-line description; the
	// conditions of if are not properties of the file.
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case obj:
			for _, m := range x {
				switch m.key {
				case "if":
					continue
				case "properties":
					// Its members are names, each with a schema.
					for _, p := range m.val.(obj) {
						d, _ := p.val.(obj).get("description").(string)
						if d == "" || strings.Contains(d, "\n") {
							t.Errorf("%s/properties/%s: description %q, want one line", path, p.key, d)
						}
						walk(path+"/properties/"+p.key, p.val)
					}
					continue
				case "description":
					if d, _ := m.val.(string); d == "" || strings.Contains(d, "\n") {
						t.Errorf("%s: description %q, want one line", path, d)
					}
				}
				walk(path+"/"+m.key, m.val)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s/%d", path, i), e)
			}
		}
	}
	walk("#", doc)
}

func dedup(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

// scalarSamples are strings around what the loader's scalar parsers take.
var scalarSamples = []string{
	"", " ", "0", "00", "1", "+1", "-1", "-0", " 3 ", "007", "1.5", ".5", "5.", "1e3", "0x10", "1_000", "Inf", "NaN",
	"10s", "500ms", "2m", "1h30m", "1.5s", ".5s", "5.s", "+10s", "-10s", "+0", "10 s", " 10s ", "10 seconds", "1d", "1us", "1µs", "1μs", "1ns", "s", "10S",
	"10MiB", "10MB", "10 MiB", "10mib", "10M", "10k", "1048576", "1KB", "1kib", "5TiB", "1.5MiB", "-1MiB", "10MiB ",
	"TERM", "SIGTERM", "term", "SigTerm", "sigterm", "IOT", "RTMIN", "SIGFOO", "15", "64", "65", "0", "064", " INT ", "usr1", "WINCH",
	"true", "True", "TRUE", "false", "False", "FALSE", "yes", "no", "on", "tRUE",
	"spawn", "notify", "fd:3", "fd:1023", "fd:1024", "fd:2", "fd:03", "fd:", "fd:x", "Notify",
	"a", "a-b_c.d", "a b", "a/b", "${x}", "a${x}", "$${x}", "${x", "$x",
}

// scalarChecks pairs a schema definition with what the loader does for a
// string of that kind.
var scalarChecks = []struct {
	def  string
	load func(string) bool
}{
	{"duration", func(s string) bool { _, err := parseDuration(s); return err == nil }},
	{"positive_duration", func(s string) bool { d, err := parseDuration(s); return err == nil && d > 0 }},
	{"signal", func(s string) bool { _, err := parseSignal(s); return err == nil }},
	{"boolean", func(s string) bool {
		a := &at{l: &loader{}, sc: &scope{}}
		_, ok := a.boolean("k", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s})
		return ok
	}},
	{"log/properties/max_size", func(s string) bool { _, err := parseSize(s); return err == nil }},
	{"log/properties/keep", func(s string) bool { n, err := strconv.Atoi(strings.TrimSpace(s)); return err == nil && n >= 1 }},
	{"supervisor/properties/intensity", func(s string) bool { n, err := strconv.Atoi(strings.TrimSpace(s)); return err == nil && n >= 0 }},
	{"process/properties/ready", func(s string) bool {
		a := &at{l: &loader{}, sc: &scope{}}
		_, _, ok := a.ready(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s})
		return ok
	}},
	{"process/properties/name", func(s string) bool { return nameRE.MatchString(s) }},
}

// TestSchemaScalars checks the schema's patterns against the loader's own
// parsers: every string the loader takes passes; and a few it refuses are
// refused (most of them: the schema is permissive, never stricter).
func TestSchemaScalars(t *testing.T) {
	t.Parallel()
	for _, s := range scalarSamples {
		checkScalar(t, s)
	}
	for i := -2; i <= 70; i++ {
		checkScalar(t, strconv.Itoa(i))
	}
	for name := range signals {
		for _, s := range []string{name, "SIG" + name, strings.ToLower(name), "Sig" + strings.ToLower(name)} {
			checkScalar(t, s)
		}
	}
	refused := map[string][]string{
		"duration":                 {"-1s", "1.5", "10 seconds", "1d", "s", ""},
		"positive_duration":        {"-1s", "1.5", "10 seconds"},
		"signal":                   {"SIGFOO", "65", "0", "RTMIN"},
		"boolean":                  {"yes", "no", "on", "tRUE"},
		"log/properties/max_size":  {"10M", "10k", "-1MiB", "1.5MiB", ""},
		"process/properties/ready": {"fd:2", "fd:1024", "Notify", "fd:"},
		"process/properties/name":  {"a b", "a/b", ""},
	}
	for def, strs := range refused {
		sch := schemaAt(t, "/$defs/"+def)
		for _, s := range strs {
			if sch.Validate(s) == nil {
				t.Errorf("%s: schema accepts %q", def, s)
			}
		}
	}
}

func checkScalar(t testing.TB, s string) {
	t.Helper()
	for _, c := range scalarChecks {
		if !c.load(s) {
			continue
		}
		if err := schemaAt(t, "/$defs/"+c.def).Validate(s); err != nil {
			t.Errorf("%s: the loader takes %q, the schema refuses it: %v", c.def, s, err)
		}
	}
}

// FuzzSchemaScalars: whatever string the loader takes for a duration,
// signal, size, count, boolean, ready or name, the schema takes too.
func FuzzSchemaScalars(f *testing.F) {
	for _, s := range scalarSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkScalar(t, s) })
}

// TestSchemaIntegers: numbers in YAML reach the schema as JSON numbers.
func TestSchemaIntegers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		def       string
		ok, notOK []any
	}{
		{"duration", []any{0, 1, 30}, []any{-1, 1.5}},
		{"positive_duration", []any{1, 30}, []any{0, -1, 1.5}},
		{"signal", []any{1, 15, 64}, []any{0, 65}},
		{"supervisor/properties/intensity", []any{0, 3}, []any{-1, 2.5}},
		{"log/properties/keep", []any{1, 5}, []any{0}},
		{"log/properties/max_size", []any{0, 1048576}, []any{-1}},
		{"backoff/anyOf/2/properties/jitter", []any{0, 0.2}, []any{1, -0.1}},
		{"backoff/anyOf/2/properties/factor", []any{1, 2.5}, []any{0.5}},
	} {
		sch := schemaAt(t, "/$defs/"+tc.def)
		for _, v := range tc.ok {
			if err := sch.Validate(jsonNumber(t, v)); err != nil {
				t.Errorf("%s: %v refused: %v", tc.def, v, err)
			}
		}
		for _, v := range tc.notOK {
			if sch.Validate(jsonNumber(t, v)) == nil {
				t.Errorf("%s: %v accepted", tc.def, v)
			}
		}
	}
}

func jsonNumber(t testing.TB, v any) any {
	t.Helper()
	b, _ := json.Marshal(v)
	x, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestSchemaPatternsCompile: every pattern is a valid Go regular
// expression (the validator's dialect here); the ECMA-262 dialect of
// editors shares the constructs used ([...], \s, \v, \$, \{, |, ?, +, *),
// and no pattern uses a (?...) group, which it reads otherwise or not at all.
func TestSchemaPatternsCompile(t *testing.T) {
	t.Parallel()
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case obj:
			for _, m := range x {
				if m.key == "properties" {
					// Its members are names, each with a schema.
					for _, p := range m.val.(obj) {
						walk(p.val)
					}
					continue
				}
				if m.key == "pattern" {
					if _, err := regexp.Compile(m.val.(string)); err != nil {
						t.Errorf("pattern %q: %v", m.val, err)
					}
					if strings.Contains(m.val.(string), "(?") {
						t.Errorf("pattern %q: (? groups are not portable", m.val)
					}
				}
				walk(m.val)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(schemaDoc())
}

// TestLowerToASCII: the only runes beyond ASCII that strings.ToLower
// turns into ASCII letters are the Kelvin sign and the dotted capital I,
// which sizePattern takes as k and i.
func TestLowerToASCII(t *testing.T) {
	t.Parallel()
	for r := rune(128); r <= 0x10FFFF; r++ {
		l := strings.ToLower(string(r))
		if len(l) == 1 && l[0] >= 'a' && l[0] <= 'z' && r != '\u212a' && r != '\u0130' {
			t.Errorf("strings.ToLower(%q) = %q, not in sizePattern", r, l)
		}
	}
	for _, s := range []string{"1\u212aB", "1\u212a\u0130B"} {
		if _, err := parseSize(s); err != nil {
			t.Fatalf("parseSize(%q): %v", s, err)
		}
		checkScalar(t, s)
	}
}

// TestWhiteSpaceClass: ws matches all that strings.TrimSpace removes.
func TestWhiteSpaceClass(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^` + ws + `$`)
	for r := rune(0); r <= 0x10FFFF; r++ {
		if unicode.IsSpace(r) && !re.MatchString(string(r)) {
			t.Errorf("ws does not match %U", r)
		}
	}
}

// TestUpperTo: the only runes beyond ASCII that strings.ToUpper turns
// into an ASCII letter are those upperTo lists for the signal pattern.
func TestUpperTo(t *testing.T) {
	t.Parallel()
	for r := rune(128); r <= 0x10FFFF; r++ {
		u := strings.ToUpper(string(r))
		if len(u) == 1 && u[0] >= 'A' && u[0] <= 'Z' && !strings.ContainsRune(upperTo[rune(u[0])], r) {
			t.Errorf("strings.ToUpper(%q) = %q, missing from upperTo", r, u)
		}
	}
}
