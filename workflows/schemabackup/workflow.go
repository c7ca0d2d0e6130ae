package schemabackup

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"arkive.io/arkive/workflows"
)

type backup struct {
	in    Input
	state State
	sig   *workflows.Signals
	// triggered: a trigger signal asks for a snapshot now.
	triggered bool
}

// SchemaRegistryBackup snapshots a registry once at start, every interval and on trigger, and
// applies retention after each stored snapshot. Phases: Paused (spec.enabled false or a pause
// signal), Initializing (before the first snapshot), Running, Error (with the cause).
func SchemaRegistryBackup(ctx workflow.Context, in RunInput) error {
	b := &backup{in: in.Input, sig: workflows.NewSignals(ctx)}
	b.handleSignals()
	if in.State != nil {
		b.state = *in.State
		b.triggered, b.state.Triggered = b.state.Triggered, false
	}
	b.sig.Triggers = &b.state.Triggers
	if err := workflows.ServeStatus(ctx, b.snapshotStatus, func() (string, string) {
		s := b.snapshotStatus()
		return s.Phase, workflows.Details(s.Phase, s.Reason, s.LastError)
	}); err != nil {
		return err
	}
	loop := workflows.SnapshotLoop{Sig: b.sig, Triggered: &b.triggered,
		Active: func() bool { return b.in.Spec.Enabled && !b.state.Paused },
		Halted: func() bool { return b.state.Halted != "" },
		Due: func(now time.Time) bool {
			return b.state.Halted == "" && (b.state.LastCheck.IsZero() || !now.Before(b.state.NextAt))
		},
		Take: b.snapshot,
		Next: func() time.Time { return b.state.NextAt },
		ContinueAsNew: func(ctx workflow.Context) error {
			st := b.state
			st.Triggered = b.triggered
			return workflow.NewContinueAsNewError(ctx, SchemaRegistryBackup, RunInput{Input: b.in, State: &st})
		},
	}
	return loop.Run(ctx)
}

// snapshot takes one snapshot and applies retention; failures land in the state.
func (b *backup) snapshot(ctx workflow.Context) {
	// Checks counts finished checks, retention included, so a status showing n checks has
	// their outcome: counted as the check returns, not between its snapshot and its pruning.
	defer func() { b.state.Checks++ }()
	now := workflow.Now(ctx)
	var res SnapshotResult
	err := workflow.ExecuteActivity(b.activityCtx(ctx), ActivitySnapshot,
		SnapshotInput{Connection: b.in.Connection, ID: SnapshotID(now, b.state.Checks+1), Time: now}).Get(ctx, &res)
	interval := max(b.in.Spec.Interval, time.Second)
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
		b.state.NextAt = now.Add(min(interval, workflows.RetryPause))
		return
	}
	b.state.Halted, b.state.HaltType, b.state.LastError = "", "", ""
	b.state.LastCheck = now
	b.state.LastSnapshot, b.state.Subjects, b.state.Versions = res.ID, res.Subjects, res.Versions
	b.state.Snapshots = len(res.Snapshots)
	b.state.NextAt = now.Add(interval)
	if drop := workflows.Drops(res.Snapshots, b.in.Spec.KeepLast, b.in.Spec.MaxAge, now); res.Stored && len(drop) > 0 {
		var pr PruneResult
		if err := workflow.ExecuteActivity(b.activityCtx(ctx), ActivityPrune, PruneInput{Connection: b.in.Connection, Drop: drop}).Get(ctx, &pr); err != nil {
			b.state.LastError = "retention: " + workflows.RootMessage(err) // the next stored snapshot tries again
			return
		}
		b.state.Snapshots -= len(drop)
	}
}

func (b *backup) activityCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Hour,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second,
			MaximumAttempts:        5,
			NonRetryableErrorTypes: []string{ErrInvalidSpec, ErrUnauthorized, ErrStorageAccessDenied}},
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
		if spec.Interval != b.in.Spec.Interval && !b.state.LastCheck.IsZero() {
			b.state.NextAt = b.state.LastCheck.Add(max(spec.Interval, time.Second))
		}
		b.in.Spec = spec
		b.clearHalt()
	}
}

// clearHalt lets a snapshot be tried again now, after a permanent error.
func (b *backup) clearHalt() {
	if b.state.Halted != "" {
		b.state.Halted, b.triggered = "", true
	}
}

func (b *backup) snapshotStatus() Status {
	s := Status{LastBackupTime: b.state.LastCheck, LastSnapshot: b.state.LastSnapshot, Snapshots: b.state.Snapshots,
		Subjects: b.state.Subjects, Versions: b.state.Versions, Checks: b.state.Checks, LastError: b.state.LastError}
	switch {
	case !b.in.Spec.Enabled:
		s.Phase, s.Reason = PhasePaused, ReasonPausedBySpec
	case b.state.Paused:
		s.Phase, s.Reason = PhasePaused, ReasonPausedBySignal
	case b.state.Halted != "":
		s.Phase, s.Reason = PhaseError, b.state.HaltType
	case b.state.LastError != "" && b.state.HaltType == ReasonRetrying:
		// A passing cause is not an Error: the backup runs (or is still initializing) and
		// says it is retrying, with the cause in lastError.
		s.Phase, s.Reason = PhaseRunning, ReasonRetrying
		if b.state.LastCheck.IsZero() {
			s.Phase = PhaseInitializing
		}
		s.NextSnapshot = b.state.NextAt
	case b.state.LastCheck.IsZero():
		s.Phase = PhaseInitializing
	default:
		s.Phase, s.NextSnapshot = PhaseRunning, b.state.NextAt
	}
	return s
}
