package config

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors. Every problem Load reports is a *FieldError whose Err
// wraps one of these (or an error of the standard library, such as
// fs.ErrNotExist for a missing include), so callers test with errors.Is.
var (
	// ErrSyntax is a YAML syntax error.
	ErrSyntax = errors.New("invalid yaml")
	// ErrUnknownKey is a key that is not part of the format, or that
	// belongs to another kind of node.
	ErrUnknownKey = errors.New("unknown key")
	// ErrDuplicateKey is a key given twice in one mapping.
	ErrDuplicateKey = errors.New("duplicate key")
	// ErrMissingKey is a required key that is absent.
	ErrMissingKey = errors.New("missing key")
	// ErrType is a value of the wrong YAML type (a list where a string
	// belongs, for example).
	ErrType = errors.New("wrong type")
	// ErrInvalidValue is a value of the right type that is not acceptable:
	// an unknown strategy, restart type, expected state, log level, log
	// format or signal, a bad duration, command or pattern.
	ErrInvalidValue = errors.New("invalid value")
	// ErrInvalidName is a node name outside [A-Za-z0-9_.-]+, or a variable
	// name outside [A-Za-z_][A-Za-z0-9_]*.
	ErrInvalidName = errors.New("invalid name")
	// ErrDuplicateName is a node name used twice among siblings.
	ErrDuplicateName = errors.New("duplicate name")
	// ErrEmptyChildren is a supervisor without children.
	ErrEmptyChildren = errors.New("empty children")
	// ErrNodeType is a node whose type cannot be inferred: it has none, or
	// more than one, of children, command and control/start.
	ErrNodeType = errors.New("cannot tell the node type")
	// ErrUndefinedVar is a ${name} with no such variable in scope.
	ErrUndefinedVar = errors.New("undefined variable")
	// ErrIncludeCycle is a file that includes itself, directly or not.
	ErrIncludeCycle = errors.New("include cycle")
	// ErrNotRoot is user or group given while otpsv does not run as root.
	ErrNotRoot = errors.New("only honoured when otpsv runs as root")
	// ErrNUL is a NUL byte in a value. It always comes with
	// ErrInvalidValue.
	ErrNUL = errors.New("NUL byte")
	// ErrAliasCycle is a YAML alias inside the node it refers to.
	ErrAliasCycle = errors.New("alias inside the node it refers to")
	// ErrSignificant is `significant: true` where OTP refuses it: on a
	// permanent node, under a supervisor whose auto_shutdown is never, or
	// on the root, which has no supervisor.
	ErrSignificant = errors.New("significant child not allowed")
	// ErrTooManyNodes is a tree larger than MaxNodes, such as one that
	// aliases multiply.
	ErrTooManyNodes = errors.New("too many nodes")
)

// FieldError is one problem found in a configuration file. Load returns
// every FieldError it finds, joined with errors.Join.
type FieldError struct {
	// File is the file holding the problem (the main file or an included one).
	File string
	// Line is the 1-based line of the problem in File; 0 when unknown.
	Line int
	// Path locates the problem: a node path and the key, such as
	// "site/api: stop_signal", or a top-level section ("settings: log_level").
	// It may be empty.
	Path string
	// Err is the problem itself.
	Err error
}

// Error returns "FILE:LINE: PATH: ERR", leaving out the line when unknown
// and the path when empty.
func (e *FieldError) Error() string {
	s := e.File
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
	}
	if e.Path != "" {
		s += ": " + e.Path
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns Err.
func (e *FieldError) Unwrap() error { return e.Err }

// invalidError is an ErrInvalidValue whose message says it all, without
// the "invalid value" prefix.
type invalidError struct{ err error }

func (e invalidError) Error() string   { return e.err.Error() }
func (e invalidError) Unwrap() []error { return []error{ErrInvalidValue, e.err} }

// invalidf returns an error that is ErrInvalidValue, with the message
// formatted from format and args. A %w in format is wrapped as well.
func invalidf(format string, args ...any) error {
	return invalidError{fmt.Errorf(format, args...)}
}
