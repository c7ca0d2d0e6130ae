package resourcebackup

import (
	"time"

	"arkive.io/arkive/api/status"
	"arkive.io/arkive/workflows"
)

// Registered names: part of the contract with running histories, never rename.
const (
	WorkflowName     = "arkive.ResourceBackup"
	ActivitySnapshot = "arkive.kube.Snapshot"
	ActivityPrune    = "arkive.kube.Prune"
)

// Phases, as SchemaRegistryBackup's.
const (
	PhasePaused       = status.Paused
	PhaseInitializing = status.Initializing
	PhaseRunning      = status.Running
	PhaseError        = status.Error
)

// Reasons shown with a phase.
const (
	ReasonPausedBySignal     = status.PausedBySignal
	ReasonPausedBySpec       = status.PausedBySpec
	ReasonRetrying           = status.Retrying
	ReasonWaitingForSchedule = status.WaitingForSchedule
	ReasonWaitingForTrigger  = status.WaitingForTrigger
)

// Error types of non-retryable failures, shown in the resource's status.
const (
	ErrInvalidSpec         = workflows.ErrInvalidSpec
	ErrStorageAccessDenied = workflows.ErrStorageAccessDenied
	ErrKubernetes          = workflows.ErrKubernetes
	ErrStorage             = workflows.ErrStorage
)

// Connection reaches the backup's storage.
type Connection = workflows.ResourceConnection

// Spec is the part of a ResourceBackup the workflow acts on.
type Spec struct {
	Enabled bool `json:"enabled"`
	// Schedule is a cron expression; empty: one snapshot at start, then one per trigger.
	Schedule string `json:"schedule,omitempty"`
	// KeepLast keeps at most this many snapshots (0: no bound); MaxAge drops older ones (0: no
	// bound). The newest snapshot is always kept.
	KeepLast int           `json:"keepLast,omitempty"`
	MaxAge   time.Duration `json:"maxAge,omitempty"`
	// Selection is what to back up; Namespaces is never empty (the resource's own by default).
	Selection               workflows.ResourceSelection `json:"selection"`
	IncludeClusterScoped    bool                        `json:"includeClusterScoped,omitempty"`
	AllowUnencryptedSecrets bool                        `json:"allowUnencryptedSecrets,omitempty"`
	// Volumes are the claims whose files each snapshot copies, through a mover Pod each.
	Volumes []VolumeSpec `json:"volumes,omitempty"`
}

// Input starts the workflow.
type Input struct {
	Connection
	Spec Spec `json:"spec"`
}

// RunInput is Input plus the state carried over continue-as-new.
type RunInput struct {
	Input
	State *State `json:"state,omitempty"`
}

// State survives continue-as-new: the shared cron backup's, and the newest snapshot's size.
type State struct {
	workflows.CronState
	Objects     int   `json:"objects,omitempty"`
	Volumes     int   `json:"volumes,omitempty"`
	VolumeBytes int64 `json:"volumeBytes,omitempty"`
	// Completed is when the newest snapshot was complete (its objects and volumes stored).
	Completed time.Time `json:"completed,omitzero"`
}

// SnapshotInput asks for one snapshot; ID and Time come from the workflow's clock, so a retry
// writes the same objects.
type SnapshotInput struct {
	Connection
	Spec Spec      `json:"spec"`
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
}

// SnapshotProgress is heartbeated while objects are listed and written.
type SnapshotProgress struct {
	Objects int `json:"objects"`
	Chunks  int `json:"chunks"`
}

// SnapshotResult describes the stored snapshot and lists the backup's snapshots afterwards.
type SnapshotResult struct {
	ID        string         `json:"id"`
	Objects   int            `json:"objects"`
	Secrets   int            `json:"secrets"`
	Bytes     int64          `json:"bytes"`
	Snapshots []SnapshotInfo `json:"snapshots"`
	// Warning is set when Secrets were stored without encryption (allowUnencryptedSecrets).
	Warning string `json:"warning,omitempty"`
}

// SnapshotInfo is a stored snapshot as retention sees it.
type SnapshotInfo = workflows.SnapshotInfo

// PruneInput removes snapshots from the manifest, then deletes their objects.
type PruneInput struct {
	Connection
	Drop []string `json:"drop"`
}

// PruneResult counts what went.
type PruneResult struct {
	Deleted int `json:"deleted"`
}

// Status answers the status query.
type Status struct {
	Phase          string    `json:"phase"`
	Reason         string    `json:"reason,omitempty"`
	LastBackupTime time.Time `json:"lastBackupTime,omitzero"`
	LastSnapshot   string    `json:"lastSnapshot,omitempty"`
	Snapshots      int       `json:"snapshots"`
	Objects        int       `json:"objects"`
	Volumes        int       `json:"volumes,omitempty"`
	VolumeBytes    int64     `json:"volumeBytes,omitempty"`
	// LastCompletionTime is when the newest snapshot was complete; StorageClaim names the
	// claim that keeps the backups, for a Storage kept in one.
	LastCompletionTime time.Time `json:"lastCompletionTime,omitzero"`
	StorageClaim       string    `json:"storageClaim,omitempty"`
	Runs               int       `json:"runs"`
	NextSnapshot       time.Time `json:"nextSnapshot,omitzero"`
	LastError          string    `json:"lastError,omitempty"`
	Warning            string    `json:"warning,omitempty"`
}

// SnapshotID names a snapshot (workflows.SnapshotID).
func SnapshotID(t time.Time, run int) string { return workflows.SnapshotID(t, run) }
