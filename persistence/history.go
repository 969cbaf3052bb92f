package persistence

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/dgraph-io/badger/v4"
)

// A node's history is stored apart from its snapshot, one entry per key,
// so that a Save writes only the entries it has not written before. A
// snapshot carrying its whole history made every change of a node (a
// restart is several, of several nodes) rewrite up to MaxHistory entries,
// ~15 KB: a restart storm wrote tens of KB per restart, filling Badger's
// memtable again and again, and the daemon's RSS grew past 100 MB.
//
// Entry number n of a node (see Snapshot.HistorySeq) is stored under
// "hist/<path>\x00<n mod MaxHistory>": a ring, where a new entry takes
// the place of the one MaxHistory older, so that trimming deletes
// nothing. The node's own value records the number of its newest entry
// and how many entries ending there are its history; a slot holding
// anything else (older, or left over from a history that was replaced)
// is ignored.
const histPrefix = "hist/"

// storedEntry is a HistoryEntry as stored, with its number.
type storedEntry struct {
	Seq uint64 `json:"seq"`
	HistoryEntry
}

// storedNode is a Snapshot as stored under "node/<path>": History is
// empty and HistoryLen entries ending at number last() are in the ring.
// A snapshot written before the ring existed has HistoryLen 0 and its
// history inline.
type storedNode struct {
	Snapshot
	HistoryLen int `json:"history_len,omitzero"`
}

// last is the number of the newest entry in the ring.
func (n *storedNode) last() uint64 {
	return max(n.HistorySeq, uint64(n.HistoryLen))
}

func histKeyPrefix(path string) []byte {
	return []byte(histPrefix + path + "\x00")
}

func histKey(path string, seq uint64) []byte {
	return strconv.AppendUint(histKeyPrefix(path), seq%MaxHistory, 10)
}

// putNode writes sn (History already trimmed) as its node value and the
// history entries the store does not hold yet.
func putNode(txn *badger.Txn, sn Snapshot) error {
	n := len(sn.History)
	last := max(sn.HistorySeq, uint64(n))
	first := last - uint64(n) + 1 // the number of History[0]
	// Entries numbered (lo, hi] are stored already, unless one of the two
	// histories is not numbered or the numbers go back: then sn's
	// replaces the stored one.
	var lo, hi uint64
	var old storedNode
	switch err := getJSON(txn, nodePrefix+sn.Path, &old); {
	case err == nil && old.HistorySeq != 0 && sn.HistorySeq >= old.last():
		hi = old.last()
		lo = hi - uint64(old.HistoryLen)
	case err != nil && !errors.Is(err, ErrNotFound):
		return err
	}
	for i, e := range sn.History {
		seq := first + uint64(i)
		if seq > lo && seq <= hi {
			continue
		}
		if err := setJSON(txn, string(histKey(sn.Path, seq)), storedEntry{Seq: seq, HistoryEntry: e}); err != nil {
			return err
		}
	}
	sn.History = nil
	return setJSON(txn, nodePrefix+sn.Path, storedNode{Snapshot: sn, HistoryLen: n})
}

// snapshot returns the node with its history, taken from entries (the
// ring slots of its path, in any order; sorted in place).
func (n *storedNode) snapshot(entries []storedEntry) Snapshot {
	sn := n.Snapshot
	if n.HistoryLen == 0 {
		return sn // no history, or written before the ring: inline
	}
	hi := n.last()
	lo := hi - uint64(n.HistoryLen)
	slices.SortFunc(entries, func(a, b storedEntry) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, e := range entries {
		if e.Seq > lo && e.Seq <= hi {
			sn.History = append(sn.History, e.HistoryEntry)
		}
	}
	return sn
}

// readHistory returns the ring slots stored under prefix (one path's, or
// every path's with histPrefix), by path.
func readHistory(txn *badger.Txn, prefix []byte) (map[string][]storedEntry, error) {
	out := make(map[string][]storedEntry)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 100})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		key := item.Key()
		i := bytes.LastIndexByte(key, 0)
		if i < len(histPrefix) {
			return nil, fmt.Errorf("history key %q: %w", key, ErrDamaged)
		}
		var e storedEntry
		if err := item.Value(func(v []byte) error { return decode(key, v, &e) }); err != nil {
			return nil, err
		}
		path := string(key[len(histPrefix):i])
		out[path] = append(out[path], e)
	}
	return out, nil
}
