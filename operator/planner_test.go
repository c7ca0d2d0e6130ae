package operator

import "testing"

func TestPlan(t *testing.T) {
	for name, tc := range map[string]struct {
		o    Observed
		want Action
	}{
		"new backup starts":                     {Observed{Generation: 1, Workflow: WorkflowAbsent}, ActionStart},
		"running backup, same spec":             {Observed{Generation: 3, ObservedGeneration: 3, Workflow: WorkflowRunning}, ActionNone},
		"running backup, new spec":              {Observed{Generation: 4, ObservedGeneration: 3, Workflow: WorkflowRunning}, ActionUpdate},
		"backup terminated by hand":             {Observed{Generation: 1, ObservedGeneration: 1, Workflow: WorkflowTerminated}, ActionRestart},
		"backup failed":                         {Observed{Generation: 1, ObservedGeneration: 1, Workflow: WorkflowFailed}, ActionRestart},
		"backup completed":                      {Observed{Generation: 1, ObservedGeneration: 1, Workflow: WorkflowCompleted}, ActionRestart},
		"deleting, running":                     {Observed{Deleting: true, Workflow: WorkflowRunning}, ActionCancel},
		"deleting, closed":                      {Observed{Deleting: true, Workflow: WorkflowTerminated}, ActionRemoveFinalizer},
		"deleting, never started":               {Observed{Deleting: true, Workflow: WorkflowAbsent}, ActionRemoveFinalizer},
		"new restore starts":                    {Observed{Generation: 1, Workflow: WorkflowAbsent, RunsOnce: true}, ActionStart},
		"running restore ignores a spec change": {Observed{Generation: 2, ObservedGeneration: 1, Workflow: WorkflowRunning, RunsOnce: true}, ActionNone},
		"restore done":                          {Observed{Generation: 1, ObservedGeneration: 1, Workflow: WorkflowCompleted, RunsOnce: true}, ActionNone},
		"restore failed, unchanged":             {Observed{Generation: 1, ObservedGeneration: 1, Workflow: WorkflowFailed, RunsOnce: true}, ActionNone},
		"restore failed, corrected":             {Observed{Generation: 2, ObservedGeneration: 1, Workflow: WorkflowFailed, RunsOnce: true}, ActionStart},
		"restore terminated, unchanged":         {Observed{Generation: 1, ObservedGeneration: 1, Workflow: WorkflowTerminated, RunsOnce: true}, ActionNone},
		"deleting restore, running":             {Observed{Deleting: true, Workflow: WorkflowRunning, RunsOnce: true}, ActionCancel},
		"deleting restore, cancelled":           {Observed{Deleting: true, Workflow: WorkflowTerminated, RunsOnce: true}, ActionRemoveFinalizer},
		"deleting restore terminated by hand":   {Observed{Deleting: true, Workflow: WorkflowTerminated, RunsOnce: true, Kept: true}, ActionRelease},
		"deleting restore, releasing":           {Observed{Deleting: true, Workflow: WorkflowRunning, RunsOnce: true, Releasing: true}, ActionNone},
		"deleting restore, released":            {Observed{Deleting: true, Workflow: WorkflowCompleted, RunsOnce: true}, ActionRemoveFinalizer},
		"restore terminated, not deleted":       {Observed{Generation: 1, ObservedGeneration: 1, Workflow: WorkflowTerminated, RunsOnce: true, Kept: true}, ActionNone},
	} {
		if got := Plan(tc.o); got != tc.want {
			t.Errorf("%s: Plan(%+v) = %s, want %s", name, tc.o, got, tc.want)
		}
	}
}
