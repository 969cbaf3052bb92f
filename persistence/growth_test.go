package persistence

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// Bounds on the store directory after any number of open→save→close
// cycles of 100 typical snapshots (five history entries each, ~130 KB of
// JSON in all).
//
// Measured on ext4 after 500 cycles: 168 KB in allocated blocks, 1.19 MB
// apparent, the same from the second cycle on but for the MANIFEST. The
// directory then holds one table with the newest version of each key
// (Close's compaction drops older ones), a MANIFEST that grows by ~42
// bytes a cycle (one flush and one compaction logged) until Badger
// rewrites it once 10000 table deletions are logged, i.e. every ~5000
// cycles, so it stays under ~250 KB; two 20-byte value-log files;
// KEYREGISTRY; the generation file; and DISCARD, a 1 MB sparse file of
// which one block is in use.
//
// Worst case: two versions of the data (260 KB, if a run's compaction
// kept the previous version) + 250 KB of MANIFEST + 1 MB of DISCARD
// (apparent) + a few KB: ~0.55 MB used, ~1.55 MB apparent. The bounds
// leave margin above that and fail within a few cycles if a table, a
// value-log file or a memtable file were left behind per cycle.
const (
	maxStoreUsed     = 1 << 20
	maxStoreApparent = 2 << 20
)

// dirBytes returns the disk space used by the files in dir (allocated
// blocks, so sparse files count for what they occupy) and their total
// apparent size.
func dirBytes(t *testing.T, dir string) (used, apparent int64) {
	t.Helper()
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		apparent += fi.Size()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			used += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return used, apparent
}

func TestGrowthBounded(t *testing.T) {
	t.Parallel()
	cycles := 500
	if testing.Short() {
		cycles = 50
	}
	dir := filepath.Join(t.TempDir(), "state")
	snaps := samplesWithHistory(100, "running", 5)
	var peak int64
	for i := range cycles {
		s, err := Open(dir)
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		if err := s.Save(snaps...); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		used, apparent := dirBytes(t, dir)
		peak = max(peak, used)
		if used > maxStoreUsed || apparent > maxStoreApparent {
			t.Fatalf("cycle %d: store uses %d bytes (%d apparent), want at most %d (%d)",
				i, used, apparent, maxStoreUsed, maxStoreApparent)
		}
	}
	used, apparent := dirBytes(t, dir)
	mf, err := os.Stat(filepath.Join(dir, badger.ManifestFilename))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after %d cycles: %d bytes used (%d apparent), peak %d; MANIFEST %d bytes",
		cycles, used, apparent, peak, mf.Size())
}
