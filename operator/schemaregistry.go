package operator

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	tclient "go.temporal.io/sdk/client"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/workflows/schemabackup"
	"arkive.io/arkive/workflows/schemarestore"
)

// maxStatusDiff bounds the dry-run diff copied into a resource's status.
const maxStatusDiff = 50

// SchemaRegistryBackupReconciler keeps one SchemaRegistryBackup workflow per resource in step
// with its spec and copies the workflow's status (phase, last backup, snapshots) into it.
type SchemaRegistryBackupReconciler struct{ driver }

// +kubebuilder:rbac:groups=arkive.io,resources=schemaregistrybackups,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=arkive.io,resources=schemaregistrybackups/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=arkive.io,resources=schemaregistrybackups/finalizers,verbs=update

// Reconcile starts, updates or cancels the workflow as the planner says, then mirrors status.
func (r *SchemaRegistryBackupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	b := &arkivev1.SchemaRegistryBackup{}
	if err := r.Get(ctx, req.NamespacedName, b); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	state, res, err := r.drive(ctx, workItem{obj: b, status: &b.Status.WorkStatus, kind: "SchemaRegistryBackup",
		prepare: func(ctx context.Context) (func(context.Context, string) error, func(context.Context, string) error, error) {
			in, err := r.input(ctx, b)
			if err != nil {
				return nil, nil, err
			}
			start, update := r.signalStart(schemabackup.WorkflowName, schemabackup.RunInput{Input: in}, in.Spec)
			return start, update, nil
		}})
	if err != nil || !b.DeletionTimestamp.IsZero() {
		return res, err
	}
	return r.followBackup(ctx, state, res, b, &b.Status.WorkStatus, func() string { return string(b.Status.Phase) },
		mirrorQuery(r.Temporal, &b.Status.WorkflowID, func(s *schemabackup.Status) { mirrorSchemaBackup(b, s) }))
}

func (r *SchemaRegistryBackupReconciler) input(ctx context.Context, b *arkivev1.SchemaRegistryBackup) (schemabackup.Input, error) {
	sr, st := &arkivev1.SchemaRegistry{}, &arkivev1.Storage{}
	if err := r.resolveRefs(ctx, b.Namespace, ref{b.Spec.Registry, "spec.registry", sr}, ref{b.Spec.Storage, "spec.storage", st}); err != nil {
		return schemabackup.Input{}, err
	}
	return specs.SchemaBackupInput(b, sr, st)
}

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
	status, reason, message := metav1.ConditionTrue, arkivev1.ReasonRunning,
		fmt.Sprintf("workflow %s: %d subjects, %d versions in snapshot %s", st.WorkflowID, s.Subjects, s.Versions, orNone(s.LastSnapshot))
	switch {
	case s.Phase == schemabackup.PhaseError:
		status, reason, message = metav1.ConditionFalse, arkivev1.ReasonFailed, fmt.Sprintf("%s: %s", s.Reason, s.LastError)
	case s.Reason == schemabackup.ReasonPausedBySignal:
		reason, message = arkivev1.ReasonPausedBySignal, "paused by a pause signal to "+st.WorkflowID+"; send resume to continue"
	case s.Reason == schemabackup.ReasonPausedBySpec:
		reason, message = arkivev1.ReasonPausedBySpec, "paused: spec.enabled is false"
	case s.Phase == schemabackup.PhaseInitializing:
		message = "workflow " + st.WorkflowID + " is taking its first snapshot"
	}
	setWorkflowReady(&st.Conditions, b.Generation, status, reason, message)
}

// SchemaRegistryRestoreReconciler runs one SchemaRegistryRestore workflow per resource and
// mirrors its progress. A restore runs once; a changed spec after it ended runs it again.
type SchemaRegistryRestoreReconciler struct{ driver }

// +kubebuilder:rbac:groups=arkive.io,resources=schemaregistryrestores,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=arkive.io,resources=schemaregistryrestores/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=arkive.io,resources=schemaregistryrestores/finalizers,verbs=update

// Reconcile starts or cancels the restore's workflow, then mirrors its status.
func (r *SchemaRegistryRestoreReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rs := &arkivev1.SchemaRegistryRestore{}
	if err := r.Get(ctx, req.NamespacedName, rs); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := rs.Status.Phase
	state, res, err := r.drive(ctx, workItem{obj: rs, status: &rs.Status.WorkStatus, kind: "SchemaRegistryRestore", runsOnce: true,
		prepare: func(ctx context.Context) (func(context.Context, string) error, func(context.Context, string) error, error) {
			in, err := r.input(ctx, rs)
			if err != nil {
				return nil, nil, err
			}
			start := func(ctx context.Context, id string) error {
				// A corrected spec after a finished run starts a new run of the same id.
				_, err := r.Temporal.ExecuteWorkflow(ctx, tclient.StartWorkflowOptions{ID: id, TaskQueue: r.taskQueue(),
					WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING}, schemarestore.WorkflowName, in)
				return err
			}
			return start, nil, nil
		}})
	if err != nil || !rs.DeletionTimestamp.IsZero() {
		return res, err
	}
	return r.followRestore(ctx, state, res, restoreRun{obj: rs, status: &rs.Status.WorkStatus, phase: &rs.Status.Phase, before: before,
		mirror: mirrorQuery(r.Temporal, &rs.Status.WorkflowID, func(s *schemarestore.Status) { mirrorSchemaRestore(rs, s) }),
		done:   func() bool { return rs.Status.Phase == arkivev1.RestoreReady && rs.Spec.DryRun }})
}

func (r *SchemaRegistryRestoreReconciler) input(ctx context.Context, rs *arkivev1.SchemaRegistryRestore) (schemarestore.Input, error) {
	sr, st := &arkivev1.SchemaRegistry{}, &arkivev1.Storage{}
	if err := r.resolveRefs(ctx, rs.Namespace, ref{rs.Spec.Target, "spec.target", sr}, ref{rs.Spec.Source.Storage, "spec.source.storage", st}); err != nil {
		return schemarestore.Input{}, err
	}
	return specs.SchemaRestoreInput(rs, sr, st)
}

func mirrorSchemaRestore(rs *arkivev1.SchemaRegistryRestore, s *schemarestore.Status) {
	st := &rs.Status
	st.Phase = arkivev1.RestorePhase(s.Phase)
	st.LastError = s.LastError
	st.SubjectsRestored, st.VersionsRestored = int32(s.SubjectsRestored), int32(s.VersionsRestored)
	st.Diff = nil
	if s.Plan != nil {
		st.Diff = s.Plan.Diff[:min(len(s.Plan.Diff), maxStatusDiff)]
		if len(s.Plan.Diff) > maxStatusDiff || s.Plan.DiffTruncated {
			st.Diff = append(st.Diff, fmt.Sprintf("… %d changes in all; the workflow's status query has more", s.Plan.Changes()))
		}
	}
	setTime(&st.StartTime, s.StartTime)
	setTime(&st.CompletionTime, s.CompletionTime)
	status, reason, message := metav1.ConditionTrue, arkivev1.ReasonRunning, fmt.Sprintf("%s: %d subjects, %d versions", s.Phase, s.SubjectsRestored, s.VersionsRestored)
	switch {
	case s.Phase == schemarestore.PhaseFailed:
		status, reason, message = metav1.ConditionFalse, arkivev1.ReasonFailed, fmt.Sprintf("%s: %s", s.Reason, s.LastError)
	case s.Reason == schemarestore.ReasonDryRun && s.Plan != nil:
		message = fmt.Sprintf("dry run: %d versions to register, %d to soft-delete, %d settings to change; see status.diff", s.Plan.Register, s.Plan.Delete, s.Plan.Settings)
	case s.Reason == schemarestore.ReasonUnchanged:
		message = "the target already holds the snapshot; nothing was written"
	}
	setWorkflowReady(&st.Conditions, rs.Generation, status, reason, message)
}
