// Package simplevisor converts a CERN simplevisor configuration (version
// 1.3, https://github.com/cern-mig/python-simplevisor) into an equivalent
// otpsv.yaml, for `otpsv import simplevisor`.
//
// It owns two readers and one converter:
//
//   - the Apache-style format, which simplevisor hands to Perl's
//     Config::General with IncludeRelative, IncludeGlob, IncludeAgain and
//     InterPolateVars. This package reads the subset of Config::General
//     that these options give, itself, keeping the file and line of every
//     value: blocks (<simplevisor>, <entry>, <children>, <x/>), key = value
//     or key value, # comments (\# is a literal #), C comments, trailing
//     backslash continuations, here-documents, <<include FILE>> (relative
//     to the including file, globbed with {a,b} braces, a glob matching
//     nothing being no error), and $var / ${var} interpolation of any key
//     defined before in the same block or an enclosing one (simplevisor's
//     var_ prefix is only a convention), except inside 'single quotes';
//   - the JSON format ({"simplevisor": {...}, "entry": {...}}, where a
//     supervisor's "children": {"entry": ...} holds one entry as an object
//     or several as a list), which has neither includes nor variables;
//   - the converter, which checks every key as simplevisor 1.3 does, maps
//     it onto otpsv's keys, explains in "simplevisor:" YAML comments where
//     otpsv behaves differently, and refuses what has no equivalent.
//
// Commands are split on blanks and each word is URL-decoded (%20 is a
// space), as simplevisor does before running them; the output gives them
// as YAML lists, so that no otpsv quoting rule applies to them.
//
// Every problem is a *config.FieldError naming the simplevisor file and
// line, and Import reports all of them at once (errors.Join), the way
// config.Load does. Import also loads its own output with config.Load, so
// that what it prints is a configuration `otpsv validate` accepts.
//
// Besides the standard library it imports only otpsv's config package
// (for config.FieldError and config.Load); it must not import protoactor
// or badger. It writes the YAML itself, so that comments sit above the
// keys they explain.
package simplevisor
