package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
)

// Walk calls fn for n and every node below it, depth first, parents
// before children, children in list order. It stops at the first error
// fn returns and returns it.
func (n *Node) Walk(fn func(*Node) error) error {
	if n == nil {
		return nil
	}
	if err := fn(n); err != nil {
		return err
	}
	for _, c := range n.Children {
		if err := c.Walk(fn); err != nil {
			return err
		}
	}
	return nil
}

// Find returns the node at path ("site/backend/db"; surrounding slashes
// are ignored), or nil when there is none.
func (c *Config) Find(path string) *Node {
	if c == nil || c.Tree == nil {
		return nil
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	n := c.Tree
	if parts[0] != n.Name {
		return nil
	}
next:
	for _, p := range parts[1:] {
		for _, k := range n.Children {
			if k.Name == p {
				n = k
				continue next
			}
		}
		return nil
	}
	return n
}

// Fingerprint returns a stable hash (hex SHA-256) of n's own definition:
// every field but Children, File, Line, Backoff and Significant. Two loads of an unchanged node
// give the same fingerprint, even when it moved within its file or to
// another file, or when its children changed; a reload uses it to tell
// which nodes to restart.
func (n *Node) Fingerprint() string {
	own := *n
	own.Children, own.File, own.Line = nil, "", 0
	// A backoff only shapes the next restart: the supervisor reads the
	// new one on reload, and nothing running needs a restart for it.
	own.Backoff = nil
	// Whether a child is significant matters only when it exits, and its
	// supervisor reads it then from the definition it holds: a reload
	// applies it without restarting anything. auto_shutdown, a
	// supervisor's policy like intensity, stays in: a supervisor is never
	// restarted for its own keys, and a changed fingerprint is how it
	// learns that its policy changed.
	own.Significant = false
	b, err := json.Marshal(&own)
	if err != nil {
		// A Node holds only strings, numbers, booleans and slices of them.
		panic("config: fingerprint: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
