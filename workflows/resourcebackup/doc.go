// Package resourcebackup decides when a ResourceBackup snapshots the Kubernetes objects it
// selects (once, on a cron schedule, on trigger) and which snapshots it keeps. types.go holds
// the plain types shared with the activities that list the objects and write storage
// (activities/kube).
package resourcebackup
