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
			s, err := Open(dir)
			if err != nil {
				b.Fatal(err)
			}
			prefill(b, s, snaps)
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
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
			prefill(b, s, snaps)
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Save(snaps...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// prefill saves snaps the way the daemon's saver first writes histories
// whole, in transactions small enough; the benchmarks then measure the
// saves that follow, which write only the entries the store lacks.
func prefill(b *testing.B, s *Store, snaps []Snapshot) {
	b.Helper()
	for i := 0; i < len(snaps); i += 10 {
		if err := s.Save(snaps[i:min(i+10, len(snaps))]...); err != nil {
			b.Fatal(err)
		}
	}
}
