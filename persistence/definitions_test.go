package persistence

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestDefinitions(t *testing.T) {
	t.Parallel()
	s := memStore(t)
	if _, err := s.Definitions(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("definitions of a new store: %v, want ErrNotFound", err)
	}
	for _, defs := range []string{`{"Name":"site","Children":[{"Name":"a"}]}`, `{"Name":"site"}`} {
		if err := s.SaveDefinitions([]byte(defs)); err != nil {
			t.Fatal(err)
		}
		got, err := s.Definitions()
		if err != nil || string(got) != defs {
			t.Errorf("definitions = %s, %v; want %s", got, err, defs)
		}
	}
	if err := s.SaveDefinitions([]byte(`{"Name":`)); !errors.Is(err, errNotJSON) {
		t.Errorf("saving definitions that are not JSON: %v, want errNotJSON", err)
	}
	if got, _ := s.Definitions(); string(got) != `{"Name":"site"}` {
		t.Errorf("refused definitions replaced the last ones: %s", got)
	}
	// Definitions do not count as a save of the nodes' state.
	if _, err := s.SavedAt(); !errors.Is(err, ErrNotFound) {
		t.Errorf("SavedAt after saving definitions only: %v, want ErrNotFound", err)
	}
}

// Definitions too big for a transaction even gzipped are refused, and the
// last ones go: nothing may compare against definitions that no longer
// run.
func TestDefinitionsTooBig(t *testing.T) {
	t.Parallel()
	s, _ := diskStore(t) // otpsv's transaction limit, not the in-memory default
	if err := s.SaveDefinitions([]byte(`{"Name":"site"}`)); err != nil {
		t.Fatal(err)
	}
	noise := make([]byte, 600<<10)
	_, _ = rand.Read(noise)
	big := `{"Name":"` + base64.StdEncoding.EncodeToString(noise) + `"}`
	if err := s.SaveDefinitions([]byte(big)); !errors.Is(err, ErrTooBig) {
		t.Fatalf("saving %d bytes of incompressible definitions: %v, want ErrTooBig", len(big), err)
	}
	if _, err := s.Definitions(); !errors.Is(err, ErrNotFound) {
		t.Errorf("after a refused save: %v, want the last definitions gone (ErrNotFound)", err)
	}
}

// A daemon saves through Lazy; a later otpsv reads them from the store.
func TestDefinitionsLazy(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	l, err := OpenLazy(dir, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defs := `{"Name":"site"}`
	if err := l.SaveDefinitions([]byte(defs)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Definitions(); err != nil || string(got) != defs {
		t.Errorf("definitions after reopening = %s, %v; want %s", got, err, defs)
	}
}
