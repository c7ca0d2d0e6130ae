package resourcerestore

import "arkive.io/arkive/workflows"

// ActivityVolumeRestore runs in the target volume's mover (`arkive mover`, on a task queue of
// its own, with the volume mounted read-write).
const ActivityVolumeRestore = "arkive.volume.Restore"

// VolumeRestoreInput asks a mover to write one volume snapshot into the volume it has mounted.
type VolumeRestoreInput struct {
	Connection
	Snapshot string `json:"snapshot"`
	// Path is where the mover has the volume mounted.
	Path string `json:"path"`
}

// VolumeProgress is heartbeated; its Position is where a retry resumes.
type VolumeProgress = workflows.VolumeProgress

// VolumeRestoreResult counts what the restore wrote.
type VolumeRestoreResult struct {
	Entries int   `json:"entries"`
	Files   int   `json:"files"`
	Bytes   int64 `json:"bytes"`
	// Skipped counts files found already in place (a resumed restore).
	Skipped  int      `json:"skipped"`
	Warnings []string `json:"warnings,omitempty"`
}
