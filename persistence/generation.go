package persistence

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// GenerationFile is the name of the store's damage guard, kept inside
// the store directory next to Badger's files (state_dir/state/otpsv.generation).
//
// It records how many write transactions the store has committed. Every
// write transaction also stores that count under "meta/generation", and
// the file is rewritten (temp file, fsync, rename) at the first commit and
// at Close, so the count inside the store is never below the file's. Badger opens a
// store whose MANIFEST was deleted or truncated without complaint, empty
// or missing its newest tables; the count inside the store then comes
// back lower than the file's and Open reports ErrDamaged instead of
// running with lost state.
//
// Living inside the directory, the file moves with it: moving the
// directory aside (the way out of ErrDamaged) or removing it starts
// afresh, while deleting Badger's files alone does not go unnoticed.
const GenerationFile = "otpsv.generation"

// generation is the file's content.
type generation struct {
	Format     int    `json:"format"`
	Generation uint64 `json:"generation"`
}

const generationFormat = 1

// readGeneration returns the count recorded in dir's generation file,
// and whether there is such a file.
func readGeneration(dir string) (uint64, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, GenerationFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	var g generation
	if err := json.Unmarshal(b, &g); err != nil {
		return 0, true, fmt.Errorf("%s is unreadable: %w", GenerationFile, err)
	}
	if g.Format != generationFormat {
		return 0, true, fmt.Errorf("%s has unknown format %d", GenerationFile, g.Format)
	}
	return g.Generation, true, nil
}

// writeGeneration replaces dir's generation file atomically: write a
// temporary file, fsync it, rename it over the old one. With syncDir it
// also fsyncs dir so that the rename itself survives a power cut; without
// it a power cut may bring back an older (lower) count, which is harmless.
func writeGeneration(dir string, gen uint64, syncDir bool) error {
	b, err := json.Marshal(generation{Format: generationFormat, Generation: gen})
	if err != nil {
		return err
	}
	b = append(b, '\n')
	name := filepath.Join(dir, GenerationFile)
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", GenerationFile, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", GenerationFile, err)
	}
	if syncDir {
		if err := fsyncDir(dir); err != nil {
			return fmt.Errorf("write %s: %w", GenerationFile, err)
		}
	}
	return nil
}

func fsyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
