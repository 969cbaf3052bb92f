package persistence

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/dgraph-io/badger/v4"
)

// The definitions of the tree that runs (what `otpsv plan` compares a new
// config with when no daemon answers) are one value under
// meta/definitions. The caller's JSON is stored gzipped: a resolved node
// is ~700 bytes of JSON, so a tree of 1000 nodes would not fit in one
// transaction as it is, and it compresses ~40 times. The value is kept
// below Badger's value threshold, so that it stays in the LSM tree
// (where compaction drops old versions) rather than in the value log.

// storedDefs is the value under meta/definitions.
type storedDefs struct {
	Gzip []byte `json:"gzip"` // the caller's JSON, gzipped (base64 in the value)
}

// errNotJSON is definitions that are not one JSON value.
var errNotJSON = errors.New("definitions are not JSON")

// SaveDefinitions records defs, the JSON of the definitions the tree runs
// now, in place of the last ones, in one transaction. When they cannot be
// saved (ErrTooBig: over ~300 KB gzipped, some 10000 nodes), the last
// ones are removed, so that nobody compares against definitions that no
// longer run, and the error is returned.
func (s *Store) SaveDefinitions(defs []byte) error {
	if !json.Valid(defs) {
		return fmt.Errorf("save definitions: %w", errNotJSON)
	}
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	_, _ = w.Write(defs) // a bytes.Buffer does not fail
	_ = w.Close()
	val, err := json.Marshal(storedDefs{Gzip: z.Bytes()})
	if err != nil {
		return fmt.Errorf("save definitions: %w", err)
	}
	if len(val) >= valueThreshold {
		// Badger would put it in the value log, which only grows.
		err = fmt.Errorf("%w: %d bytes, over %d", ErrTooBig, len(val), valueThreshold)
	} else {
		err = s.update(func(txn *badger.Txn) error { return txn.Set([]byte(metaPrefix+metaDefs), val) })
	}
	if errors.Is(err, ErrTooBig) {
		if derr := s.update(func(txn *badger.Txn) error { return txn.Delete([]byte(metaPrefix + metaDefs)) }); derr != nil {
			err = errors.Join(err, fmt.Errorf("remove the last definitions: %w", derr))
		}
	}
	if err != nil {
		return fmt.Errorf("save definitions (%d bytes, %d gzipped): %w", len(defs), z.Len(), err)
	}
	return nil
}

// Definitions returns the JSON last given to SaveDefinitions, or an error
// wrapping ErrNotFound when there is none. Stored definitions that do not
// decompress are an error wrapping ErrDamaged.
func (s *Store) Definitions() ([]byte, error) {
	var sd storedDefs
	if err := s.meta(metaDefs, &sd); err != nil {
		return nil, fmt.Errorf("definitions: %w", err)
	}
	r, err := gzip.NewReader(bytes.NewReader(sd.Gzip))
	if err != nil {
		return nil, fmt.Errorf("definitions: %w: %w", ErrDamaged, err)
	}
	defs, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("definitions: %w: %w", ErrDamaged, err)
	}
	if !json.Valid(defs) {
		return nil, fmt.Errorf("definitions: %w: %w", ErrDamaged, errNotJSON)
	}
	return defs, nil
}

// SaveDefinitions records defs (see Store.SaveDefinitions).
func (l *Lazy) SaveDefinitions(defs []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	st, err := l.open()
	if err != nil {
		return err
	}
	return st.SaveDefinitions(defs)
}
