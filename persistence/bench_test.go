package persistence

import (
	"path/filepath"
	"testing"
)

// Typical snapshots carry a few history entries; full ones MaxHistory.
var benchHistories = []struct {
	name    string
	history int
}{
	{"typical", 5},
	{"full-history", MaxHistory},
}

// BenchmarkOpenSaveClose is one oneshot pass's use of the store: open,
// save 100 snapshots in one transaction, close.
func BenchmarkOpenSaveClose(b *testing.B) {
	for _, bh := range benchHistories {
		b.Run(bh.name, func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), "state")
			snaps := samplesWithHistory(100, "running", bh.history)
			b.ReportAllocs()
			for b.Loop() {
				s, err := Open(dir)
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Save(snaps...); err != nil {
					b.Fatal(err)
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSave100 is one Save of 100 snapshots to an open store on
// disk (SyncWrites, generation file rewritten).
func BenchmarkSave100(b *testing.B) {
	for _, bh := range benchHistories {
		b.Run(bh.name, func(b *testing.B) {
			s, _ := diskStore(b)
			snaps := samplesWithHistory(100, "running", bh.history)
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Save(snaps...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
