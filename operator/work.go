package operator

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/kinds"
	"arkive.io/arkive/workflows"
)

// WorkReconciler keeps one workflow per resource of a work kind in step with its spec and
// copies the workflow's status query into the resource. Backups run forever and take spec
// changes by signal; a restore runs once, and a changed spec after it ended runs it again.
// What differs between kinds (references, input, status) comes from the kind's table entry.
type WorkReconciler struct {
	driver
	kind *kinds.Work
}

func controllerName(kind string) string { return strings.ToLower(kind) }

// Reconcile starts, updates or cancels the workflow as the planner says, then mirrors status.
func (r *WorkReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	k := r.kind
	obj := k.New()
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	status := k.Status(obj)
	before := k.Phase(obj)
	state, res, err := r.drive(ctx, workItem{obj: obj, status: status, kind: k.Kind, runsOnce: k.RunsOnce,
		prepare: func(ctx context.Context) (func(context.Context, string) error, func(context.Context, string) error, error) {
			refs, err := r.resolveRefs(ctx, obj.GetNamespace(), k.Refs(obj))
			if err != nil {
				return nil, nil, err
			}
			in, update, err := k.Input(obj, refs)
			if err != nil {
				return nil, nil, err
			}
			start := func(ctx context.Context, id string) error {
				_, err := k.Start(ctx, r.Temporal, id, r.taskQueue(), in, update)
				return err
			}
			return start, func(ctx context.Context, id string) error { return k.Update(ctx, r.Temporal, id, update) }, nil
		}})
	if err != nil || !obj.GetDeletionTimestamp().IsZero() {
		return res, err
	}
	return r.follow(ctx, state, res, obj, before)
}

// follow ends a reconcile: it mirrors the workflow's status query into the resource (a
// backup's while it runs; a restore's also after it ended, and a restore terminated by hand is
// Failed, saying so), records a phase change as an Event, saves the status, and stops
// requeueing a restore once its run has finished for the current spec.
func (r *WorkReconciler) follow(ctx context.Context, state WorkflowState, res ctrl.Result, obj client.Object, before string) (ctrl.Result, error) {
	k := r.kind
	status := k.Status(obj)
	if state == WorkflowRunning || (k.RunsOnce && state != WorkflowAbsent && status.WorkflowID != "") {
		tctx, cancel := temporalContext(ctx)
		defer cancel()
		err := k.Mirror(obj, func(into any) error {
			v, err := r.Temporal.QueryWorkflow(tctx, status.WorkflowID, "", workflows.QueryStatus)
			if err != nil {
				return err
			}
			return v.Get(into)
		})
		// No answer: the status stays as it was until the next reconcile, except for a
		// restore terminated by hand, which will never answer again.
		if err != nil && k.RunsOnce && state == WorkflowTerminated {
			k.Terminated(obj, "workflow "+status.WorkflowID+" was terminated")
		}
	}
	if now := k.Phase(obj); before != now && now != "" {
		reason := ""
		if !k.RunsOnce {
			reason = " " + conditionReason(status.Conditions)
		}
		r.events.Eventf(obj, nil, corev1.EventTypeNormal, "Phase", "Reconcile", "%s → %s%s", kinds.OrNone(before), now, reason)
	}
	if err := r.Status().Update(ctx, obj); err != nil && !apierrors.IsConflict(err) {
		return ctrl.Result{}, err
	}
	if k.RunsOnce && k.Finished(obj) && state != WorkflowRunning && status.ObservedGeneration == obj.GetGeneration() {
		return ctrl.Result{}, nil // nothing to follow until the spec changes
	}
	return res, nil
}

func conditionReason(conds []metav1.Condition) string {
	if c := meta.FindStatusCondition(conds, arkivev1.ConditionWorkflowReady); c != nil && c.Reason != arkivev1.ReasonRunning {
		return "(" + c.Reason + ")"
	}
	return ""
}
