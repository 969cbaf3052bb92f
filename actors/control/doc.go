// Package control is the daemon's control interface: HTTP+JSON over the
// Unix socket state_dir/otpsv.sock, and the client the other verbs use.
//
// The socket is created with mode 0600 inside the 0700 state_dir, and every
// connection's peer uid is checked with SO_PEERCRED: only otpsv's own uid
// and root are served; anyone else gets 403 and the connection is closed.
// Requests are bounded in size and time. HTTP was chosen so that operators
// can script it without otpsv:
//
//	curl --unix-socket ~/.local/state/otpsv/site/otpsv.sock http://otpsv/v1/tree
//
// It must not import protoactor or badger: it sees the tree through the
// Backend interface (and Planner, for `otpsv plan` and the lines `otpsv
// reload` prints). It imports config for the definitions and the changes
// of a reload (config.Node, config.Change).
package control
