package operator

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/workflows/kafkabackup"
)

// KafkaBackupReconciler keeps one KafkaBackup workflow per KafkaBackup in step with its spec
// and copies the workflow's status into the resource.
type KafkaBackupReconciler struct{ driver }

// +kubebuilder:rbac:groups=arkive.io,resources=kafkabackups,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=arkive.io,resources=kafkabackups/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=arkive.io,resources=kafkabackups/finalizers,verbs=update
// +kubebuilder:rbac:groups=arkive.io,resources=kafkaclusters;storages,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile starts, updates or cancels the workflow as the planner says, then mirrors status.
func (r *KafkaBackupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	kb := &arkivev1.KafkaBackup{}
	if err := r.Get(ctx, req.NamespacedName, kb); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	state, res, err := r.drive(ctx, workItem{obj: kb, status: &kb.Status.WorkStatus, kind: "KafkaBackup",
		prepare: func(ctx context.Context) (func(context.Context, string) error, func(context.Context, string) error, error) {
			in, err := r.backupInput(ctx, kb)
			if err != nil {
				return nil, nil, err
			}
			start, update := r.signalStart(kafkabackup.WorkflowName, in, in.Spec)
			return start, update, nil
		}})
	if err != nil || !kb.DeletionTimestamp.IsZero() {
		return res, err
	}
	return r.followBackup(ctx, state, res, kb, &kb.Status.WorkStatus, func() string { return string(kb.Status.Phase) },
		mirrorQuery(r.Temporal, &kb.Status.WorkflowID, func(s *kafkabackup.Status) { r.mirror(kb, s) }))
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func conditionReason(conds []metav1.Condition) string {
	if c := meta.FindStatusCondition(conds, arkivev1.ConditionWorkflowReady); c != nil && c.Reason != arkivev1.ReasonRunning {
		return "(" + c.Reason + ")"
	}
	return ""
}

// backupInput resolves the KafkaCluster, Storage and Secrets a backup names and builds the
// workflow input (references only, never Secret values).
func (r *KafkaBackupReconciler) backupInput(ctx context.Context, kb *arkivev1.KafkaBackup) (kafkabackup.Input, error) {
	kc, st := &arkivev1.KafkaCluster{}, &arkivev1.Storage{}
	if err := r.resolveRefs(ctx, kb.Namespace, ref{kb.Spec.Source, "spec.source", kc}, ref{kb.Spec.Sink, "spec.sink", st}); err != nil {
		return kafkabackup.Input{}, err
	}
	return specs.KafkaBackupInput(kb, kc, st)
}

// mirror copies the workflow's status query into the resource's status.
func (r *KafkaBackupReconciler) mirror(kb *arkivev1.KafkaBackup, s *kafkabackup.Status) {
	st := &kb.Status
	st.Phase = arkivev1.KafkaBackupPhase(s.Phase)
	st.LastError = s.LastError
	st.Warnings = s.Warnings
	if !s.LastSuccess.IsZero() {
		t := metav1.NewTime(s.LastSuccess)
		st.LastBackupTime = &t
	}
	var lag int64
	for _, p := range s.Partitions {
		lag += p.Lag
	}
	st.Lag = &lag
	st.Runs = nil
	runs := s.Runs
	if len(runs) > 10 {
		runs = runs[len(runs)-10:]
	}
	for _, run := range runs {
		br := arkivev1.BackupRun{ID: run.ID, Start: metav1.NewTime(run.Start), Records: run.Records, Bytes: run.Bytes, Outcome: run.Outcome}
		if !run.End.IsZero() {
			end := metav1.NewTime(run.End)
			br.End = &end
		}
		st.Runs = append(st.Runs, br)
	}
	status, reason, message := metav1.ConditionTrue, arkivev1.ReasonRunning, "workflow "+st.WorkflowID+" is running"
	switch {
	case s.Phase == kafkabackup.PhaseFailed:
		status, reason, message = metav1.ConditionFalse, arkivev1.ReasonFailed, fmt.Sprintf("%s: %s", s.Reason, s.LastError)
	case s.Phase == kafkabackup.PhasePaused && s.Reason == "PausedBySignal":
		reason, message = arkivev1.ReasonPausedBySignal, "paused by a pause signal to "+st.WorkflowID+"; send resume to continue"
	case s.Phase == kafkabackup.PhasePaused:
		reason, message = arkivev1.ReasonPausedBySpec, "paused: "+s.Reason
	case s.Reason == "Retrying":
		message = "retrying: " + s.LastError
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: arkivev1.ConditionWorkflowReady, Status: status, Reason: reason,
		Message: message, ObservedGeneration: kb.Generation, LastTransitionTime: metav1.NewTime(time.Now())})
}
