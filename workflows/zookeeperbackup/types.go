package zookeeperbackup

import (
	"time"

	"arkive.io/arkive/api/status"
	"arkive.io/arkive/workflows"
)

// Registered names: part of the contract with running histories, never rename.
const (
	WorkflowName     = "arkive.ZooKeeperBackup"
	ActivitySnapshot = "arkive.zookeeper.Snapshot"
	ActivityPrune    = "arkive.zookeeper.Prune"
)

// Phases, as the other snapshot backups'.
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
	ErrZooKeeper           = workflows.ErrZooKeeper
	ErrStorage             = workflows.ErrStorage
	// ErrAuthentication: the ensemble refused the session's credentials.
	ErrAuthentication = workflows.ErrAuthentication
)

// Consistency of a snapshot.
const (
	// Consistent: the ensemble's zxid did not move during the walk, so the snapshot is the
	// tree as it was at that zxid.
	Consistent = "consistent"
	// Fuzzy: something changed during the walk (or the zxid could not be read): every node is
	// as it was at some moment of the window, not all at the same one.
	Fuzzy = "fuzzy"
)

// Connection reaches the ensemble and the backup's storage.
type Connection = workflows.ZooKeeperConnection

// NodeType declares nodes the client protocol reports as persistent: Type is "Container" or
// "TTL" (with TTL).
type NodeType struct {
	Paths []string      `json:"paths"`
	Type  string        `json:"type"`
	TTL   time.Duration `json:"ttl,omitempty"`
}

// Spec is the part of a ZooKeeperBackup the workflow acts on.
type Spec struct {
	Enabled bool `json:"enabled"`
	// Schedule is a cron expression; empty: one snapshot at start, then one per trigger.
	Schedule string `json:"schedule,omitempty"`
	// KeepLast and MaxAge bound the snapshots kept (0: no bound); the newest is always kept.
	KeepLast         int           `json:"keepLast,omitempty"`
	MaxAge           time.Duration `json:"maxAge,omitempty"`
	Include          []string      `json:"include,omitempty"`
	Exclude          []string      `json:"exclude,omitempty"`
	NodeTypes        []NodeType    `json:"nodeTypes,omitempty"`
	IncludeEphemeral bool          `json:"includeEphemeral,omitempty"`
	Parallelism      int           `json:"parallelism"`
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

// MaxListed bounds the snapshots the status lists.
const MaxListed = 10

// State survives continue-as-new: the shared cron backup's, and the newest snapshots.
type State struct {
	workflows.CronState
	// Listed are the newest snapshots, at most MaxListed, newest last.
	Listed []Summary `json:"listed,omitempty"`
}

// SnapshotInput asks for one snapshot; ID and Time come from the workflow's clock, so a retry
// writes the same objects.
type SnapshotInput struct {
	Connection
	Spec Spec      `json:"spec"`
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
}

// SnapshotProgress is heartbeated while the tree is walked.
type SnapshotProgress struct {
	Nodes  int `json:"nodes"`
	Chunks int `json:"chunks"`
}

// Summary describes one stored snapshot.
type Summary struct {
	ID          string    `json:"id"`
	Time        time.Time `json:"time"`
	Nodes       int       `json:"nodes"`
	Bytes       int64     `json:"bytes"`
	StartZxid   int64     `json:"startZxid"`
	EndZxid     int64     `json:"endZxid"`
	Consistency string    `json:"consistency"`
}

// SnapshotResult describes the stored snapshot and lists the backup's snapshots afterwards.
type SnapshotResult struct {
	Summary
	Snapshots []SnapshotInfo `json:"snapshots"`
	// Warning says what the snapshot left out or could not vouch for (ephemeral nodes skipped,
	// a fuzzy walk and why).
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
	Listed         []Summary `json:"listed,omitempty"`
	Runs           int       `json:"runs"`
	NextSnapshot   time.Time `json:"nextSnapshot,omitzero"`
	LastError      string    `json:"lastError,omitempty"`
	Warning        string    `json:"warning,omitempty"`
}

// SnapshotID names a snapshot (workflows.SnapshotID).
func SnapshotID(t time.Time, run int) string { return workflows.SnapshotID(t, run) }
