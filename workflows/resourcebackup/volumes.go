package resourcebackup

import (
	"crypto/sha256"
	"encoding/hex"

	"arkive.io/arkive/workflows"
)

// Volume activities. Backup runs in the volume's mover (`arkive mover`, on a task queue of its
// own, with the volume mounted); Prune needs only the storage and runs on any worker.
const (
	ActivityVolumeBackup = "arkive.volume.Backup"
	ActivityVolumePrune  = "arkive.volume.Prune"
	// The Kubernetes side: which claims a spec selects, and the mover Pods.
	ActivityListVolumes = "arkive.kube.ListVolumes"
	ActivityStartMover  = workflows.ActivityStartMover
	ActivityStopMover   = workflows.ActivityStopMover
)

// VolumeSpec selects claims of one namespace (spec.volumes[]).
type VolumeSpec struct {
	Namespace string   `json:"namespace"`
	Claims    []string `json:"claims,omitempty"`
	// Selector is a label selector in its string form ("app=x,tier in (a,b)").
	Selector     string   `json:"selector,omitempty"`
	Include      []string `json:"include,omitempty"`
	Exclude      []string `json:"exclude,omitempty"`
	RunAsUser    *int64   `json:"runAsUser,omitempty"`
	FSGroup      *int64   `json:"fsGroup,omitempty"`
	ReadAllFiles bool     `json:"readAllFiles,omitempty"`
}

// ListVolumesInput asks which claims the specs select.
type ListVolumesInput struct {
	Volumes []VolumeSpec `json:"volumes"`
}

// Claim is one selected claim, with what a restore needs to create it again.
type Claim struct {
	Namespace    string   `json:"namespace"`
	Name         string   `json:"name"`
	Spec         int      `json:"spec"` // index into spec.volumes
	Capacity     string   `json:"capacity,omitempty"`
	StorageClass string   `json:"storageClass,omitempty"`
	AccessModes  []string `json:"accessModes,omitempty"`
}

// ListVolumesResult lists the selected claims, each once, sorted.
type ListVolumesResult struct {
	Claims []Claim `json:"claims"`
}

// MoverInput and MoverResult are the shared mover contract (workflows.WithMover).
type (
	MoverInput  = workflows.MoverInput
	MoverResult = workflows.MoverResult
)

// VolumeBackupInput asks a mover for one snapshot of the volume it has mounted.
type VolumeBackupInput struct {
	Connection
	// Volume names the volume in the snapshot (namespace/claim).
	Volume string `json:"volume"`
	// Snapshot is the snapshot's id, from the workflow's clock, so a retry writes the same one.
	Snapshot string `json:"snapshot"`
	// Include and Exclude are path globs relative to the volume's root ("/data/**").
	Include []string `json:"include,omitempty"`
	Exclude []string `json:"exclude,omitempty"`
	// Run is the resource snapshot this volume snapshot belongs to; Claim is what a restore
	// needs to create the claim again.
	Run   string `json:"run,omitempty"`
	Claim *Claim `json:"claim,omitempty"`
}

// VolumeProgress is heartbeated while a volume is backed up.
type VolumeProgress = workflows.VolumeProgress

// VolumeBackupResult describes the stored snapshot.
type VolumeBackupResult struct {
	Snapshot     string   `json:"snapshot"`
	Volume       string   `json:"volume,omitempty"`
	Entries      int      `json:"entries"`
	Files        int      `json:"files"`
	Bytes        int64    `json:"bytes"`
	Added        int64    `json:"added"`
	Warnings     []string `json:"warnings,omitempty"`
	WarningCount int      `json:"warningCount,omitempty"`
}

// VolumePruneInput keeps the volume snapshots of the given resource snapshots (runs) and drops
// every other one (those of dropped runs, and of runs that failed after their volumes were
// stored), with the chunks only they held.
type VolumePruneInput struct {
	Connection
	KeepRuns []string `json:"keepRuns"`
}

// VolumePruneResult counts what went.
type VolumePruneResult struct {
	Snapshots    int   `json:"snapshots"`
	DeletedPacks int   `json:"deletedPacks"`
	FreedBytes   int64 `json:"freedBytes"`
}

// VolumeSnapshotID names the snapshot of one claim in one run: the run's id and a hash of the
// claim (claim names are longer than snapshot ids may be).
func VolumeSnapshotID(run, namespace, claim string) string {
	sum := sha256.Sum256([]byte(namespace + "/" + claim))
	return run + "-" + hex.EncodeToString(sum[:6])
}
