package resourcerestore

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"arkive.io/arkive/workflows"
)

// ResourceRestore plans (reading the snapshot and the target, and failing before anything is
// written on a conflict under policy Fail, an unknown kind or a missing snapshot), then, unless
// it is a dry run or nothing would change, applies the plan's steps in order: each step's
// objects are all written before the next step begins. Objects that fail are counted and listed;
// the restore goes on with the rest and ends Failed (PartiallyFailed) if any did.
func ResourceRestore(ctx workflow.Context, in Input) (Status, error) {
	st := Status{Phase: PhaseDraft, StartTime: workflow.Now(ctx)}
	if err := workflows.ServeStatus(ctx, func() Status { return st }, func() (string, string) { return st.Phase, workflows.Details(st.Phase, st.Reason, st.LastError) }); err != nil {
		return st, err
	}
	fail := func(err error) (Status, error) {
		st.Phase, st.LastError, st.CompletionTime, st.Step = PhaseFailed, workflows.RootMessage(err), workflow.Now(ctx), ""
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) {
			st.Reason = appErr.Type()
		}
		return st, err
	}
	var plan Plan
	if err := workflow.ExecuteActivity(activityCtx(ctx, 30*time.Minute), ActivityPlan, in).Get(ctx, &plan); err != nil {
		return fail(err)
	}
	st.Plan, st.Phase = &plan, PhaseReady
	switch {
	case in.Spec.DryRun:
		st.Reason, st.CompletionTime, st.Objects = ReasonDryRun, workflow.Now(ctx), plan.Skipped
		return st, nil
	case plan.Writes() == 0:
		st.Phase, st.Reason, st.CompletionTime = PhaseDone, ReasonUnchanged, workflow.Now(ctx)
		st.Counts, st.Objects = plan.Counts, plan.Skipped
		return st, nil
	}
	// Every object of the plan is in one step, which counts it (skipped ones too).
	st.Phase = PhaseRestoring
	for _, step := range plan.Steps {
		st.Step = step.Name
		var res ApplyResult
		err := workflow.ExecuteActivity(activityCtx(ctx, 6*time.Hour), ActivityApply,
			ApplyInput{Connection: in.Connection, Spec: in.Spec, Snapshot: plan.Snapshot, Step: step.Name}).Get(ctx, &res)
		if err != nil {
			return fail(err)
		}
		st.Counts.Add(res.Counts)
		st.Objects = appendBounded(st.Objects, res.Objects)
	}
	st.Step, st.CompletionTime = "", workflow.Now(ctx)
	if st.Counts.Failed > 0 {
		st.Phase, st.Reason = PhaseFailed, ReasonPartiallyFailed
		st.LastError = fmt.Sprintf("%d of %d objects failed; status.objects lists them", st.Counts.Failed, st.Counts.Total)
		return st, nil
	}
	st.Phase = PhaseDone
	return st, nil
}

// appendBounded keeps at most MaxObjectResults results, failures before anything else.
func appendBounded(have, more []ObjectResult) []ObjectResult {
	all := append(have, more...)
	out := make([]ObjectResult, 0, min(len(all), MaxObjectResults))
	for _, failed := range []bool{true, false} {
		for _, r := range all {
			if (r.Result == ResultFailed) == failed && len(out) < MaxObjectResults {
				out = append(out, r)
			}
		}
	}
	return out
}

// HeartbeatTimeout is the heartbeat timeout of the restore's activities.
const HeartbeatTimeout = 20 * time.Second

func activityCtx(ctx workflow.Context, timeout time.Duration) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: timeout,
		HeartbeatTimeout:    HeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second,
			MaximumAttempts: 10,
			NonRetryableErrorTypes: []string{ErrInvalidSpec, ErrStorageAccessDenied, ErrBackupNotFound, ErrConflict,
				ErrCorruptManifest, ErrCorruptSnapshot}},
	})
}
