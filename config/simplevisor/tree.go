package simplevisor

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"

	"github.com/otpsv/otpsv/config"
)

// Sentinel errors. Every problem is a *config.FieldError whose Err wraps
// one of these (or an error of the standard library, such as
// fs.ErrNotExist for a missing include), so callers test with errors.Is.
// Those that mean what otpsv's own loader means are its sentinels: a
// caller that handles config's errors handles these too.
var (
	// ErrSyntax is text that Config::General or JSON does not accept.
	ErrSyntax = errors.New("syntax error")
	// ErrUnknownKey is a key simplevisor does not know, or one of another
	// kind of entry; simplevisor refuses these too.
	ErrUnknownKey = config.ErrUnknownKey
	// ErrDuplicateKey is a key given twice in one block or object.
	ErrDuplicateKey = config.ErrDuplicateKey
	// ErrMissingKey is a required key that is absent.
	ErrMissingKey = config.ErrMissingKey
	// ErrInvalidValue is a value simplevisor or otpsv would not accept.
	ErrInvalidValue = config.ErrInvalidValue
	// ErrConflict is two keys simplevisor declares mutually exclusive.
	ErrConflict = config.ErrConflictingKeys
	// ErrUnsupported is something valid for simplevisor that otpsv has no
	// equivalent for.
	ErrUnsupported = errors.New("no otpsv equivalent")
	// ErrUndefinedVar is a $var or ${var} with no such key in scope
	// (Config::General's StrictVars, on by default).
	ErrUndefinedVar = config.ErrUndefinedVar
	// ErrIncludeCycle is a file that includes itself, directly or not.
	// Config::General would recurse until Perl runs out of memory.
	ErrIncludeCycle = config.ErrIncludeCycle
)

// pos is where something was read.
type pos struct {
	file string
	line int
}

// kind is the type of a scalar as the source wrote it. The Apache format
// only has strings; JSON has the others.
type kind int

const (
	kString kind = iota
	kNumber
	kBool
	kNull
)

// item is one key of a block: a scalar or a nested block.
type item struct {
	key string
	at  pos
	// value is the scalar's text, after variables, quotes and escapes;
	// nil for a key with no value (Config::General's undef, JSON null).
	value *string
	kind  kind
	// block is set for a nested block (an object in JSON).
	block *block
	// named is the name of a Config::General named block (<entry foo>),
	// which simplevisor does not use.
	named string
	// list is set for a JSON list of scalars or of lists.
	list bool
}

// block is a Config::General block, a JSON object or the file itself.
type block struct {
	at    pos
	items []*item
}

// errs collects problems, each with a file and line.
type errs struct{ list []error }

func (e *errs) add(at pos, path string, err error) {
	e.list = append(e.list, &config.FieldError{File: at.file, Line: at.line, Path: path, Err: err})
}

func (e *errs) addf(at pos, path string, sentinel error, format string, args ...any) {
	e.add(at, path, fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...))
}

// sorted returns the problems in the order of the files (as first met)
// and, within a file, of the lines.
func (e *errs) sorted() []error {
	files := map[string]int{}
	key := func(err error) (int, int) {
		fe := err.(*config.FieldError)
		if _, ok := files[fe.File]; !ok {
			files[fe.File] = len(files)
		}
		return files[fe.File], fe.Line
	}
	for _, err := range e.list {
		key(err)
	}
	out := append([]error(nil), e.list...)
	sort.SliceStable(out, func(i, j int) bool {
		fi, li := key(out[i])
		fj, lj := key(out[j])
		if fi != fj {
			return fi < fj
		}
		return li < lj
	})
	return out
}

// pathless drops the path from an *fs.PathError, which FieldError names
// already.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}
