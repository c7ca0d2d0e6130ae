package resourcebackup

import "arkive.io/arkive/workflows"

// Volume activities. Backup runs in the volume's mover (`arkive mover`, on a task queue of its
// own, with the volume mounted); Prune needs only the storage and runs on any worker.
const (
	ActivityVolumeBackup = "arkive.volume.Backup"
	ActivityVolumePrune  = "arkive.volume.Prune"
)

// VolumeBackupInput asks a mover for one snapshot of the volume it has mounted.
type VolumeBackupInput struct {
	Connection
	// Volume names the volume in the snapshot (namespace/claim).
	Volume string `json:"volume"`
	// Path is where the mover has the volume mounted.
	Path string `json:"path"`
	// Snapshot is the snapshot's id, from the workflow's clock, so a retry writes the same one.
	Snapshot string `json:"snapshot"`
	// Include and Exclude are path globs relative to the volume's root ("/data/**").
	Include []string `json:"include,omitempty"`
	Exclude []string `json:"exclude,omitempty"`
}

// VolumeProgress is heartbeated while a volume is backed up.
type VolumeProgress = workflows.VolumeProgress

// VolumeBackupResult describes the stored snapshot.
type VolumeBackupResult struct {
	Snapshot     string   `json:"snapshot"`
	Entries      int      `json:"entries"`
	Files        int      `json:"files"`
	Bytes        int64    `json:"bytes"`
	Added        int64    `json:"added"`
	Warnings     []string `json:"warnings,omitempty"`
	WarningCount int      `json:"warningCount,omitempty"`
}

// VolumePruneInput drops volume snapshots and the chunks only they held.
type VolumePruneInput struct {
	Connection
	Drop []string `json:"drop"`
}

// VolumePruneResult counts what went.
type VolumePruneResult struct {
	Snapshots    int   `json:"snapshots"`
	DeletedPacks int   `json:"deletedPacks"`
	FreedBytes   int64 `json:"freedBytes"`
}
