package resourcebackup

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"arkive.io/arkive/workflows"
)

type backup struct {
	in        Input
	state     State
	sig       *workflows.Signals
	triggered bool
}

// ResourceBackup takes a snapshot at start, then on each cron tick of spec.schedule (or, without
// one, on each trigger signal), and applies retention after each snapshot. Phases: Paused
// (spec.enabled false or a pause signal), Initializing (before the first snapshot), Running,
// Error (with the cause; only a trigger, resume or new spec tries again).
func ResourceBackup(ctx workflow.Context, in RunInput) error {
	b := &backup{in: in.Input, sig: workflows.NewSignals(ctx)}
	b.handleSignals()
	if in.State != nil {
		b.state = *in.State
		b.triggered, b.state.Triggered = b.state.Triggered, false
	}
	if err := workflow.SetQueryHandler(ctx, workflows.QueryStatus, func() (Status, error) { return b.status(), nil }); err != nil {
		return err
	}
	loop := workflows.SnapshotLoop{Sig: b.sig, Triggered: &b.triggered,
		Active: func() bool { return b.in.Spec.Enabled && !b.state.Paused },
		Halted: func() bool { return b.state.Halted != "" },
		Due: func(now time.Time) bool {
			// The first snapshot at start; then on each tick (no tick without a schedule).
			return b.state.Halted == "" && (b.state.Runs == 0 || (!b.state.NextAt.IsZero() && !now.Before(b.state.NextAt)))
		},
		Take: func(ctx workflow.Context) {
			b.snapshot(ctx)
			if err := b.schedule(ctx); err != nil {
				b.state.LastError = workflows.RootMessage(err)
				b.state.Halted, b.state.HaltType = b.state.LastError, ErrInvalidSpec
			}
		},
		Next: func() time.Time { return b.state.NextAt },
		ContinueAsNew: func(ctx workflow.Context) error {
			st := b.state
			st.Triggered = b.triggered
			return workflow.NewContinueAsNewError(ctx, ResourceBackup, RunInput{Input: b.in, State: &st})
		},
	}
	return loop.Run(ctx)
}

// schedule sets the next snapshot time: the next cron tick after now, none without a schedule,
// and soon again after a passing failure.
func (b *backup) schedule(ctx workflow.Context) error {
	now := workflow.Now(ctx)
	retry := time.Time{}
	if b.state.HaltType == ReasonRetrying && b.state.Halted == "" && b.state.LastError != "" {
		retry = now.Add(workflows.RetryPause)
	}
	next := time.Time{}
	if b.in.Spec.Schedule != "" {
		var err error
		if next, err = workflows.NextTick(ctx, "spec.schedule", b.in.Spec.Schedule, now); err != nil {
			return err
		}
	}
	if !retry.IsZero() && (next.IsZero() || retry.Before(next)) {
		next = retry
	}
	b.state.NextAt = next
	return nil
}

// snapshot takes one snapshot and applies retention; failures land in the state.
func (b *backup) snapshot(ctx workflow.Context) {
	now := workflow.Now(ctx)
	var res SnapshotResult
	err := workflow.ExecuteActivity(b.activityCtx(ctx), ActivitySnapshot,
		SnapshotInput{Connection: b.in.Connection, Spec: b.in.Spec, ID: SnapshotID(now, b.state.Runs+1), Time: now}).Get(ctx, &res)
	b.state.Runs++
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		b.state.LastError = workflows.RootMessage(err)
		if appErr, permanent := workflows.Permanent(err); permanent {
			b.state.Halted, b.state.HaltType = b.state.LastError, appErr.Type()
			return
		}
		b.state.HaltType = ReasonRetrying
		return
	}
	b.state.Halted, b.state.HaltType, b.state.LastError = "", "", ""
	b.state.LastBackup, b.state.LastSnapshot, b.state.Objects, b.state.Warning = now, res.ID, res.Objects, res.Warning
	b.state.Snapshots = len(res.Snapshots)
	if drop := workflows.Drops(res.Snapshots, b.in.Spec.KeepLast, b.in.Spec.MaxAge, now); len(drop) > 0 {
		var pr PruneResult
		if err := workflow.ExecuteActivity(b.activityCtx(ctx), ActivityPrune, PruneInput{Connection: b.in.Connection, Drop: drop}).Get(ctx, &pr); err != nil {
			b.state.LastError = "retention: " + workflows.RootMessage(err) // the next snapshot tries again
			return
		}
		b.state.Snapshots -= len(drop)
	}
}

func (b *backup) activityCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Hour,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second,
			MaximumAttempts:        5,
			NonRetryableErrorTypes: []string{ErrInvalidSpec, ErrStorageAccessDenied}},
	})
}

// handleSignals says what each signal does to the backup.
func (b *backup) handleSignals() {
	b.sig.OnPause = func() { b.state.Paused = true }
	b.sig.OnResume = func() {
		b.state.Paused = false
		b.clearHalt()
	}
	b.sig.OnTrigger = func() {
		b.triggered = true
		b.clearHalt()
	}
	b.sig.OnUpdate = func(ctx workflow.Context, c workflow.ReceiveChannel) {
		var spec Spec
		c.Receive(ctx, &spec)
		if spec.Enabled && !b.in.Spec.Enabled {
			b.state.Paused = false // enabling a backup resumes it, whatever paused it
		}
		scheduleChanged := spec.Schedule != b.in.Spec.Schedule
		b.in.Spec = spec
		if scheduleChanged && b.state.Runs > 0 && b.state.Halted == "" {
			if err := b.schedule(ctx); err != nil {
				b.state.LastError = workflows.RootMessage(err)
				b.state.Halted, b.state.HaltType = b.state.LastError, ErrInvalidSpec
			}
		}
		b.clearHalt()
	}
}

// clearHalt lets a snapshot be tried again now, after a permanent error.
func (b *backup) clearHalt() {
	if b.state.Halted != "" {
		b.state.Halted, b.triggered = "", true
	}
}

func (b *backup) status() Status {
	s := Status{LastBackupTime: b.state.LastBackup, LastSnapshot: b.state.LastSnapshot, Snapshots: b.state.Snapshots,
		Objects: b.state.Objects, Runs: b.state.Runs, LastError: b.state.LastError, Warning: b.state.Warning, NextSnapshot: b.state.NextAt}
	switch {
	case !b.in.Spec.Enabled:
		s.Phase, s.Reason = PhasePaused, ReasonPausedBySpec
	case b.state.Paused:
		s.Phase, s.Reason = PhasePaused, ReasonPausedBySignal
	case b.state.Halted != "":
		s.Phase, s.Reason, s.NextSnapshot = PhaseError, b.state.HaltType, time.Time{}
	case b.state.LastError != "" && b.state.HaltType == ReasonRetrying:
		s.Phase, s.Reason = PhaseRunning, ReasonRetrying
		if b.state.LastBackup.IsZero() {
			s.Phase = PhaseInitializing
		}
	case b.state.LastBackup.IsZero():
		s.Phase = PhaseInitializing
	case b.state.NextAt.IsZero():
		s.Phase, s.Reason = PhaseRunning, ReasonWaitingForTrigger
	default:
		s.Phase, s.Reason = PhaseRunning, ReasonWaitingForSchedule
	}
	return s
}
