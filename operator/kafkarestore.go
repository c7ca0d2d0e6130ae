package operator

import (
	"context"
	"fmt"

	tclient "go.temporal.io/sdk/client"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/workflows/kafkarestore"
)

// KafkaRestoreReconciler runs one KafkaRestore workflow per KafkaRestore and mirrors its
// progress. A restore runs once; a changed spec after it ended runs it again.
type KafkaRestoreReconciler struct{ driver }

// +kubebuilder:rbac:groups=arkive.io,resources=kafkarestores,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=arkive.io,resources=kafkarestores/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=arkive.io,resources=kafkarestores/finalizers,verbs=update

// Reconcile starts or cancels the restore's workflow, then mirrors its status.
func (r *KafkaRestoreReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	kr := &arkivev1.KafkaRestore{}
	if err := r.Get(ctx, req.NamespacedName, kr); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := kr.Status.Phase
	state, res, err := r.drive(ctx, workItem{obj: kr, status: &kr.Status.WorkStatus, kind: "KafkaRestore", runsOnce: true,
		prepare: func(ctx context.Context) (func(context.Context, string) error, func(context.Context, string) error, error) {
			in, err := r.restoreInput(ctx, kr)
			if err != nil {
				return nil, nil, err
			}
			start := func(ctx context.Context, id string) error {
				_, err := r.Temporal.ExecuteWorkflow(ctx, tclient.StartWorkflowOptions{ID: id, TaskQueue: r.taskQueue()}, kafkarestore.WorkflowName, in)
				return err
			}
			return start, nil, nil
		}})
	if err != nil || !kr.DeletionTimestamp.IsZero() {
		return res, err
	}
	return r.followRestore(ctx, state, res, restoreRun{obj: kr, status: &kr.Status.WorkStatus, phase: &kr.Status.Phase, before: before,
		mirror: mirrorQuery(r.Temporal, &kr.Status.WorkflowID, func(s *kafkarestore.Status) { r.mirror(kr, s) }),
		done:   func() bool { return kr.Status.Phase == arkivev1.RestoreReady && kr.Spec.DryRun }})
}

func (r *KafkaRestoreReconciler) restoreInput(ctx context.Context, kr *arkivev1.KafkaRestore) (kafkarestore.RunInput, error) {
	kc, st := &arkivev1.KafkaCluster{}, &arkivev1.Storage{}
	if err := r.resolveRefs(ctx, kr.Namespace, ref{kr.Spec.Target, "spec.target", kc}, ref{kr.Spec.Source.Storage, "spec.source.storage", st}); err != nil {
		return kafkarestore.RunInput{}, err
	}
	return specs.KafkaRestoreInput(kr, kc, st)
}

func (r *KafkaRestoreReconciler) mirror(kr *arkivev1.KafkaRestore, s *kafkarestore.Status) {
	st := &kr.Status
	st.Phase = arkivev1.RestorePhase(s.Phase)
	st.LastError = s.LastError
	st.Progress = &arkivev1.RestoreProgress{Records: s.Records, Bytes: s.Bytes, Percent: s.Percent}
	setTime(&st.StartTime, s.StartTime)
	setTime(&st.CompletionTime, s.CompletionTime)
	status, reason, message := metav1.ConditionTrue, arkivev1.ReasonRunning, fmt.Sprintf("%s: %d records (%d%%)", s.Phase, s.Records, s.Percent)
	switch {
	case s.Phase == kafkarestore.PhaseFailed:
		status, reason, message = metav1.ConditionFalse, arkivev1.ReasonFailed, fmt.Sprintf("%s: %s", s.Reason, s.LastError)
	case s.Reason == "PausedBySignal":
		reason = arkivev1.ReasonPausedBySignal
	case s.Reason == "DryRun" && s.Plan != nil:
		message = fmt.Sprintf("dry run: the plan restores up to %d records (%d bytes) in %d streams; see the workflow's status query", s.Plan.Records, s.Plan.Bytes, len(s.Plan.Streams))
	}
	setWorkflowReady(&st.Conditions, kr.Generation, status, reason, message)
}
