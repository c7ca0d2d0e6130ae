package kinds

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"arkive.io/arkive/api/status"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/workflows/resourcebackup"
	"arkive.io/arkive/workflows/resourcerestore"
)

var resourceBackup = work[*arkivev1.ResourceBackup, resourcebackup.Status]{
	kind: "ResourceBackup", plural: "resourcebackups", short: "rb", workflow: resourcebackup.WorkflowName,
	new:    func() *arkivev1.ResourceBackup { return &arkivev1.ResourceBackup{} },
	status: func(o *arkivev1.ResourceBackup) *arkivev1.WorkStatus { return &o.Status.WorkStatus },
	refs: func(o *arkivev1.ResourceBackup) []Ref {
		return []Ref{{"spec.storage", "Storage", o.Spec.Storage}}
	},
	input: func(o *arkivev1.ResourceBackup, refs []Object) (any, any, error) {
		in, err := specs.ResourceBackupInput(o, refs[0].(*arkivev1.Storage))
		return resourcebackup.RunInput{Input: in}, in.Spec, err
	},
	figures: resourceBackupFigures,
	phase:   func(o *arkivev1.ResourceBackup) string { return string(o.Status.Phase) },
	mirror:  mirrorResourceBackup,
	// Secrets stored without encryption (allowUnencryptedSecrets): a Warning event per snapshot.
	warning: func(o *arkivev1.ResourceBackup) (string, string) { return o.Status.Warning, o.Status.LastSnapshot },
	lastRun: func(o *arkivev1.ResourceBackup) (string, string, string) {
		return snapshotRun(o.Status.LastSnapshot, fmt.Sprintf("%d objects", o.Status.Objects))
	},
}.entry()

// snapshotRun is a snapshot kind's newest run for its event: each stored snapshot is a run that
// succeeded (a failed one stores nothing; its phase turns Error, which has an event of its own).
func snapshotRun(id, what string) (string, string, string) {
	if id == "" {
		return "", "", ""
	}
	return id, status.RunSucceeded, fmt.Sprintf("snapshot %s stored: %s", id, what)
}

func mirrorResourceBackup(b *arkivev1.ResourceBackup, s *resourcebackup.Status) {
	st := &b.Status
	st.Phase = arkivev1.ResourceBackupPhase(s.Phase)
	st.LastError, st.Warning = s.LastError, s.Warning
	st.LastSnapshot = s.LastSnapshot
	st.Snapshots, st.Objects = int32(s.Snapshots), int32(s.Objects)
	st.Volumes, st.VolumeBytes, st.StorageClaim = int32(s.Volumes), s.VolumeBytes, s.StorageClaim
	setTime(&st.LastBackupTime, s.LastBackupTime)
	setTime(&st.LastCompletionTime, s.LastCompletionTime)
	setTime(&st.NextBackupTime, s.NextSnapshot)
	cond, reason, message := metav1.ConditionTrue, arkivev1.ReasonRunning,
		fmt.Sprintf("workflow %s: %d objects in snapshot %s", st.WorkflowID, s.Objects, OrNone(s.LastSnapshot))
	switch {
	case s.Phase == resourcebackup.PhaseError:
		cond, reason, message = metav1.ConditionFalse, arkivev1.ReasonFailed, fmt.Sprintf("%s: %s", s.Reason, s.LastError)
	case s.Reason == resourcebackup.ReasonPausedBySignal:
		reason, message = arkivev1.ReasonPausedBySignal, "paused by a pause signal to "+st.WorkflowID+"; send resume to continue"
	case s.Reason == resourcebackup.ReasonPausedBySpec:
		reason, message = arkivev1.ReasonPausedBySpec, "paused: spec.enabled is false"
	case s.Reason == resourcebackup.ReasonRetrying:
		message = "retrying after a passing error: " + s.LastError
	case s.Phase == resourcebackup.PhaseInitializing:
		message = "workflow " + st.WorkflowID + " is taking its first snapshot"
	}
	SetWorkflowReady(&st.Conditions, b.Generation, cond, reason, message)
	SetReady(&st.Conditions, b.Generation, s.Reason == resourcebackup.ReasonRetrying)
}

var resourceRestore = work[*arkivev1.ResourceRestore, resourcerestore.Status]{
	kind: "ResourceRestore", plural: "resourcerestores", short: "rr", workflow: resourcerestore.WorkflowName, runsOnce: true,
	new:    func() *arkivev1.ResourceRestore { return &arkivev1.ResourceRestore{} },
	status: func(o *arkivev1.ResourceRestore) *arkivev1.WorkStatus { return &o.Status.WorkStatus },
	refs: func(o *arkivev1.ResourceRestore) []Ref {
		return []Ref{{"spec.source.storage", "Storage", o.Spec.Source.Storage}}
	},
	input: func(o *arkivev1.ResourceRestore, refs []Object) (any, any, error) {
		in, err := specs.ResourceRestoreInput(o, refs[0].(*arkivev1.Storage))
		return in, nil, err
	},
	phase:  func(o *arkivev1.ResourceRestore) string { return string(o.Status.Phase) },
	mirror: mirrorResourceRestore,
	restore: func(o *arkivev1.ResourceRestore) (*arkivev1.RestorePhase, bool) {
		return &o.Status.Phase, o.Spec.DryRun
	},
}.entry()

func mirrorResourceRestore(r *arkivev1.ResourceRestore, s *resourcerestore.Status) {
	st := &r.Status
	st.Phase = arkivev1.RestorePhase(s.Phase)
	st.LastError = s.LastError
	c := s.Counts
	st.Counts = arkivev1.RestoreCounts{Total: int32(c.Total), Created: int32(c.Created), Updated: int32(c.Updated),
		Unchanged: int32(c.Unchanged), Skipped: int32(c.Skipped), Failed: int32(c.Failed)}
	st.Objects = nil
	for _, o := range s.Objects {
		st.Objects = append(st.Objects, arkivev1.ObjectResult{Object: o.Object, Result: o.Result, Reason: o.Reason})
	}
	st.Volumes = nil
	for _, v := range s.Volumes {
		st.Volumes = append(st.Volumes, arkivev1.VolumeRestoreResult{Volume: v.Volume, Target: v.Target, Created: v.Created,
			Files: int32(v.Files), Bytes: v.Bytes, Skipped: int32(v.Skipped), Kept: int32(v.Kept)})
	}
	st.Diff, st.Snapshot = nil, ""
	if p := s.Plan; p != nil {
		st.Snapshot = p.Snapshot
		st.Diff = p.Diff[:min(len(p.Diff), maxStatusDiff)]
		if len(p.Diff) > maxStatusDiff || p.DiffTruncated {
			st.Diff = append(st.Diff, fmt.Sprintf("… %d objects to write in all; the workflow's status query has more", p.Writes()))
		}
		if s.Phase == resourcerestore.PhaseReady {
			pc := p.Counts
			st.Counts = arkivev1.RestoreCounts{Total: int32(pc.Total), Created: int32(pc.Created), Updated: int32(pc.Updated),
				Unchanged: int32(pc.Unchanged), Skipped: int32(pc.Skipped), Failed: int32(pc.Failed)}
		}
	}
	setTime(&st.StartTime, s.StartTime)
	setTime(&st.CompletionTime, s.CompletionTime)
	cond, reason, message := metav1.ConditionTrue, arkivev1.ReasonRunning,
		fmt.Sprintf("%s: %d objects (%d created, %d updated, %d unchanged, %d skipped)", s.Phase, c.Total, c.Created, c.Updated, c.Unchanged, c.Skipped)
	switch {
	case s.Phase == resourcerestore.PhaseFailed:
		cond, reason, message = metav1.ConditionFalse, arkivev1.ReasonFailed, fmt.Sprintf("%s: %s", s.Reason, s.LastError)
	case s.Reason == resourcerestore.ReasonDryRun && s.Plan != nil:
		message = fmt.Sprintf("dry run: %d objects to create, %d to update, %d unchanged, %d skipped; see status.diff",
			s.Plan.Counts.Created, s.Plan.Counts.Updated, s.Plan.Counts.Unchanged, s.Plan.Counts.Skipped)
	case s.Reason == resourcerestore.ReasonUnchanged:
		message = "the target already holds the snapshot's objects; nothing was written"
	case s.Phase == resourcerestore.PhaseRestoring:
		message = fmt.Sprintf("restoring step %s: %d objects done", s.Step, c.Total)
	}
	SetWorkflowReady(&st.Conditions, r.Generation, cond, reason, message)
}
