package resourcerestore

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// fakeTarget answers the plan with steps and records the order in which steps are applied.
type fakeTarget struct {
	plan    Plan
	planErr error
	applied []string
	results map[string]ApplyResult
}

func (f *fakeTarget) planRestore(Input) (Plan, error) { return f.plan, f.planErr }

func (f *fakeTarget) apply(in ApplyInput) (ApplyResult, error) {
	f.applied = append(f.applied, in.Step)
	return f.results[in.Step], nil
}

func run(t *testing.T, f *fakeTarget, spec Spec) (Status, error) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(ResourceRestore, workflow.RegisterOptions{Name: WorkflowName})
	env.RegisterActivityWithOptions(f.planRestore, activity.RegisterOptions{Name: ActivityPlan})
	env.RegisterActivityWithOptions(f.apply, activity.RegisterOptions{Name: ActivityApply})
	env.ExecuteWorkflow(ResourceRestore, Input{Spec: spec})
	require.True(t, env.IsWorkflowCompleted())
	var st Status
	err := env.GetWorkflowError()
	if err == nil {
		require.NoError(t, env.GetWorkflowResult(&st))
	} else {
		v, qerr := env.QueryWorkflow("status")
		require.NoError(t, qerr)
		require.NoError(t, v.Get(&st))
	}
	return st, err
}

var steps = []Step{{Name: "0-namespaces", Objects: 1}, {Name: "1-crds", Objects: 1}, {Name: "3-config", Objects: 3}, {Name: "6-custom-resources", Objects: 2}}

// The steps are applied in the plan's order, one after another; counts add up, and a failed
// object makes the restore Failed (PartiallyFailed) after every step ran, with the failures
// listed first.
func TestStepsInOrderAndPartialFailure(t *testing.T) {
	f := &fakeTarget{plan: Plan{Snapshot: "s1", Steps: steps, Counts: Counts{Total: 7, Created: 7}}, results: map[string]ApplyResult{
		"0-namespaces": {Counts: Counts{Total: 1, Created: 1}},
		"1-crds":       {Counts: Counts{Total: 1, Created: 1}},
		"3-config": {Counts: Counts{Total: 3, Created: 2, Skipped: 1},
			Objects: []ObjectResult{{Object: "Secret ns/token", Result: ResultSkipped, Reason: "a ServiceAccount token Secret"}}},
		"6-custom-resources": {Counts: Counts{Total: 2, Created: 1, Failed: 1},
			Objects: []ObjectResult{{Object: "Kafka.kafka.strimzi.io ns/prod", Result: ResultFailed, Reason: "invalid"}}},
	}}
	st, err := run(t, f, Spec{ConflictPolicy: ConflictSkip})
	require.NoError(t, err)
	require.Equal(t, []string{"0-namespaces", "1-crds", "3-config", "6-custom-resources"}, f.applied)
	require.Equal(t, PhaseFailed, st.Phase)
	require.Equal(t, ReasonPartiallyFailed, st.Reason)
	require.Equal(t, Counts{Total: 7, Created: 5, Skipped: 1, Failed: 1}, st.Counts)
	require.Equal(t, ResultFailed, st.Objects[0].Result, "failures first")
	require.Len(t, st.Objects, 2)
}

// A dry run plans and writes nothing; a plan with nothing to write is Done (Unchanged) without
// a step; a failed plan (a conflict under Fail) is Failed with its reason and no step.
func TestDryRunUnchangedAndConflict(t *testing.T) {
	f := &fakeTarget{plan: Plan{Snapshot: "s1", Steps: steps, Counts: Counts{Total: 7, Created: 2, Unchanged: 5}, Diff: []string{"create Secret ns/a"}}}
	st, err := run(t, f, Spec{DryRun: true})
	require.NoError(t, err)
	require.Equal(t, PhaseReady, st.Phase)
	require.Equal(t, ReasonDryRun, st.Reason)
	require.Empty(t, f.applied)

	f = &fakeTarget{plan: Plan{Snapshot: "s1", Steps: steps, Counts: Counts{Total: 7, Unchanged: 7}}}
	st, err = run(t, f, Spec{})
	require.NoError(t, err)
	require.Equal(t, PhaseDone, st.Phase)
	require.Equal(t, ReasonUnchanged, st.Reason)
	require.Empty(t, f.applied)

	f = &fakeTarget{planErr: temporal.NewNonRetryableApplicationError("spec.conflictPolicy is Fail and 1 objects exist with other content", ErrConflict, nil)}
	st, err = run(t, f, Spec{ConflictPolicy: ConflictFail})
	require.Error(t, err)
	require.Equal(t, PhaseFailed, st.Phase)
	require.Equal(t, ErrConflict, st.Reason)
	require.Contains(t, st.LastError, "conflictPolicy is Fail")
	require.Empty(t, f.applied)
}
