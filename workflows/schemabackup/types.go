package schemabackup

import (
	"time"

	"arkive.io/arkive/api/status"
	"arkive.io/arkive/workflows"
)

// Registered names: part of the contract with running histories, never rename.
const (
	WorkflowName     = "arkive.SchemaRegistryBackup"
	ActivitySnapshot = "arkive.schemaregistry.Snapshot"
	ActivityPrune    = "arkive.schemaregistry.Prune"
)

// Phases, as the SchemaRegistryBackup API (and the Kannika seed) names them.
const (
	PhasePaused       = status.Paused
	PhaseInitializing = status.Initializing
	PhaseRunning      = status.Running
	PhaseError        = status.Error
)

// Reasons shown with a phase.
const (
	ReasonPausedBySignal = status.PausedBySignal
	ReasonPausedBySpec   = status.PausedBySpec
	ReasonRetrying       = status.Retrying
)

// Error types of non-retryable failures, shown in the resource's status.
const (
	ErrInvalidSpec         = workflows.ErrInvalidSpec
	ErrUnauthorized        = workflows.ErrUnauthorized
	ErrStorageAccessDenied = workflows.ErrStorageAccessDenied
	ErrBackupNotFound      = workflows.ErrBackupNotFound
	ErrConflict            = workflows.ErrConflict
	ErrUnsupported         = workflows.ErrUnsupported
	ErrRegistry            = workflows.ErrRegistry
	ErrStorage             = workflows.ErrStorage
)

// Connection reaches the registry and the storage: specs as JSON holding Secret references
// only, and the namespace those references live in.
type Connection = workflows.RegistryConnection

// Spec is the part of a SchemaRegistryBackup the workflow acts on.
type Spec struct {
	Enabled  bool          `json:"enabled"`
	Interval time.Duration `json:"interval"`
	// KeepLast keeps at most this many snapshots (0: no bound); MaxAge drops older ones
	// (0: no bound). The newest snapshot is always kept.
	KeepLast int           `json:"keepLast,omitempty"`
	MaxAge   time.Duration `json:"maxAge,omitempty"`
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

// State survives continue-as-new.
type State struct {
	Paused       bool      `json:"paused,omitempty"`
	LastCheck    time.Time `json:"lastCheck,omitzero"`
	LastSnapshot string    `json:"lastSnapshot,omitempty"`
	Snapshots    int       `json:"snapshots,omitempty"`
	Subjects     int       `json:"subjects,omitempty"`
	Versions     int       `json:"versions,omitempty"`
	Checks       int       `json:"checks,omitempty"`
	NextAt       time.Time `json:"nextAt,omitzero"`
	// Halted holds a permanent error (bad credentials, bad spec): no interval snapshot is tried
	// until a trigger, resume or new spec, so wrong credentials are not retried every interval.
	Halted    string `json:"halted,omitempty"`
	HaltType  string `json:"haltType,omitempty"`
	LastError string `json:"lastError,omitempty"`
	// Triggered carries a trigger that arrived just before continue-as-new.
	Triggered bool `json:"triggered,omitempty"`
	// Triggers are the ids of the last trigger signals applied (workflows.Signals.Triggers).
	Triggers []string `json:"triggers,omitempty"`
}

// SnapshotInput asks for one snapshot; ID and Time come from the workflow's clock, so a retry
// writes the same object.
type SnapshotInput struct {
	Connection
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
}

// SnapshotResult says whether anything changed and lists the backup's snapshots afterwards.
type SnapshotResult struct {
	// Stored is false when the registry held what the newest snapshot holds: no object was
	// written and only the manifest's lastCheck moved.
	Stored    bool           `json:"stored"`
	ID        string         `json:"id"` // the newest snapshot (this one, or the unchanged one)
	Subjects  int            `json:"subjects"`
	Versions  int            `json:"versions"`
	Snapshots []SnapshotInfo `json:"snapshots"`
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
	Subjects       int       `json:"subjects"`
	Versions       int       `json:"versions"`
	Checks         int       `json:"checks"`
	NextSnapshot   time.Time `json:"nextSnapshot,omitzero"`
	LastError      string    `json:"lastError,omitempty"`
}

// SnapshotID names a snapshot (workflows.SnapshotID).
func SnapshotID(t time.Time, check int) string { return workflows.SnapshotID(t, check) }
