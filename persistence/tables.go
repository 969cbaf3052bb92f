package persistence

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
)

// checkTables opens every table the MANIFEST lists, the way Badger will,
// and returns the first that does not open. Badger opens its tables in
// goroutines of its own, where a truncated table makes it panic and take
// the process down; here the panic is recovered and becomes an error.
//
// A MANIFEST that cannot be read is left for badger.Open to report.
// Table files the MANIFEST does not list are not looked at: they are
// leftovers of a flush or compaction cut short, and Badger deletes them.
func checkTables(dir string) error {
	fp, err := os.Open(filepath.Join(dir, badger.ManifestFilename))
	if err != nil {
		return nil
	}
	mf, _, err := badger.ReplayManifestFile(fp, 0, badgerOptions(dir))
	_ = fp.Close()
	if err != nil {
		return nil
	}
	for id, tm := range mf.Tables {
		if tm.Compression != options.None || tm.KeyID != 0 {
			continue // not written by otpsv; Badger will judge
		}
		if err := checkTable(table.NewFilename(id, dir)); err != nil {
			return err
		}
	}
	return nil
}

// checkTable opens one table and verifies its checksums. On failure the
// file's mapping is not released (table.OpenTable releases it on some
// error paths and not on others); the caller is about to give up anyway.
func checkTable(name string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("table %s is truncated or corrupt (badger panicked reading it)", filepath.Base(name))
		}
	}()
	if _, err := os.Stat(name); err != nil {
		return fmt.Errorf("table %s: %w", filepath.Base(name), err)
	}
	mf, err := z.OpenMmapFile(name, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("table %s: %w", filepath.Base(name), err)
	}
	t, err := table.OpenTable(mf, table.Options{
		ReadOnly:    true,
		ChkMode:     options.OnTableRead,
		BlockSize:   4 << 10,
		Compression: options.None,
	})
	if err != nil {
		return fmt.Errorf("table %s: %w", filepath.Base(name), err)
	}
	return t.MmapFile.Close(-1)
}
