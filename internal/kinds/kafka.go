package kinds

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"arkive.io/arkive/api/status"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/workflows/kafkabackup"
	"arkive.io/arkive/workflows/kafkarestore"
)

// maxStatusRuns bounds the runs a KafkaBackup's status lists (the workflow keeps 20).
const maxStatusRuns = 10

var kafkaBackup = work[*arkivev1.KafkaBackup, kafkabackup.Status]{
	kind: "KafkaBackup", plural: "kafkabackups", short: "kb", workflow: kafkabackup.WorkflowName,
	new:    func() *arkivev1.KafkaBackup { return &arkivev1.KafkaBackup{} },
	status: func(o *arkivev1.KafkaBackup) *arkivev1.WorkStatus { return &o.Status.WorkStatus },
	refs: func(o *arkivev1.KafkaBackup) []Ref {
		return []Ref{{"spec.source", "KafkaCluster", o.Spec.Source}, {"spec.sink", "Storage", o.Spec.Sink}}
	},
	input: func(o *arkivev1.KafkaBackup, refs []Object) (any, any, error) {
		in, err := specs.KafkaBackupInput(o, refs[0].(*arkivev1.KafkaCluster), refs[1].(*arkivev1.Storage))
		return in, in.Spec, err
	},
	figures: kafkaBackupFigures,
	phase:   func(o *arkivev1.KafkaBackup) string { return string(o.Status.Phase) },
	mirror:  mirrorKafkaBackup,
	lastRun: func(o *arkivev1.KafkaBackup) (string, string, string) {
		st := &o.Status
		if st.LastRunID == "" || st.LastRunRecords == nil || st.LastRunBytes == nil {
			return st.LastRunID, st.LastRunOutcome, ""
		}
		summary := fmt.Sprintf("run %s %s: %d records, %d bytes", st.LastRunID, strings.ToLower(st.LastRunOutcome), *st.LastRunRecords, *st.LastRunBytes)
		if st.LastRunOutcome == status.RunFailed && st.LastError != "" {
			summary += ": " + st.LastError
		}
		return st.LastRunID, st.LastRunOutcome, summary
	},
}.entry()

// mirrorKafkaBackup copies the workflow's status query into the resource's status.
func mirrorKafkaBackup(kb *arkivev1.KafkaBackup, s *kafkabackup.Status) {
	st := &kb.Status
	st.Phase = arkivev1.KafkaBackupPhase(s.Phase)
	st.LastError = s.LastError
	st.Warnings = s.Warnings
	setTime(&st.LastBackupTime, s.LastSuccess)
	lag := s.Lag // a sharded backup's total; Partitions may list only the most lagging
	if s.PartitionCount == 0 {
		for _, p := range s.Partitions {
			lag += p.Lag
		}
	}
	st.Lag = &lag
	st.Runs = nil
	runs := s.Runs
	if len(runs) > maxStatusRuns {
		runs = runs[len(runs)-maxStatusRuns:]
	}
	for _, run := range runs {
		br := arkivev1.BackupRun{ID: run.ID, Start: metav1.NewTime(run.Start), Records: run.Records, Bytes: run.Bytes, Outcome: run.Outcome}
		setTime(&br.End, run.End)
		st.Runs = append(st.Runs, br)
	}
	cond, reason, message := metav1.ConditionTrue, arkivev1.ReasonRunning, "workflow "+st.WorkflowID+" is running"
	switch {
	case s.Phase == kafkabackup.PhaseFailed:
		cond, reason, message = metav1.ConditionFalse, arkivev1.ReasonFailed, fmt.Sprintf("%s: %s", s.Reason, s.LastError)
	case s.Phase == kafkabackup.PhasePaused && s.Reason == status.PausedBySignal:
		reason, message = arkivev1.ReasonPausedBySignal, "paused by a pause signal to "+st.WorkflowID+"; send resume to continue"
	case s.Phase == kafkabackup.PhasePaused:
		reason, message = arkivev1.ReasonPausedBySpec, "paused: "+s.Reason
	case s.Reason == status.Retrying:
		message = "retrying: " + s.LastError
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: arkivev1.ConditionWorkflowReady, Status: cond, Reason: reason,
		Message: message, ObservedGeneration: kb.Generation, LastTransitionTime: metav1.NewTime(time.Now())})
	SetReady(&st.Conditions, kb.Generation, s.Reason == status.Retrying)
	st.NextScheduledTime = nil
	setTime(&st.NextScheduledTime, s.NextRun)
	st.LastRunID, st.LastRunOutcome, st.LastRunRecords, st.LastRunBytes = "", "", nil, nil
	if n := len(s.Runs); n > 0 {
		last := s.Runs[n-1]
		st.LastRunID, st.LastRunOutcome, st.LastRunRecords, st.LastRunBytes = last.ID, last.Outcome, &last.Records, &last.Bytes
	}
}

var kafkaRestore = work[*arkivev1.KafkaRestore, kafkarestore.Status]{
	kind: "KafkaRestore", plural: "kafkarestores", short: "kr", workflow: kafkarestore.WorkflowName, runsOnce: true,
	new:    func() *arkivev1.KafkaRestore { return &arkivev1.KafkaRestore{} },
	status: func(o *arkivev1.KafkaRestore) *arkivev1.WorkStatus { return &o.Status.WorkStatus },
	refs: func(o *arkivev1.KafkaRestore) []Ref {
		refs := []Ref{{"spec.target", "KafkaCluster", o.Spec.Target}, {"spec.source.storage", "Storage", o.Spec.Source.Storage}}
		if s := o.Spec.SchemaRegistry; s != nil {
			refs = append(refs, Ref{"spec.schemaRegistry.target", "SchemaRegistry", s.Target}, Ref{"spec.schemaRegistry.source.storage", "Storage", s.Source.Storage})
		}
		return refs
	},
	input: func(o *arkivev1.KafkaRestore, refs []Object) (any, any, error) {
		in, err := specs.KafkaRestoreInput(o, refs[0].(*arkivev1.KafkaCluster), refs[1].(*arkivev1.Storage))
		if err == nil && len(refs) == 4 {
			in.Schemas, err = specs.KafkaRestoreSchemas(o, refs[2].(*arkivev1.SchemaRegistry), refs[3].(*arkivev1.Storage))
		}
		return in, nil, err
	},
	figures: kafkaRestoreFigures,
	// Its catalog pin and its pages stay in the storage when it is terminated by hand.
	release: func(start any) any {
		in := start.(kafkarestore.RunInput)
		in.Release = true
		return in
	},
	phase:   func(o *arkivev1.KafkaRestore) string { return string(o.Status.Phase) },
	mirror:  mirrorKafkaRestore,
	restore: func(o *arkivev1.KafkaRestore) (*arkivev1.RestorePhase, bool) { return &o.Status.Phase, o.Spec.DryRun },
	// Ranges skipped as unreadable (onDamage SkipBlock): a Warning event each time more are.
	warning: func(o *arkivev1.KafkaRestore) (string, string) {
		if len(o.Status.Skipped) == 0 {
			return "", ""
		}
		return fmt.Sprintf("skipped %d unreadable offset range(s) of the backup: %s", len(o.Status.Skipped), strings.Join(o.Status.Skipped, "; ")),
			fmt.Sprintf("%d skipped ranges", len(o.Status.Skipped))
	},
}.entry()

func mirrorKafkaRestore(kr *arkivev1.KafkaRestore, s *kafkarestore.Status) {
	st := &kr.Status
	st.Phase = arkivev1.RestorePhase(s.Phase)
	st.LastError = s.LastError
	st.Progress = &arkivev1.RestoreProgress{Records: s.Records, Bytes: s.Bytes, Percent: s.Percent}
	st.Skipped = nil
	for _, sk := range s.Skipped {
		st.Skipped = append(st.Skipped, sk.String())
	}
	st.SchemaIDs = nil
	if ids := s.SchemaIDs; ids != nil {
		st.SchemaIDs = &arkivev1.SchemaIDsStatus{Snapshot: ids.Snapshot, IDs: int32(ids.Count), Versions: int32(ids.Versions)}
	}
	setTime(&st.StartTime, s.StartTime)
	setTime(&st.CompletionTime, s.CompletionTime)
	cond, reason, message := metav1.ConditionTrue, arkivev1.ReasonRunning, fmt.Sprintf("%s: %d records (%d%%)", s.Phase, s.Records, s.Percent)
	switch {
	case s.Phase == kafkarestore.PhaseFailed:
		cond, reason, message = metav1.ConditionFalse, arkivev1.ReasonFailed, fmt.Sprintf("%s: %s", s.Reason, s.LastError)
	case s.Reason == status.PausedBySignal:
		reason = arkivev1.ReasonPausedBySignal
	case s.Reason == status.DryRun && s.Plan != nil:
		message = fmt.Sprintf("dry run: the plan restores up to %d records (%d bytes) in %d streams; see the workflow's status query", s.Plan.Records, s.Plan.Bytes, s.Plan.NumStreams())
	}
	SetWorkflowReady(&st.Conditions, kr.Generation, cond, reason, message)
}
