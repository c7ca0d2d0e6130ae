package operator

// WorkflowState is what Temporal says about a resource's workflow.
type WorkflowState string

const (
	WorkflowAbsent     WorkflowState = "Absent"     // never started (or deleted by retention)
	WorkflowRunning    WorkflowState = "Running"    // running (continue-as-new keeps it so)
	WorkflowCompleted  WorkflowState = "Completed"  // returned
	WorkflowFailed     WorkflowState = "Failed"     // failed or timed out
	WorkflowTerminated WorkflowState = "Terminated" // terminated or cancelled by someone
)

// Action is what a reconcile does to the workflow.
type Action string

const (
	ActionNone            Action = "None"
	ActionStart           Action = "Start"   // SignalWithStart: start, or hand a running one the spec
	ActionUpdate          Action = "Update"  // signal update with the new spec
	ActionRestart         Action = "Restart" // start again after it ended without being asked to
	ActionCancel          Action = "Cancel"  // the resource is being deleted
	ActionRelease         Action = "Release" // deleted after a terminated run: release what it kept
	ActionRemoveFinalizer Action = "RemoveFinalizer"
)

// Observed is everything the planner decides from.
type Observed struct {
	// Deleting: the resource has a deletion timestamp.
	Deleting bool
	// Generation of the spec and the one the workflow last received (status.observedGeneration).
	Generation, ObservedGeneration int64
	Workflow                       WorkflowState
	// RunsOnce: the kind's workflow finishes (restores); otherwise it runs for as long as the
	// resource exists (backups).
	RunsOnce bool
	// Kept: the kind keeps objects in the storage while its workflow runs (kinds.Work.Release),
	// and the last run was terminated by hand, so it did not release them.
	Kept bool
	// Releasing: the running run only releases them (started by ActionRelease).
	Releasing bool
}

// Plan decides the one action a reconcile takes. Pausing is not an action of its own: a spec
// with enabled: false reaches the workflow by the update signal, and the workflow pauses.
func Plan(o Observed) Action {
	if o.Deleting {
		switch {
		case o.Workflow == WorkflowRunning && o.Releasing:
			return ActionNone // the finalizer goes once it has released
		case o.Workflow == WorkflowRunning:
			return ActionCancel
		case o.Kept:
			return ActionRelease
		}
		return ActionRemoveFinalizer
	}
	specChanged := o.Generation != o.ObservedGeneration
	switch o.Workflow {
	case WorkflowAbsent:
		return ActionStart
	case WorkflowRunning:
		if specChanged && !o.RunsOnce {
			return ActionUpdate
		}
		return ActionNone // a running restore keeps the spec it started with
	case WorkflowCompleted, WorkflowFailed:
		if o.RunsOnce {
			if specChanged {
				return ActionStart // a corrected restore runs again
			}
			return ActionNone // Done, or Failed with the reason in the status
		}
		return ActionRestart // a backup never ends on its own
	case WorkflowTerminated:
		if o.RunsOnce {
			if specChanged {
				return ActionStart
			}
			return ActionNone // reported; restarting would write into a half-restored target
		}
		return ActionRestart // terminated by hand: start again; it continues from the manifest
	}
	return ActionNone
}
