package resourcebackup

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"arkive.io/arkive/workflows"
)

// ResourceBackup takes a snapshot at start, then on each cron tick of spec.schedule (or, without
// one, on each trigger signal), and applies retention after each snapshot: the shared
// workflows.CronBackup, with the kube activities taking and pruning snapshots.
func ResourceBackup(ctx workflow.Context, in RunInput) error {
	b := &backup{in: in.Input}
	if in.State != nil {
		b.state = *in.State
	}
	b.cron = workflows.CronBackup{State: &b.state.CronState, Sig: workflows.NewSignals(ctx),
		Spec: func() workflows.CronSpec {
			s := b.in.Spec
			return workflows.CronSpec{Enabled: s.Enabled, Schedule: s.Schedule, KeepLast: s.KeepLast, MaxAge: s.MaxAge}
		},
		Take:   b.snapshot,
		Prune:  b.prune,
		Update: func(ctx workflow.Context, c workflow.ReceiveChannel) { c.Receive(ctx, &b.in.Spec) },
		ContinueAsNew: func(ctx workflow.Context) error {
			return workflow.NewContinueAsNewError(ctx, ResourceBackup, RunInput{Input: b.in, State: &b.state})
		},
	}
	if err := workflows.ServeStatus(ctx, b.status, func() (string, string) {
		s := b.status()
		return s.Phase, workflows.Details(s.Phase, s.Reason, s.LastError)
	}); err != nil {
		return err
	}
	return b.cron.Run(ctx)
}

type backup struct {
	in    Input
	state State
	cron  workflows.CronBackup
	// snaps are the snapshots after the newest one was taken, for the volumes' retention.
	snaps []SnapshotInfo
}

// snapshot copies the selected volumes' files (data first), then runs the Snapshot activity,
// whose manifest entry makes the run a snapshot, and records what the kind shows of it.
func (b *backup) snapshot(ctx workflow.Context, id string, now time.Time) ([]SnapshotInfo, string, error) {
	var vols []VolumeBackupResult
	if len(b.in.Spec.Volumes) > 0 {
		var err error
		if vols, err = b.backupVolumes(ctx, id); err != nil {
			return nil, "", err
		}
	}
	var res SnapshotResult
	err := workflows.WithStorage(ctx, b.in.Connection, id+"/storage", b.moverUser(), activityOptions(), func(sctx workflow.Context) error {
		return workflow.ExecuteActivity(sctx, ActivitySnapshot,
			SnapshotInput{Connection: b.in.Connection, Spec: b.in.Spec, ID: id, Time: now}).Get(sctx, &res)
	})
	if err == nil {
		b.state.Objects, b.state.Volumes, b.state.VolumeBytes, b.state.Completed = res.Objects, len(vols), 0, workflow.Now(ctx)
		for _, v := range vols {
			b.state.VolumeBytes += v.Bytes
		}
		b.snaps = res.Snapshots
	}
	warning := res.Warning
	for _, v := range vols {
		if v.WarningCount > 0 && warning == "" {
			warning = fmt.Sprintf("volume %s: %d files not copied as they were; first: %s", v.Volume, v.WarningCount, v.Warnings[0])
		}
	}
	return res.Snapshots, warning, err
}

// backupVolumes copies each selected claim through a mover Pod of its own, one after the other
// (each mover uses the cores it gets).
func (b *backup) backupVolumes(ctx workflow.Context, id string) ([]VolumeBackupResult, error) {
	var list ListVolumesResult
	if err := workflow.ExecuteActivity(activityCtx(ctx), ActivityListVolumes, ListVolumesInput{Volumes: b.in.Spec.Volumes}).Get(ctx, &list); err != nil {
		return nil, err
	}
	out := make([]VolumeBackupResult, 0, len(list.Claims))
	for _, c := range list.Claims {
		spec := b.in.Spec.Volumes[c.Spec]
		mover := MoverInput{Namespace: c.Namespace, Claim: c.Name, Storage: b.in.Connection.StorageClaim, Key: workflow.GetInfo(ctx).WorkflowExecution.ID + "/" + id + "/" + c.Namespace + "/" + c.Name,
			RunAsUser: spec.RunAsUser, FSGroup: spec.FSGroup, ReadAllFiles: spec.ReadAllFiles}
		claim := c
		res, err := workflows.WithMover(ctx, mover, func(mctx workflow.Context) (VolumeBackupResult, error) {
			var r VolumeBackupResult
			err := workflow.ExecuteActivity(mctx, ActivityVolumeBackup, VolumeBackupInput{Connection: b.in.Connection,
				Volume: c.Namespace + "/" + c.Name, Snapshot: VolumeSnapshotID(id, c.Namespace, c.Name), Include: spec.Include,
				Exclude: spec.Exclude, Run: id, Claim: &claim}).Get(mctx, &r)
			return r, err
		})
		if err != nil {
			return nil, err
		}
		res.Volume = c.Namespace + "/" + c.Name
		out = append(out, res)
	}
	return out, nil
}

// prune drops resource snapshots, then every volume snapshot of a run that is not kept.
func (b *backup) prune(ctx workflow.Context, drop []string) error {
	key := "prune/" + workflow.Now(ctx).UTC().Format("20060102T150405Z")
	return workflows.WithStorage(ctx, b.in.Connection, key, b.moverUser(), activityOptions(), func(sctx workflow.Context) error {
		var pr PruneResult
		if err := workflow.ExecuteActivity(sctx, ActivityPrune, PruneInput{Connection: b.in.Connection, Drop: drop}).Get(sctx, &pr); err != nil {
			return err
		}
		if len(b.in.Spec.Volumes) == 0 || len(b.snaps) == 0 {
			return nil
		}
		var keep []string
		for _, s := range b.snaps {
			if !slices.Contains(drop, s.ID) {
				keep = append(keep, s.ID)
			}
		}
		var vr VolumePruneResult
		return workflow.ExecuteActivity(sctx, ActivityVolumePrune, VolumePruneInput{Connection: b.in.Connection, KeepRuns: keep}).Get(sctx, &vr)
	})
}

// moverUser is who the storage's own mover runs as: the first volume's mover's user.
func (b *backup) moverUser() MoverInput {
	if len(b.in.Spec.Volumes) == 0 {
		return MoverInput{}
	}
	v := b.in.Spec.Volumes[0]
	return MoverInput{RunAsUser: v.RunAsUser, FSGroup: v.FSGroup, ReadAllFiles: v.ReadAllFiles}
}

func activityCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, activityOptions())
}

func activityOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Hour,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second,
			MaximumAttempts:        5,
			NonRetryableErrorTypes: []string{ErrInvalidSpec, ErrStorageAccessDenied}},
	}
}

func (b *backup) status() Status {
	st := b.state
	s := Status{LastBackupTime: st.LastBackup, LastSnapshot: st.LastSnapshot, Snapshots: st.Snapshots,
		Objects: st.Objects, Volumes: st.Volumes, VolumeBytes: st.VolumeBytes, Runs: st.Runs, LastError: st.LastError, Warning: st.Warning,
		LastCompletionTime: st.Completed}
	if c := b.in.Connection.StorageClaim; c != nil {
		s.StorageClaim = c.Name
	}
	s.Phase, s.Reason, s.NextSnapshot = b.cron.Phase()
	return s
}
