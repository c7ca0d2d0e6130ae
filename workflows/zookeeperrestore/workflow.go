package zookeeperrestore

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"arkive.io/arkive/workflows"
)

// ZooKeeperRestore plans (reading the snapshot and the target, and failing before anything is
// written on a conflict under policy Fail, a node too large for the target or a missing
// snapshot), then, unless it is a dry run or nothing would change, applies the plan in one
// resumable activity: parents before children, then (Mirror) deletes, then sequence counters.
func ZooKeeperRestore(ctx workflow.Context, in Input) (Status, error) {
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
	if err := workflow.ExecuteActivity(activityCtx(ctx, 30*time.Minute), ActivityPlan, in).Get(ctx, &plan); err != nil {
		return fail(err)
	}
	st.Plan, st.Phase, st.Warning = &plan, PhaseReady, warning(plan)
	switch {
	case in.Spec.DryRun:
		st.Reason, st.CompletionTime = ReasonDryRun, workflow.Now(ctx)
		return st, nil
	case plan.Counts.Writes() == 0:
		st.Phase, st.Reason, st.CompletionTime, st.Counts = PhaseDone, ReasonUnchanged, workflow.Now(ctx), plan.Counts
		return st, nil
	}
	st.Phase = PhaseRestoring
	var res ApplyResult
	err := workflow.ExecuteActivity(activityCtx(ctx, 6*time.Hour), ActivityApply,
		ApplyInput{Connection: in.Connection, Spec: in.Spec, Snapshot: plan.Snapshot}).Get(ctx, &res)
	if err != nil {
		return fail(err)
	}
	st.Phase, st.Counts, st.CompletionTime = PhaseDone, res.Counts, workflow.Now(ctx)
	return st, nil
}

// warning says what a restore of the plan leaves out or cannot vouch for.
func warning(p Plan) string {
	w := ""
	if p.Ephemeral > 0 {
		w = fmt.Sprintf("%d ephemeral nodes are not restored: the sessions that owned them are gone", p.Ephemeral)
	}
	if p.Consistency != "" && p.Consistency != "consistent" {
		if w != "" {
			w += "; "
		}
		w += "snapshot " + p.Snapshot + " is " + p.Consistency + ": the tree changed while it was taken"
	}
	return w
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
				ErrCorruptManifest, ErrCorruptSnapshot, ErrNodeTooLarge, ErrNoAuth, ErrAuthentication}},
	})
}
