package resourcerestore

import (
	"errors"
	"fmt"
	"slices"
	"strings"
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
	// Everything that reads the storage runs where it is mounted (a mover Pod when the Storage
	// is a claim): the plan, the objects' steps, the list of volume snapshots.
	var plan Plan
	var vols VolumeListResult
	done := false
	var user workflows.MoverInput // the volumes' movers' user, so every mover reads what the others wrote
	if vs := in.Spec.Volumes; vs != nil {
		user = workflows.MoverInput{RunAsUser: vs.RunAsUser, FSGroup: vs.FSGroup, ReadAllFiles: vs.ReadAllFiles}
	}
	err := workflows.WithStorage(ctx, in.Connection, "storage", user, activityOptions(6*time.Hour), func(sctx workflow.Context) error {
		if err := workflow.ExecuteActivity(workflow.WithStartToCloseTimeout(sctx, 30*time.Minute), ActivityPlan, in).Get(sctx, &plan); err != nil {
			return err
		}
		st.Plan, st.Phase = &plan, PhaseReady
		if in.Spec.Volumes != nil {
			if err := workflow.ExecuteActivity(workflow.WithStartToCloseTimeout(sctx, 10*time.Minute), ActivityVolumeList,
				VolumeListInput{Connection: in.Connection, Run: plan.Snapshot}).Get(sctx, &vols); err != nil {
				return err
			}
		}
		switch {
		case in.Spec.DryRun:
			// What the restore would write into: the volumes and their target claims.
			_ = restoreVolumes(ctx, in, vols, &st, false)
			st.Reason, st.CompletionTime, st.Objects = ReasonDryRun, workflow.Now(ctx), plan.Skipped
			done = true
			return nil
		case plan.Writes() == 0 && in.Spec.Volumes == nil:
			st.Phase, st.Reason, st.CompletionTime = PhaseDone, ReasonUnchanged, workflow.Now(ctx)
			st.Counts, st.Objects = plan.Counts, plan.Skipped
			done = true
			return nil
		}
		// Every object of the plan is in one step, which counts it (skipped ones too).
		st.Phase = PhaseRestoring
		for _, step := range plan.Steps {
			if plan.Writes() == 0 {
				break // only volumes to restore
			}
			st.Step = step.Name
			var res ApplyResult
			err := workflow.ExecuteActivity(sctx, ActivityApply,
				ApplyInput{Connection: in.Connection, Spec: in.Spec, Snapshot: plan.Snapshot, Step: step.Name}).Get(sctx, &res)
			if err != nil {
				return err
			}
			st.Counts.Add(res.Counts)
			st.Objects = appendBounded(st.Objects, res.Objects)
		}
		if plan.Writes() == 0 {
			st.Counts, st.Objects = plan.Counts, plan.Skipped
		}
		return nil
	})
	switch {
	case err != nil:
		return fail(err)
	case done:
		return st, nil
	}
	if in.Spec.Volumes != nil {
		// After the objects: a restored claim exists before its files are written.
		st.Step = StepVolumes
		if err := restoreVolumes(ctx, in, vols, &st, true); err != nil {
			return fail(err)
		}
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
	return workflow.WithActivityOptions(ctx, activityOptions(timeout))
}

func activityOptions(timeout time.Duration) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: timeout,
		HeartbeatTimeout:    HeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second,
			MaximumAttempts: 10,
			NonRetryableErrorTypes: []string{ErrInvalidSpec, ErrStorageAccessDenied, ErrBackupNotFound, ErrConflict,
				ErrCorruptManifest, ErrCorruptSnapshot}},
	}
}

// StepVolumes is the status' step while volume files are restored.
const StepVolumes = "volumes"

// restoreVolumes restores each selected volume snapshot of the run (list) into its target claim
// (created when missing and allowed), through a mover Pod per claim. Without write it only
// lists them, with their targets, for a dry run.
func restoreVolumes(ctx workflow.Context, in Input, list VolumeListResult, st *Status, write bool) error {
	vs := in.Spec.Volumes
	for _, v := range list.Snapshots {
		if len(vs.Claims) > 0 && !slices.Contains(vs.Claims, v.Volume) {
			continue
		}
		target := TargetClaim(v.Volume, vs.ClaimMapping, in.Spec.NamespaceMapping)
		ns, name, _ := strings.Cut(target, "/")
		res := VolumeResult{Volume: v.Volume, Target: target, Files: v.Files, Bytes: v.Bytes}
		if !write {
			st.Volumes = append(st.Volumes, res)
			continue
		}
		var ec EnsureClaimResult
		if err := workflow.ExecuteActivity(activityCtx(ctx, 10*time.Minute), ActivityEnsureClaim, EnsureClaimInput{Namespace: ns, Name: name,
			Capacity: v.Capacity, StorageClass: v.StorageClass, AccessModes: v.AccessModes, Create: vs.CreateMissing}).Get(ctx, &ec); err != nil {
			return err
		}
		res.Created = ec.Created
		mover := workflows.MoverInput{Namespace: ns, Claim: name, Storage: in.Connection.StorageClaim, Key: workflow.GetInfo(ctx).WorkflowExecution.ID + "/" + v.ID + "/" + target,
			Write: true, RunAsUser: vs.RunAsUser, FSGroup: vs.FSGroup, ReadAllFiles: vs.ReadAllFiles}
		r, err := workflows.WithMover(ctx, mover, func(mctx workflow.Context) (VolumeRestoreResult, error) {
			var r VolumeRestoreResult
			err := workflow.ExecuteActivity(mctx, ActivityVolumeRestore, VolumeRestoreInput{Connection: in.Connection, Snapshot: v.ID,
				KeepExisting: vs.KeepExisting}).Get(mctx, &r)
			return r, err
		})
		if err != nil {
			return err
		}
		res.Files, res.Bytes, res.Skipped, res.Kept = r.Files, r.Bytes, r.Skipped, r.Kept
		st.Volumes = append(st.Volumes, res)
	}
	return nil
}

// TargetClaim is where a snapshot's claim ("namespace/name") is restored: its own mapping, or
// its name in the namespace the namespace mapping gives.
func TargetClaim(volume string, claims, namespaces map[string]string) string {
	if t, ok := claims[volume]; ok {
		return t
	}
	ns, name, _ := strings.Cut(volume, "/")
	if t, ok := namespaces[ns]; ok {
		ns = t
	}
	return ns + "/" + name
}
