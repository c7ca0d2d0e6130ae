package schemarestore

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"arkive.io/arkive/workflows"
)

// SchemaRegistryRestore plans (with preflight), then, unless it is a dry run or there is
// nothing to change, puts the target in IMPORT mode, imports, and puts the previous mode back
// (or, after a whole-registry restore, the snapshot's global mode).
// The mode is put back in a disconnected context, so also when the import fails or the workflow
// is cancelled: a registry is never left in IMPORT mode by Arkive.
func SchemaRegistryRestore(ctx workflow.Context, in Input) (Status, error) {
	st := Status{Phase: PhaseDraft, StartTime: workflow.Now(ctx)}
	if err := workflows.ServeStatus(ctx, func() Status { return st }, func() (string, string) { return st.Phase, workflows.Details(st.Phase, st.Reason, st.LastError) }); err != nil {
		return st, err
	}
	fail := func(err error) (Status, error) {
		st.Phase, st.LastError, st.CompletionTime = PhaseFailed, workflows.RootMessage(err), workflow.Now(ctx)
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) {
			st.Reason = appErr.Type()
		}
		return st, err
	}
	var plan Plan
	if err := workflow.ExecuteActivity(activityCtx(ctx, 30*time.Minute), ActivityPlan, PlanInput(in)).Get(ctx, &plan); err != nil {
		return fail(err)
	}
	st.Plan = &plan
	st.Phase = PhaseReady
	switch {
	case in.Spec.DryRun && plan.ConflictCount > 0:
		// The dry run's answer is its plan, conflicts included: it fails as the restore would,
		// with the plan in the status.
		return fail(temporal.NewNonRetryableApplicationError(ConflictMessage(plan.Conflicts, plan.ConflictCount), ErrConflict, nil))
	case in.Spec.DryRun:
		st.Reason, st.CompletionTime = ReasonDryRun, workflow.Now(ctx)
		return st, nil
	case plan.Changes() == 0:
		st.Phase, st.Reason, st.CompletionTime = PhaseDone, ReasonUnchanged, workflow.Now(ctx)
		st.SubjectsRestored, st.VersionsRestored = plan.Subjects, 0
		return st, nil
	}
	st.Phase = PhaseRestoring
	var mode ModeResult
	var res ImportResult
	err := workflow.ExecuteActivity(activityCtx(ctx, 5*time.Minute), ActivitySetMode,
		ModeInput{Connection: in.Connection, Mode: ModeImport, Force: !plan.Empty}).Get(ctx, &mode)
	if err == nil {
		err = workflow.ExecuteActivity(activityCtx(ctx, 6*time.Hour), ActivityImport,
			ImportInput{Connection: in.Connection, Spec: in.Spec, Snapshot: plan.Snapshot}).Get(ctx, &res)
	}
	// Put the mode back even when setting IMPORT failed: the registry may have applied it
	// before the answer was lost. The plan read the mode it had.
	// A whole-registry restore that succeeded leaves the snapshot's global mode instead.
	previous := mode.Previous
	if previous == "" || previous == ModeImport {
		previous = plan.CurrentMode
	}
	if err == nil && plan.Mode != "" {
		previous = plan.Mode
	}
	if previous != ModeImport {
		dctx, cancel := workflow.NewDisconnectedContext(ctx)
		defer cancel()
		if merr := workflow.ExecuteActivity(activityCtx(dctx, 5*time.Minute), ActivitySetMode,
			ModeInput{Connection: in.Connection, Mode: previous}).Get(dctx, nil); merr != nil && err == nil {
			err = merr
		}
	}
	if err != nil {
		return fail(err)
	}
	st.Phase, st.Reason, st.CompletionTime = PhaseDone, "", workflow.Now(ctx)
	st.SubjectsRestored, st.VersionsRestored = res.Subjects, res.Registered
	return st, nil
}

// HeartbeatTimeout is the heartbeat timeout of the restore's activities.
const HeartbeatTimeout = 20 * time.Second

func activityCtx(ctx workflow.Context, timeout time.Duration) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: timeout,
		// Every activity heartbeats (plan and import also while they read the target), so a
		// worker that dies is noticed within this.
		HeartbeatTimeout: HeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second,
			MaximumAttempts:        8,
			NonRetryableErrorTypes: []string{ErrInvalidSpec, ErrUnauthorized, ErrStorageAccessDenied, ErrBackupNotFound, ErrConflict}},
	})
}
