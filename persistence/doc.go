// Package persistence owns what otpsv keeps in its state_dir between
// runs: the ownership lock that lets one otpsv at a time act on a
// state_dir, and (later) the Badger store of node snapshots.
//
// It is the only package that may import badger. It must not import
// protoactor.
package persistence
