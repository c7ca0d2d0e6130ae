package resourcerestore

import "arkive.io/arkive/workflows"

// ActivityVolumeRestore runs in the target volume's mover (`arkive mover`, on a task queue of
// its own, with the volume mounted read-write).
const ActivityVolumeRestore = "arkive.volume.Restore"

// VolumeRestoreInput asks a mover to write one volume snapshot into the volume it has mounted.
type VolumeRestoreInput struct {
	Connection
	Snapshot string `json:"snapshot"`
	// KeepExisting leaves whatever the target has at a path (overwrite Never).
	KeepExisting bool `json:"keepExisting,omitempty"`
}

// VolumeProgress is heartbeated; its Position is where a retry resumes.
type VolumeProgress = workflows.VolumeProgress

// VolumeRestoreResult counts what the restore wrote.
type VolumeRestoreResult struct {
	Entries int   `json:"entries"`
	Files   int   `json:"files"`
	Bytes   int64 `json:"bytes"`
	// Skipped counts files found already in place (a resumed restore); Kept counts entries
	// KeepExisting left as the target had them.
	Skipped  int      `json:"skipped"`
	Kept     int      `json:"kept,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// The volume side of a restore: which volume snapshots the resource snapshot has (any
// worker, from the storage) and the claims to write them into (the Kubernetes side).
const (
	ActivityVolumeList  = "arkive.volume.List"
	ActivityEnsureClaim = "arkive.kube.EnsureClaim"
)

// VolumeSpec is spec.volumes of a restore: which of the snapshot's claims, into which claims.
type VolumeSpec struct {
	// Claims are "namespace/name" of the snapshot's claims (empty: all).
	Claims []string `json:"claims,omitempty"`
	// ClaimMapping maps a claim ("namespace/name") onto another; claims not mapped here keep
	// their name in the namespace the restore's namespaceMapping gives.
	ClaimMapping  map[string]string `json:"claimMapping,omitempty"`
	CreateMissing bool              `json:"createMissing"`
	RunAsUser     *int64            `json:"runAsUser,omitempty"`
	FSGroup       *int64            `json:"fsGroup,omitempty"`
	ReadAllFiles  bool              `json:"readAllFiles,omitempty"`
	// KeepExisting leaves whatever the target has at a path (overwrite Never).
	KeepExisting bool `json:"keepExisting,omitempty"`
}

// VolumeListInput asks for the volume snapshots of one resource snapshot.
type VolumeListInput struct {
	Connection
	Run string `json:"run"`
}

// VolumeSnapshot is one claim's snapshot in a run, with what it takes to create the claim.
type VolumeSnapshot struct {
	ID           string   `json:"id"`
	Volume       string   `json:"volume"` // namespace/name
	Capacity     string   `json:"capacity,omitempty"`
	StorageClass string   `json:"storageClass,omitempty"`
	AccessModes  []string `json:"accessModes,omitempty"`
	Files        int      `json:"files"`
	Bytes        int64    `json:"bytes"`
}

// VolumeListResult lists a run's volume snapshots, sorted by volume.
type VolumeListResult struct {
	Snapshots []VolumeSnapshot `json:"snapshots"`
}

// EnsureClaimInput makes sure a target claim exists, creating it (when Create) with the
// captured size, access modes and storage class.
type EnsureClaimInput struct {
	Namespace    string   `json:"namespace"`
	Name         string   `json:"name"`
	Capacity     string   `json:"capacity,omitempty"`
	StorageClass string   `json:"storageClass,omitempty"`
	AccessModes  []string `json:"accessModes,omitempty"`
	Create       bool     `json:"create"`
}

// EnsureClaimResult says whether the claim was created.
type EnsureClaimResult struct {
	Created bool `json:"created"`
}

// VolumeResult is what the restore did with one volume.
type VolumeResult struct {
	Volume  string `json:"volume"`
	Target  string `json:"target"`
	Created bool   `json:"created,omitempty"`
	Files   int    `json:"files"`
	Bytes   int64  `json:"bytes"`
	Skipped int    `json:"skipped,omitempty"`
	Kept    int    `json:"kept,omitempty"`
}
