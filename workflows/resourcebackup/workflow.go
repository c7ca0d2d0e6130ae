package resourcebackup

import (
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
		Take: b.snapshot,
		Prune: func(ctx workflow.Context, drop []string) error {
			var pr PruneResult
			return workflow.ExecuteActivity(activityCtx(ctx), ActivityPrune, PruneInput{Connection: b.in.Connection, Drop: drop}).Get(ctx, &pr)
		},
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
}

// snapshot runs the Snapshot activity and records what the kind shows of it.
func (b *backup) snapshot(ctx workflow.Context, id string, now time.Time) ([]SnapshotInfo, string, error) {
	var res SnapshotResult
	err := workflow.ExecuteActivity(activityCtx(ctx), ActivitySnapshot,
		SnapshotInput{Connection: b.in.Connection, Spec: b.in.Spec, ID: id, Time: now}).Get(ctx, &res)
	if err == nil {
		b.state.Objects = res.Objects
	}
	return res.Snapshots, res.Warning, err
}

func activityCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Hour,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second,
			MaximumAttempts:        5,
			NonRetryableErrorTypes: []string{ErrInvalidSpec, ErrStorageAccessDenied}},
	})
}

func (b *backup) status() Status {
	st := b.state
	s := Status{LastBackupTime: st.LastBackup, LastSnapshot: st.LastSnapshot, Snapshots: st.Snapshots,
		Objects: st.Objects, Runs: st.Runs, LastError: st.LastError, Warning: st.Warning}
	s.Phase, s.Reason, s.NextSnapshot = b.cron.Phase()
	return s
}
