package operator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	apistatus "arkive.io/arkive/api/status"
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
	obj := r.kind.New()
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := r.kind.Phase(obj)
	latest, res, invalid, err := r.drive(ctx, obj)
	if err != nil || !obj.GetDeletionTimestamp().IsZero() {
		return res, err
	}
	res, err = r.follow(ctx, latest, res, obj, before)
	if err == nil && invalid != nil && latest.State != WorkflowRunning {
		// A spec that cannot work is not tried again every interval: the condition says why,
		// and the next change of the resource reconciles it again. (A running workflow is still
		// followed: its status keeps coming.)
		return ctrl.Result{}, reconcile.TerminalError(invalid)
	}
	return res, err
}

// drive runs the lifecycle of one resource's workflow and returns the workflow's state after
// it, and the spec error (not a missing reference, which may appear) that kept it from starting
// or updating the workflow. It never waits on a workflow: every Temporal call returns at once.
func (r *WorkReconciler) drive(ctx context.Context, obj client.Object) (_ run, _ ctrl.Result, invalid, _ error) {
	k := r.kind
	status := k.Status(obj)
	id := k.WorkflowID(obj.GetNamespace(), obj.GetName())
	requeue := ctrl.Result{RequeueAfter: r.interval()}
	tctx, cancel := temporalContext(ctx)
	defer cancel()
	setCondition := func(cond metav1.ConditionStatus, reason, message string) {
		kinds.SetWorkflowReady(&status.Conditions, obj.GetGeneration(), cond, reason, message)
	}
	deleting := !obj.GetDeletionTimestamp().IsZero()
	if !deleting && controllerutil.AddFinalizer(obj, Finalizer) {
		if err := r.Update(ctx, obj); err != nil {
			return run{}, ctrl.Result{}, nil, err
		}
	}
	latest, err := describe(tctx, r.Temporal, id)
	if err != nil {
		setCondition(metav1.ConditionUnknown, arkivev1.ReasonUnknown, "Temporal: "+err.Error())
		return run{}, requeue, nil, nil
	}
	state := latest.State
	status.WorkflowID = id
	action := Plan(Observed{Deleting: deleting, Generation: obj.GetGeneration(), ObservedGeneration: status.ObservedGeneration,
		Workflow: state, RunsOnce: k.RunsOnce, Kept: latest.Kept && k.Release != nil, Releasing: latest.Releasing})
	switch action {
	case ActionNone:
		if deleting {
			return latest, ctrl.Result{RequeueAfter: time.Second}, nil, nil // a release run is under way
		}
	case ActionRelease:
		if err := r.release(ctx, tctx, obj, id); err != nil {
			return latest, ctrl.Result{}, nil, err
		}
		return latest, ctrl.Result{RequeueAfter: time.Second}, nil, nil // the finalizer goes once it has released
	case ActionCancel:
		if err := r.Temporal.CancelWorkflow(tctx, id, ""); err != nil {
			return latest, ctrl.Result{}, nil, fmt.Errorf("cancel %s: %w", id, err)
		}
		r.events.Eventf(obj, nil, corev1.EventTypeNormal, "Deleting", "CancelWorkflow", "cancelled workflow %s", id)
		return latest, ctrl.Result{RequeueAfter: time.Second}, nil, nil // the finalizer goes once it has closed
	case ActionRemoveFinalizer:
		if latest.Releasing && state == WorkflowFailed {
			r.events.Eventf(obj, nil, corev1.EventTypeWarning, "ReleaseFailed", "Delete",
				"the run that was to release what workflow %s kept in the backup's storage failed (its history says why): its catalog pin expires within a day, its pages stay under restores/ in the backup", id)
		}
		return latest, ctrl.Result{}, nil, r.removeFinalizer(ctx, obj)
	}
	// The references are resolved and the input built on every reconcile, so a missing object
	// or a bad spec shows in the WorkflowReady condition and nothing is started.
	refs, err := r.resolveRefs(ctx, obj.GetNamespace(), k.Refs(obj))
	var in, update any
	if err == nil {
		in, update, err = k.Input(obj, refs)
	}
	if err != nil {
		status.LastError = err.Error()
		var missing *missingError
		if errors.As(err, &missing) {
			setCondition(metav1.ConditionFalse, arkivev1.ReasonMissingReference, err.Error())
			return latest, requeue, nil, nil // a missing object may appear: look again
		}
		setCondition(metav1.ConditionFalse, arkivev1.ReasonInvalidSpec, err.Error())
		return latest, requeue, err, nil
	}
	switch action {
	case ActionStart, ActionRestart:
		if _, err := k.Start(tctx, r.Temporal, id, r.taskQueue(), in, update); err != nil {
			setCondition(metav1.ConditionFalse, arkivev1.ReasonFailed, "start workflow: "+err.Error())
			return latest, requeue, nil, nil
		}
		if action == ActionRestart {
			r.events.Eventf(obj, nil, corev1.EventTypeWarning, "WorkflowRestarted", "StartWorkflow",
				"workflow %s was %s without being asked to; started again from its last checkpoint", id, state)
		} else {
			r.events.Eventf(obj, nil, corev1.EventTypeNormal, "WorkflowStarted", "StartWorkflow", "started workflow %s", id)
		}
		status.ObservedGeneration = obj.GetGeneration()
		latest.State = WorkflowRunning
	case ActionUpdate:
		if err := k.Update(tctx, r.Temporal, id, update); err != nil {
			return latest, requeue, nil, nil // looked at again next time
		}
		r.events.Eventf(obj, nil, corev1.EventTypeNormal, "SpecUpdated", "SignalWorkflow", "sent generation %d to workflow %s", obj.GetGeneration(), id)
		status.ObservedGeneration = obj.GetGeneration()
	}
	if value := obj.GetAnnotations()[TriggerAnnotation]; value != "" && (latest.State == WorkflowRunning || k.RunsOnce) {
		if err := r.trigger(ctx, tctx, obj, id, value); err != nil {
			return latest, ctrl.Result{}, nil, err
		}
	}
	return latest, requeue, nil, nil
}

// release starts the run that releases what the resource's terminated workflow kept in the
// storage (kinds.Work.Release). Without the objects the spec names, or with a spec that no
// longer builds, nothing can reach that storage: a Warning event says what stays, and the
// finalizer goes. A Temporal error is returned, to be tried again.
func (r *WorkReconciler) release(ctx, tctx context.Context, obj client.Object, id string) error {
	k := r.kind
	refs, err := r.resolveRefs(ctx, obj.GetNamespace(), k.Refs(obj))
	var in any
	if err == nil {
		in, _, err = k.Input(obj, refs)
	}
	if err != nil {
		r.events.Eventf(obj, nil, corev1.EventTypeWarning, "ReleaseSkipped", "Delete",
			"workflow %s was terminated by hand and what it kept in the backup's storage cannot be released (%v): its catalog pin expires within a day, its pages stay under restores/ in the backup", id, err)
		return r.removeFinalizer(ctx, obj)
	}
	if err := k.StartRelease(tctx, r.Temporal, id, r.taskQueue(), in); err != nil {
		return fmt.Errorf("start the release of %s: %w", id, err)
	}
	r.events.Eventf(obj, nil, corev1.EventTypeNormal, "Releasing", "StartWorkflow",
		"workflow %s was terminated by hand: started a run that releases what it kept in the backup's storage", id)
	return nil
}

// removeFinalizer lets the API server delete the resource.
func (r *WorkReconciler) removeFinalizer(ctx context.Context, obj client.Object) error {
	if controllerutil.RemoveFinalizer(obj, Finalizer) {
		return r.Update(ctx, obj)
	}
	return nil
}

// TriggerAnnotation on a backup asks for a run now: `kubectl annotate kb/orders
// arkive.io/trigger=$(date +%s)`. The operator sends the value as the trigger signal's id and
// removes the annotation; the workflow applies each id once, so a signal sent again (the
// operator retrying after a crash before the removal) starts no second run, and neither does
// a value used before: use a new one each time.
const TriggerAnnotation = "arkive.io/trigger"

// trigger signals the backup's workflow for the annotation's value, then removes the
// annotation; on a restore it only removes it, with a warning (a restore runs once per spec).
func (r *WorkReconciler) trigger(ctx, tctx context.Context, obj client.Object, id, value string) error {
	if r.kind.RunsOnce {
		r.events.Eventf(obj, nil, corev1.EventTypeWarning, "TriggerIgnored", "Reconcile",
			"annotation %s=%s ignored: a restore runs once for each spec; change the spec to run it again", TriggerAnnotation, value)
	} else {
		if err := r.Temporal.SignalWorkflow(tctx, id, "", workflows.SignalTrigger, value); err != nil {
			return fmt.Errorf("trigger %s: %w", id, err)
		}
		r.events.Eventf(obj, nil, corev1.EventTypeNormal, "Triggered", "SignalWorkflow",
			"annotation %s=%s: asked workflow %s for a run now (once per value)", TriggerAnnotation, value, id)
	}
	// Patch a copy: the response would overwrite the status this reconcile is building.
	cp := obj.DeepCopyObject().(client.Object)
	base := cp.DeepCopyObject().(client.Object)
	annotations := cp.GetAnnotations()
	delete(annotations, TriggerAnnotation)
	cp.SetAnnotations(annotations)
	if err := r.Patch(ctx, cp, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("remove annotation %s: %w", TriggerAnnotation, err)
	}
	obj.SetAnnotations(cp.GetAnnotations())
	obj.SetResourceVersion(cp.GetResourceVersion())
	return nil
}

// follow ends a reconcile: it mirrors the workflow's status query into the resource (a
// backup's while it runs; a restore's also after it ended, and a restore terminated by hand is
// Failed, saying so), records a phase change as an Event, saves the status, and stops
// requeueing a restore once its run has finished for the current spec.
func (r *WorkReconciler) follow(ctx context.Context, latest run, res ctrl.Result, obj client.Object, before string) (ctrl.Result, error) {
	k := r.kind
	state := latest.State
	status := k.Status(obj)
	var runBefore, lastRunBefore, outcomeBefore string
	if k.Warning != nil {
		_, runBefore = k.Warning(obj)
	}
	if k.LastRun != nil {
		lastRunBefore, outcomeBefore, _ = k.LastRun(obj)
	}
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
		// No answer: the status stays as it was until the next reconcile. A restore terminated
		// or cancelled by hand answers (if at all) with the phase it was in then, which it will
		// never leave: it failed.
		if k.RunsOnce && state == WorkflowTerminated && (err != nil || !k.Finished(obj)) {
			how := "cancelled"
			if latest.Kept {
				how = "terminated"
			}
			k.Terminated(obj, "workflow "+status.WorkflowID+" was "+how+" in Temporal before it finished")
		}
	}
	if k.Warning != nil {
		if warning, run := k.Warning(obj); warning != "" && run != "" && run != runBefore {
			r.events.Eventf(obj, nil, corev1.EventTypeWarning, "RunWarning", "Reconcile", "%s: %s", run, warning)
		}
	}
	if k.LastRun != nil {
		// An event for each run that ends, whatever its outcome (kubectl describe lists them).
		if id, outcome, summary := k.LastRun(obj); id != "" && outcome != apistatus.RunRunning && (id != lastRunBefore || outcome != outcomeBefore) {
			kind := corev1.EventTypeNormal
			if outcome == apistatus.RunFailed {
				kind = corev1.EventTypeWarning
			}
			r.events.Eventf(obj, nil, kind, "Run"+outcome, "Reconcile", "%s", summary)
			r.metrics.ran(k, obj, outcome)
		}
	}
	if !k.RunsOnce {
		// Ready follows WorkflowReady where no workflow status was mirrored (not started,
		// invalid spec, Temporal unreachable); the mirror sets it otherwise.
		if wr := meta.FindStatusCondition(status.Conditions, arkivev1.ConditionWorkflowReady); wr != nil && wr.Status != metav1.ConditionTrue {
			kinds.SetReady(&status.Conditions, obj.GetGeneration(), false)
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
