package operator

import (
	"context"
	"errors"
	"fmt"
	"time"

	tclient "go.temporal.io/sdk/client"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/kinds"
	"arkive.io/arkive/workflows"
)

// Finalizer makes deleting a resource cancel its workflow first.
const Finalizer = "arkive.io/workflow"

// Options configure the reconcilers.
type Options struct {
	// Temporal is the client workflows are started, signalled and queried with.
	Temporal tclient.Client
	// TaskQueue the workers poll; empty means workflows.DefaultTaskQueue.
	TaskQueue string
	// Interval between reconciles of a resource, which is how often status follows the
	// workflow (default 10 s).
	Interval time.Duration
	// CheckInterval between connectivity checks of connection kinds (default 5 min).
	CheckInterval time.Duration
}

func (o Options) interval() time.Duration {
	if o.Interval > 0 {
		return o.Interval
	}
	return 10 * time.Second
}

func (o Options) taskQueue() string {
	if o.TaskQueue != "" {
		return o.TaskQueue
	}
	return workflows.DefaultTaskQueue
}

// driver is what every work kind's reconciler shares: the workflow's lifecycle.
type driver struct {
	client.Client
	Options
	events eventRecorder
	// apiReader reads around the cache, for what must not be watched (Secrets).
	apiReader client.Reader
}

// workItem is one reconcile of a work resource.
type workItem struct {
	obj      client.Object
	status   *arkivev1.WorkStatus
	kind     string
	runsOnce bool
	// prepare resolves references and builds the workflow input; an error is shown in the
	// WorkflowReady condition and nothing is started.
	prepare func(ctx context.Context) (start func(ctx context.Context, id string) error, update func(ctx context.Context, id string) error, err error)
}

// drive runs the lifecycle of one work resource and returns the workflow state after it.
// It never waits on a workflow: every Temporal call returns at once.
func (d *driver) drive(ctx context.Context, w workItem) (WorkflowState, ctrl.Result, error) {
	id := workflows.WorkflowID(w.kind, w.obj.GetNamespace(), w.obj.GetName())
	requeue := ctrl.Result{RequeueAfter: d.interval()}
	tctx, cancel := temporalContext(ctx)
	defer cancel()
	deleting := !w.obj.GetDeletionTimestamp().IsZero()
	if !deleting && controllerutil.AddFinalizer(w.obj, Finalizer) {
		if err := d.Update(ctx, w.obj); err != nil {
			return "", ctrl.Result{}, err
		}
	}
	state, err := describe(tctx, d.Temporal, id)
	if err != nil {
		d.setCondition(w, metav1.ConditionUnknown, arkivev1.ReasonUnknown, "Temporal: "+err.Error())
		return "", requeue, nil
	}
	w.status.WorkflowID = id
	action := Plan(Observed{Deleting: deleting, Generation: w.obj.GetGeneration(), ObservedGeneration: w.status.ObservedGeneration,
		Workflow: state, RunsOnce: w.runsOnce})
	switch action {
	case ActionCancel:
		if err := d.Temporal.CancelWorkflow(tctx, id, ""); err != nil {
			return state, ctrl.Result{}, fmt.Errorf("cancel %s: %w", id, err)
		}
		d.events.Eventf(w.obj, nil, corev1.EventTypeNormal, "Deleting", "CancelWorkflow", "cancelled workflow %s", id)
		return state, ctrl.Result{RequeueAfter: time.Second}, nil // the finalizer goes once it has closed
	case ActionRemoveFinalizer:
		if controllerutil.RemoveFinalizer(w.obj, Finalizer) {
			return state, ctrl.Result{}, d.Update(ctx, w.obj)
		}
		return state, ctrl.Result{}, nil
	}
	start, update, err := w.prepare(ctx)
	if err != nil {
		reason := arkivev1.ReasonInvalidSpec
		var missing *missingError
		if errors.As(err, &missing) {
			reason = arkivev1.ReasonMissingReference
		}
		d.setCondition(w, metav1.ConditionFalse, reason, err.Error())
		w.status.LastError = err.Error()
		return state, requeue, nil // a missing object may appear: look again
	}
	switch action {
	case ActionStart, ActionRestart:
		if err := start(tctx, id); err != nil {
			d.setCondition(w, metav1.ConditionFalse, arkivev1.ReasonFailed, "start workflow: "+err.Error())
			return state, requeue, nil
		}
		if action == ActionRestart {
			d.events.Eventf(w.obj, nil, corev1.EventTypeWarning, "WorkflowRestarted", "StartWorkflow",
				"workflow %s was %s without being asked to; started again from its last checkpoint", id, state)
		} else {
			d.events.Eventf(w.obj, nil, corev1.EventTypeNormal, "WorkflowStarted", "StartWorkflow", "started workflow %s", id)
		}
		w.status.ObservedGeneration = w.obj.GetGeneration()
		state = WorkflowRunning
	case ActionUpdate:
		if err := update(tctx, id); err != nil {
			return state, requeue, nil // looked at again next time
		}
		d.events.Eventf(w.obj, nil, corev1.EventTypeNormal, "SpecUpdated", "SignalWorkflow", "sent generation %d to workflow %s", w.obj.GetGeneration(), id)
		w.status.ObservedGeneration = w.obj.GetGeneration()
	}
	return state, requeue, nil
}

func (d *driver) setCondition(w workItem, status metav1.ConditionStatus, reason, message string) {
	kinds.SetWorkflowReady(&w.status.Conditions, w.obj.GetGeneration(), status, reason, message)
}
