package resourcerestore

import (
	"time"

	"arkive.io/arkive/api/status"
	"arkive.io/arkive/workflows"
)

// Registered names: part of the contract with running histories, never rename.
const (
	WorkflowName  = "arkive.ResourceRestore"
	ActivityPlan  = "arkive.kube.PlanRestore"
	ActivityApply = "arkive.kube.ApplyStep"
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
	ReasonDryRun          = status.DryRun
	ReasonUnchanged       = status.Unchanged
	ReasonPartiallyFailed = status.PartiallyFailed
)

// Error types.
const (
	ErrInvalidSpec         = workflows.ErrInvalidSpec
	ErrStorageAccessDenied = workflows.ErrStorageAccessDenied
	ErrBackupNotFound      = workflows.ErrBackupNotFound
	ErrConflict            = workflows.ErrConflict
	ErrCorruptManifest     = workflows.ErrCorruptManifest
	ErrKubernetes          = workflows.ErrKubernetes
	// ErrCorruptSnapshot: a stored object does not match the hash its index records, or the
	// snapshot cannot be opened (the wrong encryption key).
	ErrCorruptSnapshot = workflows.ErrCorruptSnapshot
)

// Conflict policies (ResourceRestore.spec.conflictPolicy).
const (
	ConflictSkip     = "Skip"
	ConflictUpdate   = "Update"
	ConflictRecreate = "Recreate"
	ConflictFail     = "Fail"
)

// Results of one object.
const (
	ResultCreated   = "Created"
	ResultUpdated   = "Updated"
	ResultRecreated = "Recreated"
	ResultUnchanged = "Unchanged"
	ResultSkipped   = "Skipped"
	ResultFailed    = "Failed"
)

// Connection reaches the snapshot's storage.
type Connection = workflows.ResourceConnection

// Kind names a kind by group and kind.
type Kind struct {
	Group string `json:"group,omitempty"`
	Kind  string `json:"kind"`
}

// Spec is what to restore, and how.
type Spec struct {
	// Snapshot id; empty: the newest.
	Snapshot         string                      `json:"snapshot,omitempty"`
	Selection        workflows.ResourceSelection `json:"selection"`
	NamespaceMapping map[string]string           `json:"namespaceMapping,omitempty"`
	ConflictPolicy   string                      `json:"conflictPolicy"`
	DryRun           bool                        `json:"dryRun,omitempty"`
	RestoreStatus    []Kind                      `json:"restoreStatus,omitempty"`
	Parallelism      int                         `json:"parallelism"`
	// Volumes restores the snapshot's volume files after its objects (nil: not).
	Volumes *VolumeSpec `json:"volumes,omitempty"`
}

// Input starts the workflow.
type Input struct {
	Connection
	Spec Spec `json:"spec"`
}

// PlanInput asks for the plan and preflight.
type PlanInput = Input

// MaxDiffLines bounds the diff carried in the plan (and so in history and status).
const MaxDiffLines = 200

// MaxObjectResults bounds the per-object results a step returns and the status keeps.
const MaxObjectResults = 100

// Step is one ordering step of a plan: its objects are written after every earlier step's.
type Step struct {
	Name    string `json:"name"`
	Objects int    `json:"objects"`
}

// Plan is what the restore would do. It holds names and field paths, never object content.
type Plan struct {
	Snapshot string `json:"snapshot"`
	Steps    []Step `json:"steps"`
	// Counts: Created means to be created, Updated to be updated or recreated, Unchanged and
	// Skipped as the restore would leave them.
	Counts Counts `json:"counts"`
	// Skipped lists objects the restore leaves out, with the reason (bounded).
	Skipped []ObjectResult `json:"skipped,omitempty"`
	// Diff lists the changes, one object a line, at most MaxDiffLines.
	Diff          []string `json:"diff,omitempty"`
	DiffTruncated bool     `json:"diffTruncated,omitempty"`
}

// Writes is how many objects the plan writes.
func (p Plan) Writes() int { return p.Counts.Created + p.Counts.Updated }

// Counts counts objects by result.
type Counts struct {
	Total     int `json:"total"`
	Created   int `json:"created,omitempty"`
	Updated   int `json:"updated,omitempty"`
	Unchanged int `json:"unchanged,omitempty"`
	Skipped   int `json:"skipped,omitempty"`
	Failed    int `json:"failed,omitempty"`
}

// Add adds c's counts.
func (c *Counts) Add(o Counts) {
	c.Total += o.Total
	c.Created += o.Created
	c.Updated += o.Updated
	c.Unchanged += o.Unchanged
	c.Skipped += o.Skipped
	c.Failed += o.Failed
}

// Count counts one result.
func (c *Counts) Count(result string) {
	c.Total++
	switch result {
	case ResultCreated:
		c.Created++
	case ResultUpdated, ResultRecreated:
		c.Updated++
	case ResultUnchanged:
		c.Unchanged++
	case ResultSkipped:
		c.Skipped++
	case ResultFailed:
		c.Failed++
	}
}

// ObjectResult is what happened to one object ("Kind namespace/name", as restored).
type ObjectResult struct {
	Object string `json:"object"`
	Result string `json:"result"`
	Reason string `json:"reason,omitempty"`
}

// ApplyInput writes one step of the plan.
type ApplyInput struct {
	Connection
	Spec     Spec   `json:"spec"`
	Snapshot string `json:"snapshot"`
	Step     string `json:"step"`
}

// ApplyProgress is heartbeated: the first Done objects of the step (in its order) are written,
// with these counts. A retry starts after them.
type ApplyProgress struct {
	Done   int    `json:"done"`
	Counts Counts `json:"counts"`
}

// ApplyResult is what one step did.
type ApplyResult struct {
	Counts Counts `json:"counts"`
	// Objects are the step's notable results (failed, skipped), at most MaxObjectResults.
	Objects []ObjectResult `json:"objects,omitempty"`
}

// Status answers the status query.
type Status struct {
	Phase          string         `json:"phase"`
	Reason         string         `json:"reason,omitempty"`
	Plan           *Plan          `json:"plan,omitempty"`
	Step           string         `json:"step,omitempty"`
	Counts         Counts         `json:"counts"`
	Objects        []ObjectResult `json:"objects,omitempty"`
	Volumes        []VolumeResult `json:"volumes,omitempty"`
	StartTime      time.Time      `json:"startTime,omitzero"`
	CompletionTime time.Time      `json:"completionTime,omitzero"`
	LastError      string         `json:"lastError,omitempty"`
}
