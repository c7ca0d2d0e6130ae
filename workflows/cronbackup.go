package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"arkive.io/arkive/api/status"
)

// CronSpec is what a cron snapshot backup's spec says about when to take snapshots and which
// to keep.
type CronSpec struct {
	Enabled  bool
	Schedule string // a cron expression; empty: one snapshot at start, then one per trigger
	KeepLast int
	MaxAge   time.Duration
}

// CronState is the state of a cron snapshot backup that survives continue-as-new. Kinds embed
// it in their State (JSON flattens it, so histories keep their shape).
type CronState struct {
	Paused       bool      `json:"paused,omitempty"`
	LastBackup   time.Time `json:"lastBackup,omitzero"`
	LastSnapshot string    `json:"lastSnapshot,omitempty"`
	Snapshots    int       `json:"snapshots,omitempty"`
	Runs         int       `json:"runs,omitempty"`
	// NextAt is the next scheduled snapshot (zero: none until a trigger).
	NextAt time.Time `json:"nextAt,omitzero"`
	// Halted holds a permanent error: nothing is tried until a trigger, resume or new spec.
	Halted    string `json:"halted,omitempty"`
	HaltType  string `json:"haltType,omitempty"`
	LastError string `json:"lastError,omitempty"`
	Warning   string `json:"warning,omitempty"`
	Triggered bool   `json:"triggered,omitempty"`
	// Triggers are the ids of the last trigger signals applied (Signals.Triggers).
	Triggers []string `json:"triggers,omitempty"`
}

// CronBackup runs a backup that takes whole snapshots (ResourceBackup, ZooKeeperBackup): one at
// start, then one on each cron tick of its schedule (or, without one, on each trigger signal),
// with retention after each. Phases: Paused (spec.enabled false or a pause signal),
// Initializing (before the first snapshot), Running, Error (with the cause; only a trigger,
// resume or new spec tries again). The kind says how to take and prune snapshots.
type CronBackup struct {
	State *CronState
	Sig   *Signals
	// Spec is the kind's spec as it is now (an update signal may change it).
	Spec func() CronSpec
	// Take runs the kind's snapshot activity for id at now and records the kind's own result
	// fields; it returns the backup's snapshots afterwards and the run's warning.
	Take func(ctx workflow.Context, id string, now time.Time) ([]SnapshotInfo, string, error)
	// Prune runs the kind's prune activity.
	Prune func(ctx workflow.Context, drop []string) error
	// Update receives an update signal's spec and applies it to the kind.
	Update func(ctx workflow.Context, c workflow.ReceiveChannel)
	// ContinueAsNew returns the kind's continue-as-new error, carrying its state (whose
	// CronState.Triggered the backup has set).
	ContinueAsNew func(ctx workflow.Context) error

	triggered bool
}

// Run handles the signals and runs the snapshot loop until the workflow is cancelled or
// continues as new.
func (b *CronBackup) Run(ctx workflow.Context) error {
	b.handleSignals()
	b.Sig.Triggers = &b.State.Triggers
	b.triggered, b.State.Triggered = b.State.Triggered, false
	loop := SnapshotLoop{Sig: b.Sig, Triggered: &b.triggered,
		Active: func() bool { return b.Spec().Enabled && !b.State.Paused },
		Halted: func() bool { return b.State.Halted != "" },
		Due: func(now time.Time) bool {
			// The first snapshot at start; then on each tick (no tick without a schedule).
			return b.State.Halted == "" && (b.State.Runs == 0 || (!b.State.NextAt.IsZero() && !now.Before(b.State.NextAt)))
		},
		Take: func(ctx workflow.Context) {
			b.snapshot(ctx)
			if err := b.schedule(ctx); err != nil {
				b.State.LastError = RootMessage(err)
				b.State.Halted, b.State.HaltType = b.State.LastError, ErrInvalidSpec
			}
		},
		Next: func() time.Time { return b.State.NextAt },
		ContinueAsNew: func(ctx workflow.Context) error {
			b.State.Triggered = b.triggered
			return b.ContinueAsNew(ctx)
		},
	}
	return loop.Run(ctx)
}

// schedule sets the next snapshot time: the next cron tick after now, none without a schedule,
// and soon again after a passing failure.
func (b *CronBackup) schedule(ctx workflow.Context) error {
	now := workflow.Now(ctx)
	retry := time.Time{}
	if b.State.HaltType == status.Retrying && b.State.Halted == "" && b.State.LastError != "" {
		retry = now.Add(RetryPause)
	}
	next := time.Time{}
	if s := b.Spec().Schedule; s != "" {
		var err error
		if next, err = NextTick(ctx, "spec.schedule", s, now); err != nil {
			return err
		}
	}
	if !retry.IsZero() && (next.IsZero() || retry.Before(next)) {
		next = retry
	}
	b.State.NextAt = next
	return nil
}

// snapshot takes one snapshot and applies retention; failures land in the state.
func (b *CronBackup) snapshot(ctx workflow.Context) {
	now := workflow.Now(ctx)
	id := SnapshotID(now, b.State.Runs+1)
	snaps, warning, err := b.Take(ctx, id, now)
	b.State.Runs++
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		b.State.LastError = RootMessage(err)
		if appErr, permanent := Permanent(err); permanent {
			b.State.Halted, b.State.HaltType = b.State.LastError, appErr.Type()
			return
		}
		b.State.HaltType = status.Retrying
		return
	}
	b.State.Halted, b.State.HaltType, b.State.LastError = "", "", ""
	b.State.LastBackup, b.State.LastSnapshot, b.State.Warning = now, id, warning
	b.State.Snapshots = len(snaps)
	spec := b.Spec()
	if drop := Drops(snaps, spec.KeepLast, spec.MaxAge, now); len(drop) > 0 {
		if err := b.Prune(ctx, drop); err != nil {
			b.State.LastError = "retention: " + RootMessage(err) // the next snapshot tries again
			return
		}
		b.State.Snapshots -= len(drop)
	}
}

// handleSignals says what each signal does to the backup.
func (b *CronBackup) handleSignals() {
	b.Sig.OnPause = func() { b.State.Paused = true }
	b.Sig.OnResume = func() {
		b.State.Paused = false
		b.clearHalt()
	}
	b.Sig.OnTrigger = func() {
		b.triggered = true
		b.clearHalt()
	}
	b.Sig.OnUpdate = func(ctx workflow.Context, c workflow.ReceiveChannel) {
		before := b.Spec()
		b.Update(ctx, c)
		after := b.Spec()
		if after.Enabled && !before.Enabled {
			b.State.Paused = false // enabling a backup resumes it, whatever paused it
		}
		if after.Schedule != before.Schedule && b.State.Runs > 0 && b.State.Halted == "" {
			if err := b.schedule(ctx); err != nil {
				b.State.LastError = RootMessage(err)
				b.State.Halted, b.State.HaltType = b.State.LastError, ErrInvalidSpec
			}
		}
		b.clearHalt()
	}
}

// clearHalt lets a snapshot be tried again now, after a permanent error.
func (b *CronBackup) clearHalt() {
	if b.State.Halted != "" {
		b.State.Halted, b.triggered = "", true
	}
}

// Phase is the backup's phase and reason, and when the next snapshot is due (zero: none).
func (b *CronBackup) Phase() (phase, reason string, next time.Time) {
	st, next := b.State, b.State.NextAt
	switch {
	case !b.Spec().Enabled:
		return status.Paused, status.PausedBySpec, next
	case st.Paused:
		return status.Paused, status.PausedBySignal, next
	case st.Halted != "":
		return status.Error, st.HaltType, time.Time{}
	case st.LastError != "" && st.HaltType == status.Retrying:
		if st.LastBackup.IsZero() {
			return status.Initializing, status.Retrying, next
		}
		return status.Running, status.Retrying, next
	case st.LastBackup.IsZero():
		return status.Initializing, "", next
	case st.NextAt.IsZero():
		return status.Running, status.WaitingForTrigger, next
	default:
		return status.Running, status.WaitingForSchedule, next
	}
}
