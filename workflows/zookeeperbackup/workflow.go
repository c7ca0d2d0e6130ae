package zookeeperbackup

import (
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"arkive.io/arkive/workflows"
)

// ZooKeeperBackup takes a snapshot of the tree at start, then on each cron tick of
// spec.schedule (or, without one, on each trigger signal), and applies retention after each:
// the shared workflows.CronBackup, with the zookeeper activities walking the tree.
func ZooKeeperBackup(ctx workflow.Context, in RunInput) error {
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
			err := workflow.ExecuteActivity(activityCtx(ctx), ActivityPrune, PruneInput{Connection: b.in.Connection, Drop: drop}).Get(ctx, &pr)
			if err == nil {
				b.state.Listed = slices.DeleteFunc(b.state.Listed, func(s Summary) bool { return slices.Contains(drop, s.ID) })
			}
			return err
		},
		Update: func(ctx workflow.Context, c workflow.ReceiveChannel) { c.Receive(ctx, &b.in.Spec) },
		ContinueAsNew: func(ctx workflow.Context) error {
			return workflow.NewContinueAsNewError(ctx, ZooKeeperBackup, RunInput{Input: b.in, State: &b.state})
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

// snapshot runs the Snapshot activity and lists the snapshot it stored.
func (b *backup) snapshot(ctx workflow.Context, id string, now time.Time) ([]SnapshotInfo, string, error) {
	var res SnapshotResult
	err := workflow.ExecuteActivity(activityCtx(ctx), ActivitySnapshot,
		SnapshotInput{Connection: b.in.Connection, Spec: b.in.Spec, ID: id, Time: now}).Get(ctx, &res)
	if err == nil {
		b.state.Listed = append(slices.DeleteFunc(b.state.Listed, func(s Summary) bool { return s.ID == res.ID }), res.Summary)
		b.state.Listed = b.state.Listed[max(0, len(b.state.Listed)-MaxListed):]
	}
	return res.Snapshots, res.Warning, err
}

func activityCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Hour,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second,
			MaximumAttempts:        5,
			NonRetryableErrorTypes: []string{ErrInvalidSpec, ErrStorageAccessDenied, ErrAuthentication}},
	})
}

func (b *backup) status() Status {
	st := b.state
	s := Status{LastBackupTime: st.LastBackup, LastSnapshot: st.LastSnapshot, Snapshots: st.Snapshots,
		Listed: st.Listed, Runs: st.Runs, LastError: st.LastError, Warning: st.Warning}
	s.Phase, s.Reason, s.NextSnapshot = b.cron.Phase()
	return s
}
