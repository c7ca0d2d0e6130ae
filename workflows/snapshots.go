package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// SnapshotLoop is the loop of the backups that take whole snapshots (SchemaRegistryBackup,
// ResourceBackup): apply what signals arrived; stop when cancelled; continue as new before the
// history grows long; wait while disabled or paused; take a snapshot when triggered or due;
// sleep until the next one (or, halted on a permanent error, until a signal). Each kind says
// when a snapshot is due and what taking one does.
type SnapshotLoop struct {
	Sig *Signals
	// Triggered is the kind's trigger flag (its OnTrigger sets it); the loop clears it when it
	// takes the snapshot.
	Triggered *bool
	// Active: enabled by the spec and not paused by a signal.
	Active func() bool
	// Halted: a permanent error waits for a signal.
	Halted func() bool
	// Due says a snapshot is due at now without a trigger.
	Due func(now time.Time) bool
	// Take takes one snapshot (failures land in the kind's state).
	Take func(ctx workflow.Context)
	// Next is when the next snapshot is due (zero: only a trigger).
	Next func() time.Time
	// ContinueAsNew returns the kind's continue-as-new error, carrying its state.
	ContinueAsNew func(ctx workflow.Context) error
}

// continueAfterEvents bounds a run's history well below Temporal's 10k-event warning.
const continueAfterEvents = 2000

// Run runs the loop until the workflow is cancelled (nil) or continues as new.
func (l *SnapshotLoop) Run(ctx workflow.Context) error {
	for {
		l.Sig.Drain(ctx)
		if ctx.Err() != nil {
			return nil // cancelled (the resource was deleted): stop cleanly
		}
		if workflow.GetInfo(ctx).GetCurrentHistoryLength() > continueAfterEvents {
			return l.ContinueAsNew(ctx)
		}
		if !l.Active() {
			l.Sig.Wait(ctx)
			continue
		}
		if *l.Triggered || l.Due(workflow.Now(ctx)) {
			*l.Triggered = false
			l.Take(ctx)
		}
		wake := l.Next()
		if l.Halted() {
			wake = time.Time{} // only a signal brings it back
		}
		l.Sig.WaitUntil(ctx, wake)
	}
}
