package persistence

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// ErrNotFound is returned by Load and Meta when there is no such key.
var ErrNotFound = errors.New("not found")

// ErrDamaged is returned by Open when the store cannot be trusted: Badger
// refused to open it, or it opened with less than was committed to it
// (see GenerationFile). What is left of a kill -9 during an earlier Open
// is not damage: Open clears it (see clearHalfOpen) and opens the store.
var ErrDamaged = errors.New("state store is damaged")

// ErrClosed is returned by a Store's methods after Close.
var ErrClosed = errors.New("state store is closed")

// ErrTooBig is returned when a write does not fit in one transaction;
// nothing of it was written.
var ErrTooBig = errors.New("transaction too big")

// DamagedError says which store is damaged and why.
type DamagedError struct {
	Dir    string // the store directory
	Reason string // what is wrong, for the operator
	Err    error  // the underlying error (Badger's), if any
	// Readable: Badger opens the store and what it holds can be read;
	// only GenerationFile disagrees with it (the file is unreadable, or
	// the store lost its latest commits). Moving the store aside would
	// throw away every pid it still holds.
	Readable bool
}

func (e *DamagedError) Error() string {
	msg := fmt.Sprintf("%s: %v: %s", e.Dir, ErrDamaged, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Readable {
		return msg + fmt.Sprintf("; the store itself opens: to go on with what it holds, remove %s (otpsv writes it anew)",
			filepath.Join(e.Dir, GenerationFile))
	}
	return msg + fmt.Sprintf("; its data cannot be read: move it aside (mv %s %s.damaged) to start with empty state", e.Dir, e.Dir)
}

// Unwrap makes errors.Is(err, ErrDamaged) work, and reaches Badger's
// error too.
func (e *DamagedError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrDamaged}
	}
	return []error{ErrDamaged, e.Err}
}

// Keys. Node snapshots live under "node/<path>", everything else under
// "meta/<key>".
const (
	nodePrefix    = "node/"
	metaPrefix    = "meta/"
	metaSavedAt   = "saved_at"
	metaGen       = "generation"
	metaDefs      = "definitions"
	badgerLockPid = "LOCK" // the file Badger writes its pid into
)

// Badger tuning for a store of a few KB rewritten a few times a minute at
// most; see badgerOptions.
const (
	memTableSize     = 2 << 20                 // largest transaction is 15% of this: ~300 KB
	valueLogFileSize = 1 << 20                 // the smallest Badger accepts
	valueThreshold   = memTableSize * 15 / 100 // the largest transaction: values stay in the LSM tree
	baseTableSize    = 1 << 20                 // a table builder starts with twice this
)

// badgerOptions returns the Badger options Open uses for dir. Badger's defaults
// are sized for large databases (five 64 MB memtables, a 256 MB block
// cache, 1 GB value-log files, an Info logger on stderr); otpsv keeps a
// few KB. So:
//
//   - one 2 MB memtable: room for a transaction of ~300 KB, some 25 nodes
//     with full histories written whole, hundreds as Save writes them
//     (each history entry once, see history.go). What a memtable costs
//     grows with it: its arena (in the Go heap, zeroed at each open, and
//     counted in the GC's goal), its WAL as it fills, and its flush (the
//     next arena, a table builder, the table). With 16 MB, a restart
//     storm took the daemon from 21 to over 100 MB of RSS; with 2 MB and
//     1 MB tables, a flush costs some 10 MB for a moment;
//   - compaction as soon as level 0 holds a table: otpsv's data is a few
//     KB, the rest of a flushed table is old versions, and every table
//     is mapped in memory until compacted away;
//   - no block cache and no compression (Badger panics on compression
//     without a block cache, and blocks this small do not compress);
//   - two compactors, the fewest Badger accepts short of none (none would
//     stop compaction and let the directory grow);
//   - CompactL0OnClose, so each run's table is merged on close instead of
//     piling up one file per run;
//   - no SyncWrites: a committed transaction survives a kill -9 of otpsv
//     (it is in the page cache) and only a power cut can lose the last
//     seconds, after which every supervised process is gone anyway; a
//     daemon starting a thousand workers writes in bursts, and an fsync per
//     burst made start-up slower. Close syncs;
//   - 1 MB value-log files and a value threshold as large as a
//     transaction: values stay in the LSM tree, where compaction drops
//     old versions, so the value log (which only RunValueLogGC would
//     shrink) stays empty;
//   - table checksums verified when a table is opened, so a damaged table
//     is reported by Open rather than by a later read;
//   - no logger and no metrics.
func badgerOptions(dir string) badger.Options {
	return badger.DefaultOptions(dir).
		WithLogger(nil).
		WithMetricsEnabled(false).
		WithSyncWrites(false).
		WithMemTableSize(memTableSize).
		WithNumMemtables(1).
		WithBaseTableSize(baseTableSize).
		WithNumLevelZeroTables(1).
		WithBlockCacheSize(0).
		WithIndexCacheSize(0).
		WithCompression(options.None).
		WithNumCompactors(2).
		WithCompactL0OnClose(true).
		WithValueLogFileSize(valueLogFileSize).
		WithValueThreshold(valueThreshold).
		WithChecksumVerificationMode(options.OnTableRead)
}

// Store is otpsv's persisted state: one snapshot per node plus a few
// metadata values, in a Badger database. Every method that writes does
// so in one transaction: a kill -9 at any moment leaves either all of it
// or none of it. A Store is safe for concurrent use.
//
// Badger holds an exclusive lock on the directory while a Store is open,
// so only the otpsv that owns the state_dir may open it.
type Store struct {
	dir string // "" for an in-memory store (tests): no generation file
	now func() time.Time

	mu         sync.RWMutex
	db         *badger.DB // nil once closed
	gen        uint64     // write transactions committed, as in meta/generation
	fileGen    uint64     // count last written to the generation file
	fileSynced bool       // the generation file's directory entry was fsynced since
	fileErr    error      // last failure to write the generation file
}

// Open opens the store in dir (state_dir/state), creating it (mode 0700)
// if needed. An error wraps ErrLocked when another process has it open
// (or this one does), and ErrDamaged when the store is damaged (a
// *DamagedError naming the directory, and saying to move it aside only
// when its data cannot be read). What a kill -9 during an earlier Open
// left is cleared first, and is not damage.
func Open(dir string) (*Store, error) {
	// flock belongs to the open file description, and a child being forked
	// at that instant (a worker otpsv starts) holds a copy of every fd until
	// its exec closes them: right after a Close, the lock can look held for
	// a moment. Real contention is ruled out by the state_dir lock that
	// every otpsv takes first, so a held lock is waited out briefly.
	deadline := time.Now().Add(lockWait)
	for {
		s, err := open(dir)
		if err == nil || !errors.Is(err, ErrLocked) || time.Now().After(deadline) {
			return s, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lockWait bounds how long Open waits out a held directory lock.
const lockWait = 2 * time.Second

func open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("open state store: no directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open state store: %w", err)
	}
	fileGen, hasFile, fresh, genErr, err := precheck(dir)
	if err != nil {
		return nil, err
	}
	db, err := openBadger(badgerOptions(dir))
	var pe *panicError
	if err != nil && !fresh && !errors.As(err, &pe) && !held(dir) {
		// Badger finishes some of what an open cut short by a kill -9
		// left undone and refuses the store all the same: the same open
		// again succeeds. Only a store refused twice is damaged.
		db, err = openBadger(badgerOptions(dir))
	}
	if err != nil {
		if held(dir) || badgerLockBusy(err) {
			return nil, lockedError(dir)
		}
		if fresh {
			return nil, fmt.Errorf("open state store %s: %w", dir, err)
		}
		return nil, &DamagedError{Dir: dir, Reason: "badger cannot open it", Err: err}
	}
	s := &Store{dir: dir, now: time.Now, db: db}
	dbGen, err := s.readGeneration()
	if err != nil {
		_ = db.Close()
		return nil, &DamagedError{Dir: dir, Reason: "cannot read its generation", Err: err}
	}
	if genErr != nil {
		_ = db.Close()
		return nil, &DamagedError{Dir: dir, Reason: "bad generation file", Err: genErr, Readable: dbGen > 0}
	}
	if hasFile && fileGen > dbGen {
		_ = db.Close()
		reason := fmt.Sprintf("it holds %d commits but %s records %d, so Badger lost data (deleted or truncated MANIFEST, or removed tables)",
			dbGen, GenerationFile, fileGen)
		if dbGen == 0 {
			reason = fmt.Sprintf("it opened empty but %s records %d commits (deleted or truncated MANIFEST?)",
				GenerationFile, fileGen)
		}
		return nil, &DamagedError{Dir: dir, Reason: reason, Readable: dbGen > 0}
	}
	s.gen = dbGen
	if hasFile {
		s.fileGen = fileGen
		s.fileSynced = true
	}
	if s.gen > 0 && s.fileGen != s.gen {
		// A kill -9 between a commit and the file's update, or a lost
		// generation file: bring the file up to date now.
		s.writeGenerationFile(true)
	}
	return s, nil
}

// precheck looks at dir before Badger does, under the same lock Badger
// takes, because Badger, opening a store whose MANIFEST is gone, makes a
// new empty one and deletes the tables it no longer knows. An unreadable
// generation file is returned as genErr when the store has a MANIFEST:
// whether what the store holds can be read is for Badger to tell.
func precheck(dir string) (fileGen uint64, hasFile, fresh bool, genErr, err error) {
	f, err := os.Open(dir)
	if err != nil {
		return 0, false, false, nil, fmt.Errorf("open state store: %w", err)
	}
	defer f.Close() // releases the flock
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return 0, false, false, nil, lockedError(dir)
		}
		return 0, false, false, nil, fmt.Errorf("open state store %s: %w", dir, err)
	}
	fileGen, hasFile, genErr = readGeneration(dir)
	if err := clearHalfOpen(dir); err != nil {
		return 0, false, false, nil, fmt.Errorf("open state store %s: %w", dir, err)
	}
	_, err = os.Stat(filepath.Join(dir, badger.ManifestFilename))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fresh = true
		if genErr != nil {
			return 0, false, false, nil, &DamagedError{Dir: dir, Reason: "bad generation file, and no MANIFEST", Err: genErr}
		}
		if hasFile && fileGen > 0 {
			return 0, false, false, nil, &DamagedError{Dir: dir, Reason: fmt.Sprintf(
				"its MANIFEST is missing but %s records %d commits (the table files are left as they are)",
				GenerationFile, fileGen)}
		}
	case err != nil:
		return 0, false, false, nil, fmt.Errorf("open state store %s: %w", dir, err)
	default:
		// An existing store Badger cannot write to would fail below with
		// an error that reads like damage; say what it is instead.
		const wOK, xOK = 2, 1 // access(2) modes
		if err := syscall.Access(dir, wOK|xOK); err != nil {
			return 0, false, false, nil, fmt.Errorf("open state store %s: %w", dir, &fs.PathError{Op: "access", Path: dir, Err: err})
		}
		if err := checkTables(dir); err != nil {
			return 0, false, false, nil, &DamagedError{Dir: dir, Reason: "a table does not open", Err: err}
		}
	}
	return fileGen, hasFile, fresh, genErr, nil
}

// clearHalfOpen removes what a kill -9 during an earlier Open (or a
// Close) leaves behind that holds no committed data and that Badger
// refuses: empty memtable (.mem) and value-log (.vlog) files. Badger
// creates each of them empty, then sizes it and writes its header; killed
// in between, it leaves an empty file, and the next open, finding it,
// sizes it and fails ("Create a new file"). An empty file has never held
// an entry. Everything else a cut-short open leaves, Badger copes with: a
// MANIFEST or KEYREGISTRY is replaced by renaming a complete temporary
// file, a table is written and synced before the MANIFEST names it (and
// tables it does not name are deleted), a memtable or value-log file that
// was sized but not given its header replays as empty. The caller holds
// the directory's lock.
func clearHalfOpen(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || (!strings.HasSuffix(name, ".mem") && !strings.HasSuffix(name, ".vlog")) {
			continue
		}
		fi, err := e.Info()
		if err != nil || fi.Size() != 0 {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// panicError is a panic of Badger's, recovered.
type panicError struct{ v any }

func (e *panicError) Error() string { return fmt.Sprintf("badger panicked: %v", e.v) }

// openBadger is badger.Open, turning a panic into an error: Badger
// panics on some damaged files.
func openBadger(opt badger.Options) (db *badger.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, &panicError{v: r}
		}
	}()
	return badger.Open(opt)
}

// held reports whether another open file description holds dir's flock.
// Badger's own lock error carries no error value to test, only text.
// badgerLockBusy: Badger could not take its directory lock. The lock may
// be free again by the time held looks (a child forked at that instant
// has exec'd since, closing its copy of the fd), so Badger's word counts
// too, and Open waits it out. Badger formats the flock error into its
// message instead of wrapping it, hence the text.
func badgerLockBusy(err error) bool {
	return strings.Contains(err.Error(), "Cannot acquire directory lock")
}

func held(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	return errors.Is(syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB), syscall.EWOULDBLOCK)
}

// lockedError names the holder of dir's flock: the process /proc/locks
// gives (Badger writes its pid into its LOCK file only after taking the
// flock, so the file may be empty or stale), else the LOCK file's.
func lockedError(dir string) error {
	pid := 0
	if f, err := os.Open(dir); err == nil {
		pid = lockHolderPid(f)
		_ = f.Close()
	}
	if pid == 0 {
		pid = pidIn(filepath.Join(dir, badgerLockPid))
	}
	return &LockedError{Dir: dir, Pid: pid, Role: Owner}
}

// Close writes what is pending and closes the store. It is safe to call
// twice.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	var gerr error
	if s.dir != "" && s.gen > 0 {
		switch {
		case s.fileGen != s.gen:
			s.writeGenerationFile(true)
			gerr = s.fileErr
		case !s.fileSynced:
			gerr = fsyncDir(s.dir)
		}
	}
	// A read transaction after the last commit moves Badger's discard
	// watermark past it, so the compaction Close runs keeps one version
	// of each key instead of two.
	_ = s.db.View(func(*badger.Txn) error { return nil })
	err := s.db.Close()
	s.db = nil
	if err != nil {
		return fmt.Errorf("close state store: %w", err)
	}
	if gerr != nil {
		return fmt.Errorf("close state store: %w", gerr)
	}
	return nil
}

// Save writes snaps, replacing what the store held for their paths, and
// records the time as SavedAt, all in one transaction; with no snapshots
// it records the time alone. Each snapshot's History is cut to its last
// MaxHistory entries (the caller's slice is left alone); only entries the
// store does not hold yet are written (see Snapshot.HistorySeq). A
// transaction may hold about 300 KB, some 25 nodes with full histories
// written whole; a larger one fails with ErrTooBig.
func (s *Store) Save(snaps ...Snapshot) error {
	for _, sn := range snaps {
		if sn.Path == "" {
			return errors.New("save: snapshot without a path")
		}
	}
	err := s.update(func(txn *badger.Txn) error {
		for _, sn := range snaps {
			if err := putNode(txn, sn.trimmed()); err != nil {
				return fmt.Errorf("node %q: %w", sn.Path, err)
			}
		}
		return setJSON(txn, metaPrefix+metaSavedAt, s.now())
	})
	if err != nil {
		return fmt.Errorf("save %d snapshots: %w", len(snaps), err)
	}
	return nil
}

// Load returns the snapshot saved for path, or an error wrapping
// ErrNotFound.
func (s *Store) Load(path string) (Snapshot, error) {
	var sn Snapshot
	err := s.view(func(txn *badger.Txn) error {
		var n storedNode
		if err := getJSON(txn, nodePrefix+path, &n); err != nil {
			return err
		}
		hist, err := readHistory(txn, histKeyPrefix(path))
		sn = n.snapshot(hist[path])
		return err
	})
	if err != nil {
		return Snapshot{}, fmt.Errorf("load %q: %w", path, err)
	}
	return sn, nil
}

// All returns every saved snapshot by path.
func (s *Store) All() (map[string]Snapshot, error) {
	all := make(map[string]Snapshot)
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(nodePrefix), PrefetchValues: true, PrefetchSize: 100})
		defer it.Close()
		hist, err := readHistory(txn, []byte(histPrefix))
		if err != nil {
			return err
		}
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			var n storedNode
			if err := item.Value(func(v []byte) error { return decode(item.Key(), v, &n) }); err != nil {
				return err
			}
			path := strings.TrimPrefix(string(item.Key()), nodePrefix)
			all[path] = n.snapshot(hist[path])
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load all: %w", err)
	}
	return all, nil
}

// meta decodes the metadata value under key into v (a pointer), or
// returns an error wrapping ErrNotFound.
func (s *Store) meta(key string, v any) error {
	if err := s.view(func(txn *badger.Txn) error { return getJSON(txn, metaPrefix+key, v) }); err != nil {
		return fmt.Errorf("meta %q: %w", key, err)
	}
	return nil
}

// SavedAt returns the time of the last Save, or an error wrapping
// ErrNotFound if there was none.
func (s *Store) SavedAt() (time.Time, error) {
	var t time.Time
	err := s.meta(metaSavedAt, &t)
	return t, err
}

// update runs fn in a write transaction that also counts itself in
// meta/generation, then brings the generation file up to date.
func (s *Store) update(fn func(*badger.Txn) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return ErrClosed
	}
	next := s.gen + 1
	err := s.db.Update(func(txn *badger.Txn) error {
		if err := fn(txn); err != nil {
			return err
		}
		return setJSON(txn, metaPrefix+metaGen, next)
	})
	if errors.Is(err, badger.ErrTxnTooBig) {
		return fmt.Errorf("%w: over %d bytes: %w", ErrTooBig, memTableSize*15/100, err)
	}
	if err != nil {
		return err
	}
	s.gen = next
	// The file is written at the first commit and at Close: lagging behind
	// the store is harmless (the guard only fires when the store is behind
	// the file), and a temp file, fsync and rename per commit would cost
	// more than the commit. The commit stands even if the file cannot be
	// written; Close reports the error.
	if s.fileGen == 0 {
		s.writeGenerationFile(true)
	}
	return nil
}

// writeGenerationFile records s.gen in the generation file; s.mu is held.
func (s *Store) writeGenerationFile(syncDir bool) {
	if s.dir == "" {
		return
	}
	if err := writeGeneration(s.dir, s.gen, syncDir); err != nil {
		s.fileErr = err
		return
	}
	s.fileGen, s.fileSynced, s.fileErr = s.gen, syncDir, nil
}

func (s *Store) view(fn func(*badger.Txn) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return ErrClosed
	}
	return s.db.View(fn)
}

// readGeneration returns meta/generation, 0 when absent.
func (s *Store) readGeneration() (uint64, error) {
	var gen uint64
	err := s.view(func(txn *badger.Txn) error { return getJSON(txn, metaPrefix+metaGen, &gen) })
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	return gen, err
}

func setJSON(txn *badger.Txn, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return txn.Set([]byte(key), b)
}

func getJSON(txn *badger.Txn, key string, v any) error {
	item, err := txn.Get([]byte(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return item.Value(func(b []byte) error { return decode(item.Key(), b, v) })
}

// decode unmarshals a stored value. A value that is not JSON means the
// store is damaged (otpsv only ever writes JSON); JSON of another shape
// than v is the caller's mistake.
func decode(key, b []byte, v any) error {
	err := json.Unmarshal(b, v)
	var syn *json.SyntaxError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &syn):
		return fmt.Errorf("decode %s: %w: %w", key, ErrDamaged, err)
	default:
		return fmt.Errorf("decode %s: %w", key, err)
	}
}

// pidIn returns the pid written in file, or 0.
func pidIn(file string) int {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}
