package kinds

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/workflows/schemabackup"
	"arkive.io/arkive/workflows/schemarestore"
)

// maxStatusDiff bounds the dry-run diff copied into a resource's status.
const maxStatusDiff = 50

var schemaBackup = work[*arkivev1.SchemaRegistryBackup, schemabackup.Status]{
	kind: "SchemaRegistryBackup", plural: "schemaregistrybackups", short: "srb", workflow: schemabackup.WorkflowName,
	new:    func() *arkivev1.SchemaRegistryBackup { return &arkivev1.SchemaRegistryBackup{} },
	status: func(o *arkivev1.SchemaRegistryBackup) *arkivev1.WorkStatus { return &o.Status.WorkStatus },
	refs: func(o *arkivev1.SchemaRegistryBackup) []Ref {
		return []Ref{{"spec.registry", "SchemaRegistry", o.Spec.Registry}, {"spec.storage", "Storage", o.Spec.Storage}}
	},
	input: func(o *arkivev1.SchemaRegistryBackup, refs []Object) (any, any, error) {
		in, err := specs.SchemaBackupInput(o, refs[0].(*arkivev1.SchemaRegistry), refs[1].(*arkivev1.Storage))
		return schemabackup.RunInput{Input: in}, in.Spec, err
	},
	figures: schemaBackupFigures,
	phase:   func(o *arkivev1.SchemaRegistryBackup) string { return string(o.Status.Phase) },
	mirror:  mirrorSchemaBackup,
	lastRun: func(o *arkivev1.SchemaRegistryBackup) (string, string, string) {
		return snapshotRun(o.Status.LastSnapshot, fmt.Sprintf("%d snapshots kept", o.Status.Snapshots))
	},
}.entry()

// mirrorSchemaBackup copies the status query into the resource. WorkflowReady follows the
// seed's readiness condition: True while the workflow runs (paused included, with the reason),
// False with the cause in Error.
func mirrorSchemaBackup(b *arkivev1.SchemaRegistryBackup, s *schemabackup.Status) {
	st := &b.Status
	st.Phase = arkivev1.SchemaRegistryBackupPhase(s.Phase)
	st.LastError = s.LastError
	st.LastSnapshot = s.LastSnapshot
	st.Snapshots = int32(s.Snapshots)
	setTime(&st.LastBackupTime, s.LastBackupTime)
	cond, reason, message := metav1.ConditionTrue, arkivev1.ReasonRunning,
		fmt.Sprintf("workflow %s: %d subjects, %d versions in snapshot %s", st.WorkflowID, s.Subjects, s.Versions, OrNone(s.LastSnapshot))
	switch {
	case s.Phase == schemabackup.PhaseError:
		cond, reason, message = metav1.ConditionFalse, arkivev1.ReasonFailed, fmt.Sprintf("%s: %s", s.Reason, s.LastError)
	case s.Reason == schemabackup.ReasonPausedBySignal:
		reason, message = arkivev1.ReasonPausedBySignal, "paused by a pause signal to "+st.WorkflowID+"; send resume to continue"
	case s.Reason == schemabackup.ReasonPausedBySpec:
		reason, message = arkivev1.ReasonPausedBySpec, "paused: spec.enabled is false"
	case s.Reason == schemabackup.ReasonRetrying:
		message = "retrying after a passing error: " + s.LastError
	case s.Phase == schemabackup.PhaseInitializing:
		message = "workflow " + st.WorkflowID + " is taking its first snapshot"
	}
	SetWorkflowReady(&st.Conditions, b.Generation, cond, reason, message)
	SetReady(&st.Conditions, b.Generation, s.Reason == schemabackup.ReasonRetrying)
}

var schemaRestore = work[*arkivev1.SchemaRegistryRestore, schemarestore.Status]{
	kind: "SchemaRegistryRestore", plural: "schemaregistryrestores", short: "srr", workflow: schemarestore.WorkflowName, runsOnce: true,
	new:    func() *arkivev1.SchemaRegistryRestore { return &arkivev1.SchemaRegistryRestore{} },
	status: func(o *arkivev1.SchemaRegistryRestore) *arkivev1.WorkStatus { return &o.Status.WorkStatus },
	refs: func(o *arkivev1.SchemaRegistryRestore) []Ref {
		return []Ref{{"spec.target", "SchemaRegistry", o.Spec.Target}, {"spec.source.storage", "Storage", o.Spec.Source.Storage}}
	},
	input: func(o *arkivev1.SchemaRegistryRestore, refs []Object) (any, any, error) {
		in, err := specs.SchemaRestoreInput(o, refs[0].(*arkivev1.SchemaRegistry), refs[1].(*arkivev1.Storage))
		return in, nil, err
	},
	phase:  func(o *arkivev1.SchemaRegistryRestore) string { return string(o.Status.Phase) },
	mirror: mirrorSchemaRestore,
	restore: func(o *arkivev1.SchemaRegistryRestore) (*arkivev1.RestorePhase, bool) {
		return &o.Status.Phase, o.Spec.DryRun
	},
}.entry()

func mirrorSchemaRestore(rs *arkivev1.SchemaRegistryRestore, s *schemarestore.Status) {
	st := &rs.Status
	st.Phase = arkivev1.RestorePhase(s.Phase)
	st.LastError = s.LastError
	st.SubjectsRestored, st.VersionsRestored = int32(s.SubjectsRestored), int32(s.VersionsRestored)
	st.Diff = nil
	if p := s.Plan; p != nil {
		// A dry run's conflicts come first: they are why it failed.
		lines := make([]string, 0, len(p.Conflicts)+len(p.Diff))
		for _, c := range p.Conflicts {
			lines = append(lines, "conflict: "+c)
		}
		lines = append(lines, p.Diff...)
		st.Diff = lines[:min(len(lines), maxStatusDiff)]
		if len(lines) > maxStatusDiff || p.DiffTruncated || p.ConflictCount > len(p.Conflicts) {
			st.Diff = append(st.Diff, fmt.Sprintf("… %d conflicts and %d changes in all; the workflow's status query has more", p.ConflictCount, p.Changes()))
		}
	}
	setTime(&st.StartTime, s.StartTime)
	setTime(&st.CompletionTime, s.CompletionTime)
	cond, reason, message := metav1.ConditionTrue, arkivev1.ReasonRunning, fmt.Sprintf("%s: %d subjects, %d versions", s.Phase, s.SubjectsRestored, s.VersionsRestored)
	switch {
	case s.Phase == schemarestore.PhaseFailed:
		cond, reason, message = metav1.ConditionFalse, arkivev1.ReasonFailed, fmt.Sprintf("%s: %s", s.Reason, s.LastError)
	case s.Reason == schemarestore.ReasonDryRun && s.Plan != nil:
		message = fmt.Sprintf("dry run: %d versions to register, %d to soft-delete, %d settings to change; see status.diff", s.Plan.Register, s.Plan.Delete, s.Plan.Settings)
	case s.Reason == schemarestore.ReasonUnchanged:
		message = "the target already holds the snapshot; nothing was written"
	}
	SetWorkflowReady(&st.Conditions, rs.Generation, cond, reason, message)
}
