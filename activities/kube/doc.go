// Package kube is where Arkive's activities touch a cluster's objects: ResourceBackup lists the
// selected kinds page by page and streams them into a snapshot (chunks of JSON lines and an
// index with every object's hash, internal/archive); ResourceRestore plans against the target
// and writes one ordering step at a time, with client-go's dynamic client and discovery.
//
// What a restore strips from a stored object, and why, is objects.go; the order of the steps
// is steps.go. Secret values never leave this package except into encrypted storage: results,
// heartbeats, diffs and errors hold names, counts and field paths only.
package kube
