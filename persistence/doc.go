// Package persistence owns what otpsv keeps in its state_dir between
// runs: the ownership lock that lets one otpsv at a time act on a
// state_dir (Lock), and the Badger store of node snapshots (Store) in
// state_dir/state.
//
// It is the only package that may import badger. It must not import
// protoactor, nor anything under actors/: it deals in plain values
// (Snapshot, HistoryEntry) that the actors fill in.
//
// # The store
//
// Each node's Snapshot is JSON under "node/<path>", but for its history:
// one key per entry, "hist/<path>\x00<slot>", written once, not with
// every change of the node (history.go); the time of the last Save under
// "meta/saved_at", the commit count under "meta/generation" (see
// Damage), and the definitions of the tree that last ran, gzipped JSON,
// under "meta/definitions" (what `otpsv plan` compares a new config with
// when no daemon runs). Every write
// method commits one Badger transaction, so after a kill -9 the store holds
// all of a Save or none of it. Commits are not fsynced one by one (Close
// syncs): a power cut may lose the last seconds, after which every
// supervised process is gone anyway.
//
// Badger takes an exclusive flock on the directory, even to read: only
// the otpsv that holds the state_dir's lock opens the store. That is its
// owner (AcquireLock: a daemon, a pass, a direct node command) or, when
// no daemon runs, a query reading the saved state for a moment
// (AcquireReadLock). An owner waits a reader out; a reader never waits
// for an owner. Open reports a held store as ErrLocked.
//
// # Damage
//
// Open returns an error wrapping ErrDamaged, naming the directory, when:
//   - Badger refuses the store twice (bad MANIFEST, a table failing its
//     checksum, a table the MANIFEST lists but the directory lacks);
//   - a table is truncated (Badger itself would panic in a goroutine of
//     its own and kill the process; Open checks the tables first);
//   - the store holds fewer commits than GenerationFile records, or that
//     file is unreadable. Badger opens a store whose MANIFEST was deleted
//     or truncated silently, empty or without its newest tables; the
//     generation file, written at the first commit and at every Close, is
//     what notices. A missing MANIFEST is caught before Badger runs, so
//     the table files are left for inspection; a truncated one only
//     afterwards, once Badger has deleted the tables it no longer knows.
//
// The error says to move the store aside only when its data cannot be
// read; when Badger opens it and it holds data (DamagedError.Readable),
// it says to remove the generation file instead, which keeps every pid.
//
// A kill -9 during an earlier Open is not damage: Badger creates its
// memtable and value-log files empty and then sizes them, and refuses an
// empty one it finds. Open removes those (they never held data) before
// Badger runs, and tries again an open Badger refused once.
//
// Not detected: damage to the generation file and Badger's files alike
// (a directory wiped but for a few files reads as a new store), and a
// store emptied while the generation file was missing.
//
// # Footprint
//
// Badger is tuned for a few KB (see badgerOptions in store.go): open, one
// Save and close take ~20 ms and ~3 MB of RSS in a fresh process. The
// directory stays bounded however many runs go by: for 100 typical nodes
// ~170 KB on disk (1.2 MB apparent, 1 MB of it a sparse DISCARD file);
// the MANIFEST grows ~42 bytes a run until Badger rewrites it, every
// ~5000 runs.
//
// # Processes across runs
//
// processStartTime and SameProcess recognise a process started by an
// earlier otpsv run by its pid plus its start time, so that a reused pid
// is never taken for it.
package persistence
