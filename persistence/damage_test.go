package persistence

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// populated returns a store directory that went through cycles
// open→save→close, holding 20 snapshots.
func populated(t *testing.T, cycles int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	for i := range cycles {
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Save(samples(20, string(rune('a'+i)))...); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func tables(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) == 0 {
		t.Fatalf("no table in %s", dir)
	}
	return m
}

// wantDamaged opens dir twice and wants ErrDamaged naming dir both times:
// a refused open must not leave the store looking healthy. readable says
// whether the store still opens and can be read (only the generation file
// disagrees): then the error must not advise moving it aside.
func wantDamaged(t *testing.T, dir string, readable bool) {
	t.Helper()
	for range 2 {
		s, err := Open(dir)
		if err == nil {
			all, _ := s.All()
			_ = s.Close()
			t.Fatalf("open: got nil error and %d snapshots, want ErrDamaged", len(all))
		}
		var de *DamagedError
		if !errors.Is(err, ErrDamaged) || !errors.As(err, &de) {
			t.Fatalf("open: got %v, want ErrDamaged", err)
		}
		if de.Dir != dir {
			t.Errorf("damaged dir: got %q, want %q", de.Dir, dir)
		}
		if de.Readable != readable {
			t.Errorf("readable: got %v, want %v", de.Readable, readable)
		}
		if aside := strings.Contains(err.Error(), "move it aside"); aside == readable {
			t.Errorf("advice to move it aside: %v, want %v: %v", aside, !readable, err)
		}
		t.Log(err)
	}
}

func TestOpenDamaged(t *testing.T) {
	t.Parallel()
	manifest := func(dir string) string { return filepath.Join(dir, badger.ManifestFilename) }
	truncate := func(size func(int64) int64) func(*testing.T, string) {
		return func(t *testing.T, dir string) {
			fi, err := os.Stat(manifest(dir))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(manifest(dir), size(fi.Size())); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name   string
		damage func(*testing.T, string)
		// tablesKept: Open must refuse before Badger deletes the tables.
		tablesKept bool
		// readable: Badger opens what is left, and it can be read.
		readable bool
	}{
		{name: "manifest deleted", tablesKept: true, damage: func(t *testing.T, dir string) {
			if err := os.Remove(manifest(dir)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "manifest empty", tablesKept: true, damage: truncate(func(int64) int64 { return 0 })},
		// Badger accepts the magic alone: an empty, valid MANIFEST.
		{name: "manifest truncated to its header", damage: truncate(func(int64) int64 { return 8 })},
		{name: "manifest truncated by one byte", damage: truncate(func(n int64) int64 { return n - 1 })},
		{name: "manifest truncated to half", damage: truncate(func(n int64) int64 { return n / 2 })},
		{name: "manifest magic corrupted", tablesKept: true, damage: corruptMagic},
		{name: "manifest garbage", tablesKept: true, damage: func(t *testing.T, dir string) {
			if err := os.WriteFile(manifest(dir), []byte("this is not a badger manifest at all\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "table truncated", tablesKept: true, damage: func(t *testing.T, dir string) {
			for _, f := range tables(t, dir) {
				fi, err := os.Stat(f)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(f, fi.Size()/2); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{name: "table bit flipped", tablesKept: true, damage: func(t *testing.T, dir string) {
			f := tables(t, dir)[0]
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/3] ^= 0x10
			if err := os.WriteFile(f, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "table deleted", damage: func(t *testing.T, dir string) {
			if err := os.Remove(tables(t, dir)[0]); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "generation file garbage", tablesKept: true, readable: true, damage: func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, GenerationFile), []byte("{\x00"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := populated(t, 4)
			tt.damage(t, dir)
			var before []string
			if tt.tablesKept {
				before = tables(t, dir)
			}
			wantDamaged(t, dir, tt.readable)
			for _, f := range before {
				if _, err := os.Stat(f); err != nil {
					t.Errorf("table left behind by the refused open: %v", err)
				}
			}
			if tt.readable {
				wantAdviceWorks(t, dir, "d")
			}
		})
	}
}

// wantAdviceWorks follows the advice given for a readable store (remove
// the generation file) and wants the store to open holding the snapshots
// of the commit tagged tag.
func wantAdviceWorks(t *testing.T, dir, tag string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, GenerationFile)); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("open after removing %s: %v", GenerationFile, err)
	}
	all, err := s.All()
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 20 {
		t.Fatalf("got %d snapshots, want 20", len(all))
	}
	for p, sn := range all {
		if sn.State != tag {
			t.Fatalf("%s holds %q, want %q", p, sn.State, tag)
		}
	}
}

// TestOpenOlderThanGeneration: a store put back from a copy taken two
// commits ago opens, but holds fewer commits than the generation file
// records: damage, and since what it holds can be read, the advice is not
// to throw it away.
func TestOpenOlderThanGeneration(t *testing.T) {
	t.Parallel()
	dir := populated(t, 2)
	backup := filepath.Join(t.TempDir(), "backup")
	copyDir(t, dir, backup)
	for _, tag := range []string{"x", "y"} {
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Save(samples(20, tag)...); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	gen, err := os.ReadFile(filepath.Join(dir, GenerationFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	copyDir(t, backup, dir)
	if err := os.WriteFile(filepath.Join(dir, GenerationFile), gen, 0o600); err != nil {
		t.Fatal(err)
	}
	wantDamaged(t, dir, true)
	wantAdviceWorks(t, dir, "b")
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// corruptMagic flips a bit of the MANIFEST's magic number.
func corruptMagic(t *testing.T, dir string) {
	t.Helper()
	name := filepath.Join(dir, badger.ManifestFilename)
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x01
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestOpenAfterHalfFinishedOpen: the files a kill -9 leaves in the middle
// of Badger's open (an empty memtable or value-log file, created but not
// yet sized) are not damage: Open succeeds with every commit there.
func TestOpenAfterHalfFinishedOpen(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"099999.mem", "099999.vlog"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := populated(t, 3)
			if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(dir)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			all, err := s.All()
			if cerr := s.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 20 {
				t.Fatalf("got %d snapshots, want 20", len(all))
			}
			for p, sn := range all {
				if sn.State != "c" {
					t.Fatalf("%s holds %q, want the last commit's %q", p, sn.State, "c")
				}
			}
		})
	}
}

func TestOpenFresh(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"missing", "empty"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "state")
			if name == "empty" {
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); name == "missing" && perm != 0o700 {
				t.Errorf("mode: got %v, want 0700", perm)
			}
			// Opened and closed without a write: still fresh, no guard.
			if _, ok, _ := readGeneration(dir); ok {
				t.Error("generation file written without a commit")
			}
			s, err = Open(dir)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			_ = s.Close()
		})
	}
}

func TestOpenRestoresGenerationFile(t *testing.T) {
	t.Parallel()
	dir := populated(t, 2)
	if err := os.Remove(filepath.Join(dir, GenerationFile)); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if gen, ok, err := readGeneration(dir); err != nil || !ok || gen != 2 {
		t.Errorf("generation file: got %d, %v, %v, want 2, true, nil", gen, ok, err)
	}
}

func TestOpenLocked(t *testing.T) {
	t.Parallel()
	s, dir := diskStore(t)
	if err := s.Save(Snapshot{Path: "a"}); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir)
	var le *LockedError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) {
		t.Fatalf("second open: got %v, want ErrLocked", err)
	}
	if le.Pid != os.Getpid() {
		t.Errorf("holder: got %d, want %d", le.Pid, os.Getpid())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir)
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	_ = s2.Close()
}
