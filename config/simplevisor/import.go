package simplevisor

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/otpsv/otpsv/config"
)

// Format is a syntax of simplevisor configuration files.
type Format int

// Formats, as simplevisor's --conftype names them.
const (
	// Apache is the Apache-style format read through Perl's
	// Config::General (simplevisor's default).
	Apache Format = iota
	// JSON is the JSON format (simplevisor 1.2 and later).
	JSON
)

func (f Format) String() string {
	switch f {
	case Apache:
		return "apache"
	case JSON:
		return "json"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ErrFormat is a --conftype other than apache or json.
var ErrFormat = errors.New("unknown configuration type")

// ParseFormat returns the Format simplevisor's --conftype calls name
// (apache or json).
func ParseFormat(name string) (Format, error) {
	switch name {
	case "apache":
		return Apache, nil
	case "json":
		return JSON, nil
	}
	return 0, fmt.Errorf("%w %q: want apache or json", ErrFormat, name)
}

// ErrOutput wraps the errors config.Load finds in the importer's own
// output: a bug of the importer, not of the input.
var ErrOutput = errors.New("the imported configuration does not load (a bug of the importer)")

// Import reads the simplevisor configuration in file (and, in the Apache
// format, the files it includes) and returns an otpsv.yaml equivalent to
// it, with YAML comments where otpsv behaves differently.
//
// Every problem found is reported, each a *config.FieldError naming the
// simplevisor file and line, joined with errors.Join. Import checks its
// output with config.Load; should that fail, the error wraps ErrOutput.
func Import(file string, format Format) ([]byte, error) {
	e := &errs{}
	var root *block
	switch format {
	case Apache:
		root = readApache(file, e)
	case JSON:
		root = readJSON(file, e)
	default:
		return nil, fmt.Errorf("%w %v", ErrFormat, format)
	}
	if len(e.list) > 0 || root == nil {
		return nil, errors.Join(e.sorted()...)
	}
	mainDir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		mainDir = ""
	}
	c := &conv{errs: e, format: format, mainDir: mainDir}
	doc := c.convert(root, file)
	if len(e.list) > 0 {
		return nil, errors.Join(e.sorted()...)
	}
	if doc == nil {
		return nil, fmt.Errorf("%w: nothing converted and no error reported", ErrOutput)
	}
	var b strings.Builder
	comments(&b, "", []string{
		fmt.Sprintf("otpsv.yaml imported by `otpsv import simplevisor` from %s (%s format). "+
			"Comments starting with \"simplevisor:\" say where otpsv behaves differently; "+
			"docs/simplevisor.md has the whole mapping.", commentText(filepath.Base(file)), format),
	})
	doc.render(&b, 0, "")
	out := []byte(b.String())
	if _, err := config.Load(bytes.NewReader(out), filepath.Join(filepath.Dir(file), "imported.yaml")); err != nil {
		return nil, fmt.Errorf("%w:\n%w", ErrOutput, err)
	}
	return out, nil
}
