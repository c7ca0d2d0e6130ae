package zookeeperrestore

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

type fakeTarget struct {
	plan    Plan
	planErr error
	applied int
	result  ApplyResult
}

func (f *fakeTarget) planRestore(Input) (Plan, error) { return f.plan, f.planErr }
func (f *fakeTarget) apply(ApplyInput) (ApplyResult, error) {
	f.applied++
	return f.result, nil
}

func run(t *testing.T, f *fakeTarget, spec Spec) (Status, error) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(ZooKeeperRestore, workflow.RegisterOptions{Name: WorkflowName})
	env.RegisterActivityWithOptions(f.planRestore, activity.RegisterOptions{Name: ActivityPlan})
	env.RegisterActivityWithOptions(f.apply, activity.RegisterOptions{Name: ActivityApply})
	env.ExecuteWorkflow(ZooKeeperRestore, Input{Spec: spec})
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

// A dry run ends Ready with the plan and applies nothing; a plan with nothing to write ends
// Done (Unchanged); otherwise the apply runs once and its counts are the result; a refused plan
// (Fail's conflicts) fails with its type and applies nothing. Ephemeral nodes and a fuzzy
// snapshot are warned about.
func TestPlanThenApply(t *testing.T) {
	plan := Plan{Snapshot: "s1", Consistency: "fuzzy", Ephemeral: 2, Counts: Counts{Total: 5, Created: 3, Skipped: 2}, Diff: []string{"create /a"}}
	f := &fakeTarget{plan: plan}
	st, err := run(t, f, Spec{DryRun: true})
	require.NoError(t, err)
	require.Equal(t, PhaseReady, st.Phase)
	require.Equal(t, ReasonDryRun, st.Reason)
	require.Equal(t, []string{"create /a"}, st.Plan.Diff)
	require.Contains(t, st.Warning, "2 ephemeral nodes are not restored")
	require.Contains(t, st.Warning, "snapshot s1 is fuzzy")
	require.Zero(t, f.applied)

	f = &fakeTarget{plan: Plan{Snapshot: "s1", Consistency: "consistent", Counts: Counts{Total: 5, Unchanged: 5}}}
	st, err = run(t, f, Spec{})
	require.NoError(t, err)
	require.Equal(t, PhaseDone, st.Phase)
	require.Equal(t, ReasonUnchanged, st.Reason)
	require.Empty(t, st.Warning)
	require.Zero(t, f.applied)

	f = &fakeTarget{plan: plan, result: ApplyResult{Counts: Counts{Total: 5, Created: 3, Skipped: 2}, Sequences: 1}}
	st, err = run(t, f, Spec{})
	require.NoError(t, err)
	require.Equal(t, PhaseDone, st.Phase)
	require.Equal(t, 1, f.applied)
	require.Equal(t, 3, st.Counts.Created)

	f = &fakeTarget{planErr: temporal.NewNonRetryableApplicationError("policy Fail: 1 nodes exist", ErrConflict, nil)}
	st, err = run(t, f, Spec{Policy: PolicyFail})
	require.Error(t, err)
	require.Equal(t, PhaseFailed, st.Phase)
	require.Equal(t, ErrConflict, st.Reason)
	require.Contains(t, st.LastError, "policy Fail")
	require.Zero(t, f.applied)
}
