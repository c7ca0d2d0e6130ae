package schemarestore

import (
	"fmt"
	"strings"
	"time"

	"arkive.io/arkive/api/status"
	"arkive.io/arkive/workflows"
)

// Registered names: part of the contract with running histories, never rename.
const (
	WorkflowName    = "arkive.SchemaRegistryRestore"
	ActivityPlan    = "arkive.schemaregistry.PlanRestore"
	ActivitySetMode = "arkive.schemaregistry.SetMode"
	ActivityImport  = "arkive.schemaregistry.Import"
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
	ErrUnauthorized        = workflows.ErrUnauthorized
	ErrStorageAccessDenied = workflows.ErrStorageAccessDenied
	ErrBackupNotFound      = workflows.ErrBackupNotFound
	ErrConflict            = workflows.ErrConflict
	// ErrCorruptSnapshot: a stored snapshot cannot be read as one.
	ErrCorruptSnapshot = "CorruptSnapshot"
)

// ModeImport is the registry mode in which versions are registered with given ids.
const ModeImport = "IMPORT"

// Connection reaches the snapshot (Storage, Backup) and the target registry (Registry).
type Connection = workflows.RegistryConnection

// Rename restores subject From under To.
type Rename struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Spec is what to restore.
type Spec struct {
	// Snapshot id; empty: the newest.
	Snapshot string `json:"snapshot,omitempty"`
	// Names and Prefixes select subjects (by their name in the snapshot); both empty: all.
	Names    []string `json:"names,omitempty"`
	Prefixes []string `json:"prefixes,omitempty"`
	Renames  []Rename `json:"renames,omitempty"`
	DryRun   bool     `json:"dryRun,omitempty"`
}

// Input starts the workflow.
type Input struct {
	Connection
	Spec Spec `json:"spec"`
}

// PlanInput asks for the plan and preflight.
type PlanInput struct {
	Connection
	Spec Spec `json:"spec"`
}

// maxDiffLines bounds the diff carried in the plan (and so in history and status).
const MaxDiffLines = 200

// Plan is what the restore would change; a conflict is an error, not a plan.
type Plan struct {
	Snapshot string `json:"snapshot"`
	Subjects int    `json:"subjects"`
	Versions int    `json:"versions"`
	// Register, Delete and Settings count the writes: versions to register, versions to
	// soft-delete, subject (and global) config and mode changes.
	Register int `json:"register"`
	Delete   int `json:"delete"`
	Settings int `json:"settings"`
	// Diff lists the changes, one a line, at most MaxDiffLines (DiffTruncated then says so).
	Diff          []string `json:"diff,omitempty"`
	DiffTruncated bool     `json:"diffTruncated,omitempty"`
	// CurrentMode is the target's global mode before the restore.
	CurrentMode string `json:"currentMode"`
	// Mode is the global mode a successful restore leaves the target in: the snapshot's, for
	// a whole-registry restore; empty leaves the mode the target had.
	Mode string `json:"mode,omitempty"`
	// Empty: the target holds no subject (IMPORT mode without force).
	Empty bool `json:"empty"`
	// Conflicts (dry runs only: a restore fails its preflight instead) are what the target
	// holds that the restore would have to overwrite, at most MaxDiffLines.
	Conflicts     []string `json:"conflicts,omitempty"`
	ConflictCount int      `json:"conflictCount,omitempty"`
}

// Changes is how many writes the plan makes.
func (p Plan) Changes() int { return p.Register + p.Delete + p.Settings }

// ModeInput sets the target's global mode.
type ModeInput struct {
	Connection
	Mode  string `json:"mode"`
	Force bool   `json:"force,omitempty"`
}

// ModeResult is the mode the registry had before.
type ModeResult struct {
	Previous string `json:"previous"`
}

// ImportInput writes the plan's changes.
type ImportInput struct {
	Connection
	Spec Spec `json:"spec"`
	// Snapshot is the plan's snapshot id (fixed even if a newer one appears meanwhile).
	Snapshot string `json:"snapshot"`
}

// ImportProgress is heartbeated; a retry skips what is already in the target anyway, so it is
// for the status, not for correctness.
type ImportProgress struct {
	Registered int `json:"registered"`
	Deleted    int `json:"deleted"`
	Settings   int `json:"settings"`
}

// ImportResult counts the writes.
type ImportResult struct {
	ImportProgress
	Subjects int `json:"subjects"`
}

// Status answers the status query.
type Status struct {
	Phase            string    `json:"phase"`
	Reason           string    `json:"reason,omitempty"`
	Plan             *Plan     `json:"plan,omitempty"`
	SubjectsRestored int       `json:"subjectsRestored"`
	VersionsRestored int       `json:"versionsRestored"`
	StartTime        time.Time `json:"startTime,omitzero"`
	CompletionTime   time.Time `json:"completionTime,omitzero"`
	LastError        string    `json:"lastError,omitempty"`
}

// maxConflictsShown bounds the conflicts one error message names.
const maxConflictsShown = 20

// ConflictMessage is the failure message of a preflight that found count conflicts (the first
// of them in conflicts).
func ConflictMessage(conflicts []string, count int) string {
	shown := conflicts[:min(len(conflicts), maxConflictsShown)]
	msg := fmt.Sprintf("preflight found %d conflict(s) with the target registry; nothing was written: %s", count, strings.Join(shown, "; "))
	if count > len(shown) {
		msg += fmt.Sprintf("; and %d more", count-len(shown))
	}
	return msg
}
