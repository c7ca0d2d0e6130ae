package zookeeperrestore

import (
	"time"

	"arkive.io/arkive/api/status"
	"arkive.io/arkive/workflows"
)

// Registered names: part of the contract with running histories, never rename.
const (
	WorkflowName  = "arkive.ZooKeeperRestore"
	ActivityPlan  = "arkive.zookeeper.PlanRestore"
	ActivityApply = "arkive.zookeeper.ApplyRestore"
)

// Phases, shared by every restore kind.
const (
	PhaseDraft     = status.Draft
	PhaseReady     = status.Ready
	PhaseRestoring = status.Restoring
	PhaseDone      = status.Done
	PhaseFailed    = status.Failed
)

// Reasons shown with a phase.
const (
	ReasonDryRun    = status.DryRun
	ReasonUnchanged = status.Unchanged
)

// Error types.
const (
	ErrInvalidSpec         = workflows.ErrInvalidSpec
	ErrStorageAccessDenied = workflows.ErrStorageAccessDenied
	ErrBackupNotFound      = workflows.ErrBackupNotFound
	ErrConflict            = workflows.ErrConflict
	ErrCorruptManifest     = workflows.ErrCorruptManifest
	ErrZooKeeper           = workflows.ErrZooKeeper
	ErrAuthentication      = workflows.ErrAuthentication
	// ErrCorruptSnapshot: a stored chunk does not match the hash the manifest records, or
	// cannot be opened (the wrong encryption key).
	ErrCorruptSnapshot = workflows.ErrCorruptSnapshot
	// ErrNodeTooLarge: a node's data does not fit in one request to the target
	// (ZooKeeperEnsemble.spec.maxBufferBytes, the servers' jute.maxbuffer).
	ErrNodeTooLarge = "NodeTooLarge"
	// ErrNoAuth: the target refused a write for the node's ACL (the session's identity lacks
	// the permission).
	ErrNoAuth = "NoAuth"
)

// Policies (ZooKeeperRestore.spec.policy).
const (
	PolicySkip      = "Skip"
	PolicyOverwrite = "Overwrite"
	PolicyMirror    = "Mirror"
	PolicyFail      = "Fail"
)

// Connection reaches the snapshot's storage and the target ensemble.
type Connection = workflows.ZooKeeperConnection

// ACLMapping rewrites one stored ACL identity.
type ACLMapping struct {
	Scheme   string `json:"scheme"`
	ID       string `json:"id"`
	ToScheme string `json:"toScheme,omitempty"`
	ToID     string `json:"toID"`
}

// PathMapping restores the nodes under From under To.
type PathMapping struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Spec is what to restore, and how.
type Spec struct {
	// Snapshot id; empty: the newest.
	Snapshot    string        `json:"snapshot,omitempty"`
	Include     []string      `json:"include,omitempty"`
	Exclude     []string      `json:"exclude,omitempty"`
	PathMapping []PathMapping `json:"pathMapping,omitempty"`
	Policy      string        `json:"policy"`
	RestoreACLs bool          `json:"restoreACLs"`
	ACLMapping  []ACLMapping  `json:"aclMapping,omitempty"`
	DryRun      bool          `json:"dryRun,omitempty"`
}

// Input starts the workflow.
type Input struct {
	Connection
	Spec Spec `json:"spec"`
}

// MaxDiffLines bounds the diff carried in the plan (and so in history and status).
const MaxDiffLines = 200

// Counts counts nodes by what the restore does (or would do) with them.
type Counts struct {
	Total     int `json:"total"`
	Created   int `json:"created,omitempty"`
	Updated   int `json:"updated,omitempty"`
	Unchanged int `json:"unchanged,omitempty"`
	Skipped   int `json:"skipped,omitempty"`
	Deleted   int `json:"deleted,omitempty"`
}

// Writes is how many nodes the counts write.
func (c Counts) Writes() int { return c.Created + c.Updated + c.Deleted }

// Plan is what the restore would do. It holds paths, never data.
type Plan struct {
	Snapshot    string `json:"snapshot"`
	Consistency string `json:"consistency"`
	Counts      Counts `json:"counts"`
	// Ephemeral counts stored ephemeral nodes the restore leaves out.
	Ephemeral int `json:"ephemeral,omitempty"`
	// Diff lists the changes, one node a line ("create /a", "update /b: data, acl",
	// "delete /c"), at most MaxDiffLines.
	Diff          []string `json:"diff,omitempty"`
	DiffTruncated bool     `json:"diffTruncated,omitempty"`
}

// ApplyInput writes the plan.
type ApplyInput struct {
	Connection
	Spec     Spec   `json:"spec"`
	Snapshot string `json:"snapshot"`
}

// ApplyProgress is heartbeated: every node before Chunk/Line is written (Deleting: the
// creates are done and Mirror's deletes run), with these counts. A retry starts there.
type ApplyProgress struct {
	Chunk    int    `json:"chunk"`
	Line     int    `json:"line"`
	Deleting bool   `json:"deleting,omitempty"`
	Counts   Counts `json:"counts"`
}

// ApplyResult is what the apply did.
type ApplyResult struct {
	Counts Counts `json:"counts"`
	// Sequences counts parents whose sequence counter was advanced past the restored
	// sequential children.
	Sequences int `json:"sequences,omitempty"`
}

// Status answers the status query.
type Status struct {
	Phase          string    `json:"phase"`
	Reason         string    `json:"reason,omitempty"`
	Plan           *Plan     `json:"plan,omitempty"`
	Counts         Counts    `json:"counts"`
	Warning        string    `json:"warning,omitempty"`
	StartTime      time.Time `json:"startTime,omitzero"`
	CompletionTime time.Time `json:"completionTime,omitzero"`
	LastError      string    `json:"lastError,omitempty"`
}
