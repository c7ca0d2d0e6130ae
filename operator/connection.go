package operator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/kinds"
	"arkive.io/arkive/workflows/check"
)

// ConnectionReconciler keeps the Ready condition of a connection kind (the connection table of
// internal/kinds: KafkaCluster, Storage, SchemaRegistry) from a connectivity check that runs on
// a worker, which has the network paths and volumes the backups will use. Checks are short workflows with deterministic ids (resource,
// generation and check period), so a reconcile starts one or reads its result, never waits.
type ConnectionReconciler struct {
	driver
	kind *kinds.Connection
}

func (r *ConnectionReconciler) checkInterval() time.Duration {
	if r.CheckInterval > 0 {
		return r.CheckInterval
	}
	return 5 * time.Minute
}

// Reconcile starts this period's check or copies its result into the Ready condition.
func (r *ConnectionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := r.kind.New()
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	status, spec := r.kind.Status(obj), r.kind.Spec(obj)
	period := time.Now().Unix() / int64(r.checkInterval().Seconds())
	id := fmt.Sprintf("arkive/check-%s/%s/%s/g%d-p%d", strings.ToLower(r.kind.Kind), obj.GetNamespace(), obj.GetName(), obj.GetGeneration(), period)
	tctx, cancel := temporalContext(ctx)
	defer cancel()
	// Describe first: waiting on a running check's result would be a long poll to cancel.
	resp, err := r.Temporal.DescribeWorkflowExecution(tctx, id, "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		specJSON, merr := json.Marshal(spec)
		if merr != nil {
			return ctrl.Result{}, merr
		}
		_, serr := r.Temporal.ExecuteWorkflow(tctx, tclient.StartWorkflowOptions{ID: id, TaskQueue: r.taskQueue()}, check.WorkflowName,
			check.Input{Kind: r.kind.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName(), Spec: specJSON})
		if serr != nil {
			setReady(status, obj.GetGeneration(), metav1.ConditionUnknown, arkivev1.ReasonUnknown, "start connectivity check: "+serr.Error())
			_ = r.Status().Update(ctx, obj)
		}
		return ctrl.Result{RequeueAfter: time.Second}, nil
	case err != nil:
		return ctrl.Result{RequeueAfter: time.Second}, nil
	case resp.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return ctrl.Result{RequeueAfter: time.Second}, nil // still running
	}
	var res check.Result
	if err := r.Temporal.GetWorkflow(tctx, id, "").Get(tctx, &res); err != nil {
		res = check.Result{Message: "connectivity check: " + err.Error(), CheckedAt: time.Now()}
	}
	if res.OK {
		setReady(status, obj.GetGeneration(), metav1.ConditionTrue, arkivev1.ReasonConnected, res.Message)
	} else {
		setReady(status, obj.GetGeneration(), metav1.ConditionFalse, arkivev1.ReasonConnectionError, res.Message)
	}
	t := metav1.NewTime(res.CheckedAt)
	status.LastCheckTime = &t
	status.ObservedGeneration = obj.GetGeneration()
	if err := r.Status().Update(ctx, obj); err != nil && !apierrors.IsConflict(err) {
		return ctrl.Result{}, err
	}
	next := time.Unix((period+1)*int64(r.checkInterval().Seconds()), 0)
	return ctrl.Result{RequeueAfter: time.Until(next) + time.Second}, nil
}

func setReady(s *arkivev1.ConnectionStatus, gen int64, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: arkivev1.ConditionReady, Status: status, Reason: reason, Message: message, ObservedGeneration: gen})
}
