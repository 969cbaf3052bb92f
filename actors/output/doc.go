// Package output owns the line pipeline for workers' stdout and stderr
// (SPEC section 8): it copies a stream to a destination line by line,
// optionally adding a timestamp, a prefix and a stderr mark, and rotates
// files by rename when they would grow past a size.
//
// It must not import protoactor, badger or otpsv's config package, and it
// takes plain Options rather than config types: the same code has to run
// inside the daemon or in a small separate logger process that holds a
// worker's pipes and survives a kill -9 of otpsv, so that a worker is never
// killed by SIGPIPE nor blocked on a full pipe while no daemon runs.
//
// # Line format
//
// Each line written is
//
//	[timestamp " "] prefix ["stderr: "] content "\n"
//
// The timestamp (Options.Timestamps) is RFC 3339 in UTC with fixed-width
// microseconds (TimeLayout, 28 bytes with its space), so lines sort and
// parse by column. The prefix is written as given (the caller expands
// {path} and {name}). "stderr: " (StderrMarker) follows the prefix on lines
// read from stderr when Options.StderrMark is set, for destinations where
// both streams of many workers meet, such as otpsv's own stdout.
//
// All lines that arrive in one read share one timestamp, taken when that
// read returned: the clock is read and formatted once per read, never per
// line, which is what lets the pipeline keep up with a worker writing
// hundreds of megabytes a second. A line is stamped by the read that
// completed it.
//
// A line is never split or interleaved with another: a partial line at the
// end of a read is held until its newline arrives, and every write to a
// destination holds only whole lines. A line longer than MaxLine (64 KiB)
// is the exception: its first MaxLine bytes are written followed by CutMark
// (" [cut]"), and the rest continues as a new line (cut again if needed).
// At end of input a final line without newline is written with one added.
//
// # Destinations
//
// A file Dest (NewFile) appends to its file and, when MaxSize is set,
// rotates between whole lines: before a write that would make the file
// exceed MaxSize, file.(Keep-1) is renamed to file.Keep, ..., file to
// file.1, and a new file is opened. Nothing is copied or truncated, so a
// reader holding the old file keeps reading it to its end. A line longer
// than MaxSize is written alone into a fresh file. One Dest per path: two
// Dests (or processes) rotating the same file would lose track of its size.
//
// A shared Dest (Shared.Dest) writes to a writer many workers share, such
// as otpsv's stdout; a mutex in Shared makes each batch of whole lines one
// Write call that no other worker's lines can enter. Between processes
// sharing a pipe (loggers writing to otpsv's stdout) no mutex helps:
// Options.MaxWrite keeps each write within PIPE_BUF, which the kernel
// does not tear, except for a single line longer than that.
//
// Both streams of a worker go to one Dest by calling Copy twice, once per
// stream, from two goroutines.
//
// # Errors
//
// A destination that cannot be written (full disk, closed stdout) never
// stops Copy from reading: the lines are dropped and counted (Dropped), so a
// worker is not blocked on a full pipe because its log cannot be written.
// Options.OnError hears of the first failure and of each new failure after
// a successful write, not of every dropped batch. A destination whose Write
// blocks (a stdout pipe nobody reads) does block Copy: this package cannot
// tell a slow writer from a stuck one.
package output
