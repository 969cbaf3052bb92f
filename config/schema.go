package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode"
)

// Schema returns a JSON Schema (draft 2020-12) of the main configuration
// file, indented, for editors that check and complete YAML against one
// (yaml-language-server). `otpsv schema` prints it.
//
// The schema is permissive where it must be: a configuration that Load
// accepts never fails it. So every string-like key also takes numbers and
// booleans (Load reads a scalar's text, and `name: 1` is a valid name),
// and any string holding ${name} passes the checks of its key, since only
// Load knows the value it expands to. What the schema cannot express is
// left to `otpsv validate`: existing users, include files, regular
// expressions, max >= initial, the uniqueness of sibling names.
//
// The node kinds, and the keys each accepts, are taken from the loader's
// own lists (commonKeys, supervisorKeys, processKeys, serviceKeys,
// probeKeys, backoffKeys, logKeys), so that a key added there without a
// description here shows up in the tests.
func Schema() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(schemaDoc()); err != nil {
		// Every value is built here from strings, numbers and obj.
		panic(fmt.Sprintf("config: encoding the schema: %v", err))
	}
	// The white space of ws would print as blanks, or as nothing; as JSON
	// escapes it reads, and decodes to the same characters.
	return []byte(escapeSpaces(b.String()))
}

// escapeSpaces writes the white space beyond ASCII in s, which only
// occurs inside JSON strings, as \uXXXX escapes.
func escapeSpaces(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r > 0x7f && unicode.IsSpace(r) {
			fmt.Fprintf(&b, `\u%04x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// obj is a JSON object whose keys keep the order they are written in, so
// that the printed schema reads like the documentation (description
// first, then the checks).
type obj []member

type member struct {
	key string
	val any
}

// o builds an obj from alternating keys and values.
func o(kv ...any) obj {
	if len(kv)%2 != 0 {
		panic("config: o needs key, value pairs")
	}
	out := make(obj, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		out = append(out, member{kv[i].(string), kv[i+1]})
	}
	return out
}

// with returns a copy of x followed by the members kv.
func (x obj) with(kv ...any) obj {
	return append(append(obj(nil), x...), o(kv...)...)
}

// get returns the value of key, nil when absent.
func (x obj) get(key string) any {
	for _, m := range x {
		if m.key == key {
			return m.val
		}
	}
	return nil
}

// MarshalJSON writes the members in order.
func (x obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range x {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := marshalPlain(m.key)
		if err != nil {
			return nil, err
		}
		v, err := marshalPlain(m.val)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.key, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshalPlain is json.Marshal without HTML escaping: descriptions say
// "<control> start", which editors would otherwise show as \u003c.
func marshalPlain(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func ref(def string) obj { return o("$ref", "#/$defs/"+def) }

// described puts a description before the schema s.
func described(desc string, s obj) obj { return append(o("description", desc), s...) }

// hasVar is the alternative, in a string pattern, that lets through any
// value holding ${name}: Load checks it once expanded.
const hasVar = `|\$\{`

// Scalar types: Load reads a scalar's text, so 8080, true and "8080" are
// the same to it.
var scalarTypes = []string{"string", "number", "boolean"}

// choice is one of words, or a value holding ${name}.
func choice(desc string, def any, words ...string) obj {
	s := o("description", desc, "anyOf", []any{o("enum", words), ref("var_ref")})
	if def != nil {
		s = s.with("default", def)
	}
	return s
}

// caseless turns a word into a pattern that matches it in any case, since
// the pattern dialects of editors (ECMA-262) and of Go share no flag for it.
func caseless(w string) string {
	var b strings.Builder
	for _, r := range w {
		lo, up := strings.ToLower(string(r)), strings.ToUpper(string(r))
		if lo == up {
			b.WriteRune(r)
			continue
		}
		b.WriteString("[" + lo + up + upperTo[r] + "]")
	}
	return b.String()
}

// upperTo holds the runes beyond ASCII that strings.ToUpper maps to an
// ASCII letter, which parseSignal therefore reads as that letter.
var upperTo = map[rune]string{'I': "ı", 'i': "ı", 'S': "ſ", 's': "ſ"}

// signalPattern matches what parseSignal accepts as a string: a known
// name, with or without SIG, in any case, or a number from 1 to 64.
func signalPattern() string {
	names := make([]string, 0, len(signals))
	for n := range signals {
		names = append(names, caseless(n))
	}
	// Longest first, so that no name is cut at a shorter one's end.
	sort.Slice(names, func(i, j int) bool {
		if len(names[i]) != len(names[j]) {
			return len(names[i]) > len(names[j])
		}
		return names[i] < names[j]
	})
	return `^` + ws + `*((` + caseless("SIG") + `)?(` + strings.Join(names, "|") + `)|0*([1-9]|[1-5][0-9]|6[0-4]))` + ws + `*$` + hasVar
}

// ws is the white space strings.TrimSpace removes, as a character class:
// \s of Go's regular expressions leaves out \v and what is beyond ASCII.
// The characters are written as themselves, since the pattern dialects
// of editors (ECMA-262) and of Go share no escape for them.
const ws = "[\\s\\v\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"

// Patterns of the scalar values Load parses, for strings; each also lets
// a ${name} through (hasVar).
const (
	// durationPattern: parseDuration, that is Go's time.ParseDuration
	// without a sign but "+", or a whole number of seconds.
	durationPattern = `^` + ws + `*(\+?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)|[0-9]+)` + ws + `*$` + hasVar
	// wholePattern: strconv.Atoi of the trimmed text.
	wholePattern = `^` + ws + `*[+-]?[0-9]+` + ws + `*$` + hasVar
	// numberPattern: strconv.ParseFloat of the trimmed text, loosely
	// (decimal, exponent, hexadecimal, underscores).
	numberPattern = `^` + ws + `*[+-]?(0[xX])?[0-9A-Fa-f_.]+([eEpP][+-]?[0-9_]+)?` + ws + `*$` + hasVar
	// sizePattern: parseSize, which lower-cases the unit, and with it the
	// Kelvin sign to k and the dotted capital I to i.
	sizePattern = `^` + ws + `*[0-9]+` + ws + `*([bB]|[kKmMgGtT` + "\u212a" + `][iI` + "\u0130" + `]?[bB])?` + ws + `*$` + hasVar
	// booleanPattern: YAML 1.2's spellings, as boolean reads them.
	booleanPattern = `^(true|True|TRUE|false|False|FALSE)$` + hasVar
	// readyFDPattern: fd:N with N from 3 to 1023.
	readyFDPattern = `^fd:0*([3-9]|[1-9][0-9]|[1-9][0-9][0-9]|10[01][0-9]|102[0-3])$`
	// namePattern: nameRE, or a value holding ${name}.
	namePattern = `^([A-Za-z0-9_.-]|\$\{[A-Za-z_][A-Za-z0-9_]*\})+$`
	// varNamePattern: varRE.
	varNamePattern = `^[A-Za-z_][A-Za-z0-9_]*$`
)

// Values that mean "significant" and "not significant" to boolean.
var (
	trueValues  = []any{true, "true", "True", "TRUE"}
	falseValues = []any{false, "false", "False", "FALSE"}
)

// isSignificant is a node with significant: true.
var isSignificant = o("required", []string{"significant"},
	"properties", o("significant", o("enum", trueValues)))

func schemaDoc() obj {
	return o(
		"$schema", "https://json-schema.org/draft/2020-12/schema",
		"title", "otpsv configuration (otpsv.yaml)",
		"description", "The main configuration file of otpsv: settings, vars and the supervision tree. Generated by `otpsv schema`.",
		"type", "object",
		"properties", o(
			"settings", described("Tree-wide options; all optional.", ref("settings")),
			"vars", described("Variables for ${name} in every value, visible everywhere, included files too.", ref("vars")),
			"tree", described("The root node, normally a supervisor; its name is the first element of every path.",
				ref("node").with("properties", o("significant", described(
					"The root has no supervisor to shut down: significant must be false.", ref("not_significant"))))),
		),
		"required", []string{"tree"},
		"additionalProperties", false,
		"$defs", defs(),
	)
}

func defs() obj {
	return o(
		"var_ref", o(
			"description", "A value holding ${name}: otpsv validate checks it once expanded.",
			"type", "string",
			"pattern", `\$\{[A-Za-z_][A-Za-z0-9_]*\}`),
		"scalar", o(
			"description", "A YAML scalar, read as its text.",
			"type", scalarTypes),
		"nonempty", o(
			"description", "A YAML scalar, read as its text; not empty.",
			"type", scalarTypes,
			"minLength", 1),
		"vars", o(
			"description", "Variables: names [A-Za-z_][A-Za-z0-9_]* to scalar values; a value may use the variables defined before it.",
			"type", []string{"object", "null"},
			"propertyNames", o("pattern", varNamePattern),
			"additionalProperties", o("type", append(append([]string(nil), scalarTypes...), "null"))),
		"command", o(
			"description", "A command: a list of words (argv, no shell), or a string split with shell-like quoting ('foo bar' is one word).",
			"type", append(append([]string(nil), scalarTypes...), "array"),
			// A word: not only the blanks splitWords splits at (\S differs
			// between Go's and editors' dialects).
			"pattern", `[^ \t\n\r]`,
			"minItems", 1,
			// prefixItems takes the first word from items: it is checked here.
			"prefixItems", []any{ref("scalar").with("minLength", 1)},
			"items", ref("scalar")),
		"duration", o(
			"description", "A duration >= 0: Go syntax (500ms, 10s, 2m, 1h30m) or whole seconds.",
			"type", []string{"string", "integer"},
			"minimum", 0,
			"pattern", durationPattern),
		"positive_duration", o(
			"description", "A duration > 0: Go syntax (500ms, 10s, 2m, 1h30m) or whole seconds.",
			"type", []string{"string", "integer"},
			"minimum", 1,
			"pattern", durationPattern),
		"signal", o(
			"description", "A signal: a name with or without SIG, in any case (TERM, SIGTERM, term), or a number from 1 to 64.",
			"type", []string{"string", "integer"},
			"minimum", 1,
			"maximum", 64,
			"pattern", signalPattern(),
			"examples", []string{"TERM", "INT", "QUIT", "HUP", "KILL", "USR1", "USR2", "WINCH"}),
		"boolean", o(
			"description", "true or false.",
			"type", []string{"boolean", "string"},
			"pattern", booleanPattern),
		"not_significant", o(
			"description", "false (significant: true is refused here).",
			"anyOf", []any{o("enum", falseValues), ref("var_ref")}),
		"restart_type", choice("When the node is restarted after it ends: always (permanent), only after a failure (transient), or never (temporary).",
			"permanent", "permanent", "transient", "temporary"),
		"output", o(
			"description", "A file path (appended to, relative to this file), inherit (otpsv's own stream) or discard.",
			"type", scalarTypes,
			"minLength", 1,
			"examples", []string{"inherit", "discard"}),
		"settings", settingsDef(),
		"log", logDef(),
		"backoff", backoffDef(),
		"probes", probesDef(),
		"probe", probeDef(false),
		"liveness_probe", probeDef(true),
		"include_item", o(
			"description", "An include item: the nodes of the files it names take its place.",
			"type", "object",
			"properties", o("include", described(
				"A file or glob (relative to this file, ${vars} expanded) whose nodes take this item's place, in lexical order; a glob matching nothing adds none.",
				ref("nonempty"))),
			"required", []string{"include"},
			"additionalProperties", false),
		"child", o(
			"description", "A node, or an include item.",
			"if", o("type", "object", "required", []string{"include"}),
			"then", ref("include_item"),
			"else", ref("node")),
		"node", nodeDef(),
		"supervisor", kindDef(Supervisor),
		"process", kindDef(Process),
		"service", kindDef(Service),
		"any_node", anyNodeDef(),
	)
}

func settingsDef() obj {
	return o(
		"description", "Tree-wide options; all optional. Values may use the top-level vars.",
		"type", []string{"object", "null"},
		"properties", o(
			"state_dir", described("Where state, lock, control socket and default logs live, relative to this file; --state-dir and $OTPSV_STATE_DIR win over it. Default: /var/lib/otpsv/<root name> for root, else $XDG_STATE_HOME/otpsv/<root name> or ~/.local/state/otpsv/<root name>.",
				ref("nonempty")),
			"check_interval", described("How often the daemon runs service worker checks and process worker status checks (default 30s).",
				ref("positive_duration").with("default", "30s")),
			"log_level", choice("otpsv's own log level (default info); otpsv daemon --log-level overrides it.",
				"info", "debug", "info", "warn", "error"),
			"log_format", choice("otpsv's own log format (default text); with json, every supervision event is one JSON object.",
				"text", "text", "json"),
			"metrics", o(
				"description", "Where the daemon serves Prometheus metrics at /metrics: HOST:PORT or unix:/PATH (default: off); otpsv daemon --metrics overrides it.",
				"type", "string",
				"pattern", `^unix:/|:[+-]?[0-9]+$`+hasVar,
				"examples", []string{"127.0.0.1:9184"}),
			"log", described("The output log of every process worker, key by key unless a supervisor or the worker sets its own.", ref("log")),
		),
		"additionalProperties", false,
	)
}

func logDef() obj {
	docs := map[string]obj{
		"to": choice("Where the output goes: file (state_dir/logs/<path>.log, the default) or stdout (otpsv's own stdout).",
			"file", "file", "stdout"),
		"timestamps": described("Prefix each line with its RFC 3339 UTC time (default false for file, true for stdout).", ref("boolean")),
		"prefix": o(
			"description", "Written before each line (after the timestamp); {path} and {name} expand (default \"\" for file, \"{path}: \" for stdout).",
			"type", scalarTypes,
			"pattern", `^[^\r\n]*$`),
		"max_size": o(
			"description", "Rotate the file before it would exceed this size: 1048576, 512KiB, 10MiB, 10MB (0: never, the default); files only.",
			"type", []string{"string", "integer"},
			"minimum", 0,
			"pattern", sizePattern),
		"keep": o(
			"description", "Rotated files kept: <file>.1 (the newest) to <file>.N (a whole number >= 1, default 5); files only.",
			"type", []string{"string", "integer"},
			"minimum", 1,
			"pattern", wholePattern),
	}
	return o(
		"description", "How process workers' output is written: every line of stdout and stderr goes through otpsv.",
		"type", []string{"object", "null"},
		"properties", keyed(logKeys, docs),
		"additionalProperties", false,
		// max_size and keep written beside to: stdout are an error.
		"if", o("type", "object", "required", []string{"to"}, "properties", o("to", o("const", "stdout"))),
		"then", o("properties", o(
			"max_size", o("description", "max_size is for files, and this log goes to stdout.", "not", o()),
			"keep", o("description", "keep is for files, and this log goes to stdout.", "not", o()))),
	)
}

func backoffDef() obj {
	docs := map[string]obj{
		"initial":     described("Delay before the first restart (default 100ms).", ref("positive_duration").with("default", "100ms")),
		"max":         described("The longest delay, at least initial (default 30s).", ref("positive_duration").with("default", "30s")),
		"factor":      o("description", "Each further failure multiplies the delay by it (a number >= 1, default 2).", "type", []string{"string", "number"}, "minimum", 1, "pattern", numberPattern, "default", 2),
		"jitter":      o("description", "Random spread of each delay, a fraction: 0 <= jitter < 1 (default 0.2).", "type", []string{"string", "number"}, "minimum", 0, "exclusiveMaximum", 1, "pattern", numberPattern, "default", 0.2),
		"reset_after": described("Failures are counted afresh once the worker stayed ready this long (default 60s).", ref("positive_duration").with("default", "60s")),
	}
	return o(
		"description", "Delay before a restart: initial * factor^(n-1), at most max, spread by jitter; none (or false) for no delay. Left-out keys take their defaults.",
		"anyOf", []any{
			o("enum", []any{"none", "false", false}),
			ref("var_ref"),
			o("type", "object", "properties", keyed(backoffKeys, docs), "additionalProperties", false),
		},
	)
}

func probesDef() obj {
	return o(
		"description", "Readiness and/or liveness probes, each exactly one of http, tcp or exec.",
		"type", []string{"object", "null"},
		"properties", o(
			"readiness", described("Runs until it first succeeds (the worker is then ready), then every period; failures make the worker not ready without restarting it.", ref("probe")),
			"liveness", described("Runs every period once the worker is ready; failure_threshold failures in a row kill its process group and count as a failure.", ref("liveness_probe")),
		),
		"additionalProperties", false,
	)
}

func probeDef(liveness bool) obj {
	threshold := o("type", []string{"string", "integer"}, "minimum", 1, "pattern", wholePattern)
	success := described("Successes in a row that make the worker ready again (a whole number >= 1, default 1).", threshold.with("default", 1))
	if liveness {
		// As in Kubernetes, a liveness probe's is 1.
		success = o(
			"description", "Must be 1 for a liveness probe: one success shows the worker alive.",
			"type", []string{"string", "integer"},
			"minimum", 1,
			"maximum", 1,
			"pattern", `^\s*\+?0*1\s*$`+hasVar,
			"default", 1)
	}
	docs := map[string]obj{
		"http": o(
			"description", "GET this http or https URL; a status 200-399 within timeout is success.",
			"type", "string",
			"pattern", `^[hH][tT][tT][pP][sS]?://`+hasVar),
		"tcp": o(
			"description", "Connect to HOST:PORT ([::1]:80 for IPv6); a connection accepted within timeout is success.",
			"type", "string",
			"pattern", `:[0-9]+$`+hasVar),
		"exec":              described("Run this command in its own process group; exit 0 within timeout is success.", ref("command")),
		"period":            described("How often the probe runs (default 10s).", ref("positive_duration").with("default", "10s")),
		"timeout":           described("Limit for one run of the probe (default 1s).", ref("positive_duration").with("default", "1s")),
		"initial_delay":     described("Wait before the first run (default 0s).", ref("duration").with("default", "0s")),
		"failure_threshold": described("Failures in a row that count (a whole number >= 1, default 3).", threshold.with("default", 3)),
		"success_threshold": success,
	}
	desc := "A readiness probe: exactly one of http, tcp or exec, with its timing."
	if liveness {
		desc = "A liveness probe: exactly one of http, tcp or exec, with its timing."
	}
	return o(
		"description", desc,
		"type", "object",
		"properties", keyed(probeKeys, docs),
		"additionalProperties", false,
		"oneOf", []any{
			o("required", []string{"http"}),
			o("required", []string{"tcp"}),
			o("required", []string{"exec"}),
		},
	)
}

// keyed returns the properties named keys, in that order, from docs. A
// key without an entry gets an empty schema, which the tests refuse.
func keyed(keys []string, docs map[string]obj) obj {
	out := make(obj, 0, len(keys))
	for _, k := range keys {
		s, ok := docs[k]
		if !ok {
			s = o()
		}
		out = append(out, member{k, s})
	}
	return out
}

// commonDocs describes the keys every node accepts; kind is the node
// type's schema, or "" for a node whose type is not known yet.
func commonDocs(kind string) map[string]obj {
	typ := choice("The kind of node; inferred when left out: children makes a supervisor, command a process worker, control or start a service worker.",
		nil, "supervisor", "process", "service")
	if kind != "" {
		typ = o("description", typ.get("description"), "const", kind)
	}
	return map[string]obj{
		"name": o(
			"description", "The node's name, [A-Za-z0-9_.-]+, unique among its siblings; a path is the names from the root joined by /.",
			"type", scalarTypes,
			"pattern", namePattern),
		"type":        typ,
		"expected":    choice("The state the operator wants the node in (default running); a supervisor's stopped is imposed on its whole subtree.", "running", "running", "stopped"),
		"vars":        described("Variables for this node and its subtree; they shadow outer ones of the same name.", ref("vars")),
		"significant": described("This node's own exit may shut its supervisor down (default false): only on a transient or temporary node under a supervisor whose auto_shutdown is not never.", ref("boolean").with("default", false)),
	}
}

// kindDocs describes the keys of each node type. Process and service
// workers both have restart, status and timeout, with other meanings.
func kindDocs(t Type) map[string]obj {
	backoff := "Delay before restarting this worker after a failure, or none; default: the nearest supervisor's, else none."
	probes := described("Readiness and/or liveness probes, each exactly one of http, tcp or exec.", ref("probes"))
	switch t {
	case Supervisor:
		return map[string]obj{
			"strategy":      choice("What to restart when a child fails (default one_for_one): it alone, all children (one_for_all), or it and the children after it (rest_for_one).", "one_for_one", "one_for_one", "one_for_all", "rest_for_one"),
			"intensity":     o("description", "The most restarts allowed within period before the supervisor gives up (a whole number >= 0, default 3).", "type", []string{"string", "integer"}, "minimum", 0, "pattern", wholePattern, "default", 3),
			"period":        described("The window for intensity (default 60s).", ref("positive_duration").with("default", "60s")),
			"children":      o("description", "The children, in start order: nodes and include items; not empty.", "type", "array", "minItems", 1, "items", ref("child")),
			"backoff":       described("Delay before restarts, for this supervisor and its whole subtree unless a node sets its own; none for no delay.", ref("backoff")),
			"restart":       described("When the supervisor is restarted after it ends (default permanent); one that shut itself down automatically has exited normally.", ref("restart_type")),
			"auto_shutdown": choice("When significant children shut this supervisor down (default never): at the first trigger (any_significant) or at the last significant child's (all_significant).", "never", "never", "any_significant", "all_significant"),
			"log":           described("The output log of the process workers below, key by key unless a node below sets its own.", ref("log")),
		}
	case Process:
		return map[string]obj{
			"command":       described("The program and its arguments: a list (argv, no shell) or a string split with shell-like quoting.", ref("command")),
			"dir":           described("Working directory of the program, relative to this file (default: otpsv's working directory).", ref("nonempty")),
			"env":           o("description", "Environment variables added to otpsv's own for the program; values may use ${vars}, names may not.", "type", []string{"object", "null"}, "propertyNames", o("minLength", 1, "pattern", "^[^=]*$"), "additionalProperties", o("type", append(append([]string(nil), scalarTypes...), "null"))),
			"user":          described("User the program runs as (a name or number); only when otpsv runs as root, an error otherwise.", ref("nonempty")),
			"group":         described("Group the program runs as (a name or number), instead of the user's primary group; only when otpsv runs as root.", ref("nonempty")),
			"stop_signal":   described("Sent to the process group to stop it (default TERM).", ref("signal").with("default", "TERM")),
			"stop_timeout":  described("Wait after stop_signal, then SIGKILL to the whole group (default 10s).", ref("duration").with("default", "10s")),
			"restart":       described("When an exit is restarted (default permanent): always, only after a failure (transient), or never (temporary).", ref("restart_type")),
			"stdout":        described("Where standard output goes: a file path (relative to this file), inherit or discard; default: the worker's log.", ref("output")),
			"stderr":        described("Where standard error goes: a file path (relative to this file), inherit or discard; default: the worker's log.", ref("output")),
			"status":        described("Readiness check after a start (exit 0 within timeout), then liveness check every check_interval.", ref("command")),
			"timeout":       described("Limit for status, and the default ready_timeout (default 60s).", ref("positive_duration").with("default", "60s")),
			"ready":         o("description", "How the program says it is ready: spawn (once spawned, the default), notify (sd_notify READY=1) or fd:N (a newline on descriptor N, 3..1023).", "anyOf", []any{o("enum", []string{"spawn", "notify"}), o("type", "string", "pattern", readyFDPattern), ref("var_ref")}, "default", "spawn"),
			"ready_timeout": described("Not ready within it is a failure (default: the worker's timeout).", ref("positive_duration")),
			"watchdog":      described("Once ready, the program must send WATCHDOG=1 at least this often; only with ready: notify.", ref("positive_duration")),
			"probes":        probes,
			"backoff":       described(backoff, ref("backoff")),
			"log":           described("How this worker's output is written: to a file or to otpsv's stdout, with timestamps, prefix and rotation.", ref("log")),
		}
	default:
		return map[string]obj{
			"control": described("Command prefix; the verb (start, stop, status, restart) is appended. control or start is required.", ref("command")),
			"start":   described("Starts the service (default <control> start).", ref("command")),
			"stop":    described("Stops the service (default <control> stop; without control, the pidfile's process group or the pattern).", ref("command")),
			"status":  described("Reports the state by LSB exit code: 0 running, 3 stopped, else dirty (default <control> status; without control, the pidfile or the pattern).", ref("command")),
			"restart": described("The command of otpsv restart PATH, or stop+start (default <control> restart; without control, stop+start).", ref("command").with("examples", []string{StopStart})),
			"pattern": described("Go regular expression, unanchored, matched against full command lines for status and stop (default: the start command's words, literally).", ref("nonempty")),
			"timeout": described("Limit per command, and the longest wait for a started service to report running (default 60s).", ref("positive_duration").with("default", "60s")),
			"path":    described("PATH used to find the service commands.", ref("scalar")),
			"pidfile": described("File where the service writes its main pid, relative to this file: status and stop come from it when no command is given.", ref("nonempty")),
			"probes":  probes,
			"backoff": described(backoff, ref("backoff")),
		}
	}
}

// kindDef is the schema of a node of type t: exactly the keys the loader
// accepts on it.
func kindDef(t Type) obj {
	docs := commonDocs(t.String())
	for k, v := range kindDocs(t) {
		docs[k] = v
	}
	keys := append(append([]string(nil), commonKeys...), keysOf(t)...)
	s := o(
		"description", map[Type]string{
			Supervisor: "A supervisor: restarts its children by its strategy, gives up after intensity restarts within period.",
			Process:    "A process worker: a program otpsv starts and keeps as its own child, in its own process group.",
			Service:    "A service worker: a daemonizing service driven by commands and observed through status, a pidfile or a pattern.",
		}[t],
		"type", "object",
		"properties", keyed(keys, docs),
	)
	var all []any
	switch t {
	case Supervisor:
		s = s.with("required", []string{"name", "children"})
		notUnderNever := described("Its supervisor has auto_shutdown: never (give it any_significant or all_significant).", ref("not_significant"))
		all = append(all,
			// significant: true is refused on a permanent node...
			o("if", isSignificant, "then", permanentRefused()),
			// ... and under a supervisor whose auto_shutdown is never
			// (also when left out: the condition holds for a missing key).
			o("if", o("properties", o("auto_shutdown", o("const", "never"))),
				"then", o("properties", o("children", described("No child may be significant under auto_shutdown: never.",
					o("items", o("properties", o("significant", notUnderNever))))))),
		)
	case Process:
		s = s.with("required", []string{"name", "command"})
		all = append(all,
			o("if", isSignificant, "then", permanentRefused()),
			// A watchdog's keep-alives arrive on the notify socket.
			o("dependentSchemas", o("watchdog", o("required", []string{"ready"}, "properties", o("ready", o(
				"description", "watchdog needs ready: notify.",
				"anyOf", []any{o("const", "notify"), ref("var_ref")}))))),
			// A worker giving both streams has none left for a log.
			o("if", o("required", []string{"stdout", "stderr"}), "then", o("properties", o("log", o(
				"description", "stdout and stderr are both given, so no stream goes through log.", "not", o())))),
		)
	case Service:
		s = s.with("required", []string{"name"})
		all = append(all,
			o("anyOf", []any{o("required", []string{"control"}), o("required", []string{"start"})}),
			o("if", isSignificant, "then", o("properties", o("significant", described(
				"A service worker is always permanent, so it cannot be significant.", ref("not_significant"))))),
		)
	}
	return s.with("additionalProperties", false, "allOf", all)
}

// permanentRefused is the check on a significant node: its restart type
// must say transient or temporary (the default is permanent).
func permanentRefused() obj {
	return o("required", []string{"restart"}, "properties", o("restart", o(
		"description", "A significant node must be transient or temporary: a permanent node's exit is always a failure to restart from.",
		"anyOf", []any{o("enum", []string{"transient", "temporary"}), ref("var_ref")})))
}

// anyNodeDef is a node whose type is not known: type is given as a
// ${var}, or there is none of the keys it is inferred from. It accepts
// the keys of every kind, so that editors offer them all.
func anyNodeDef() obj {
	docs := commonDocs("")
	var keys []string
	keys = append(keys, commonKeys...)
	for _, t := range []Type{Supervisor, Process, Service} {
		for k, v := range kindDocs(t) {
			if _, ok := docs[k]; !ok {
				docs[k] = v
			}
		}
		for _, k := range keysOf(t) {
			if !contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	// restart is a restart type or, on a service worker, a command.
	docs["restart"] = described("A restart type (permanent, transient, temporary) on a supervisor or process worker; a command or stop+start on a service worker.", ref("command"))
	docs["status"] = described("A status command: a process worker's readiness and liveness check, a service worker's LSB status.", ref("command"))
	docs["timeout"] = described("Limit for status (and a service's commands and start wait); default 60s.", ref("positive_duration").with("default", "60s"))
	return o(
		"description", "A node of any kind.",
		"type", "object",
		"properties", keyed(keys, docs),
		"required", []string{"name"},
		"additionalProperties", false,
	)
}

// nodeDef tells the kinds apart as Load does: by type when given, else by
// children (supervisor), command (process worker), control or start
// (service worker).
func nodeDef() obj {
	typeIs := func(kind string) obj {
		return o("required", []string{"type"}, "properties", o("type", o("const", kind)))
	}
	has := func(keys ...string) obj {
		if len(keys) == 1 {
			return o("required", keys)
		}
		var alts []any
		for _, k := range keys {
			alts = append(alts, o("required", []string{k}))
		}
		return o("anyOf", alts)
	}
	unknown := ref("any_node").with(
		"anyOf", []any{has("children"), has("command"), has("control"), has("start")})
	chain := []struct {
		cond obj
		then obj
	}{
		{typeIs("supervisor"), ref("supervisor")},
		{typeIs("process"), ref("process")},
		{typeIs("service"), ref("service")},
		{has("type"), ref("any_node")},
		{has("children"), ref("supervisor")},
		{has("command"), ref("process")},
		{has("control", "start"), ref("service")},
	}
	s := unknown
	for i := len(chain) - 1; i >= 0; i-- {
		s = o("if", chain[i].cond, "then", chain[i].then, "else", s)
	}
	return append(o(
		"description", "A node: a supervisor (children), a process worker (command) or a service worker (control or start); type, when given, says which.",
		"type", "object",
	), s...)
}
