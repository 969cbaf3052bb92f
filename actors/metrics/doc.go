// Package metrics serves otpsv's Prometheus metrics (SPEC §9): the node
// gauges, read from the live tree view at scrape time, and the counters
// (restarts, supervisors giving up, probe failures), folded from the
// supervision events. It owns a private registry and the HTTP listener
// of `settings.metrics` / `otpsv daemon --metrics`.
//
// Nothing runs between scrapes: there is no ticker and no goroutine of
// its own besides the HTTP server's, so an idle daemon stays idle.
//
// It reads the tree only through a func returning a *control.Node and the
// events only as event.Event values: it must not import protoactor,
// badger, package actors or config.
package metrics
