package schemarestore

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

type fakeTarget struct {
	setFails  bool // the IMPORT mode is applied, but the activity fails
	mode      string
	modes     []string // every mode set, in order
	plan      Plan
	importErr error
	imported  int
}

func (f *fakeTarget) env() *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(SchemaRegistryRestore, workflow.RegisterOptions{Name: WorkflowName})
	env.RegisterActivityWithOptions(func(PlanInput) (Plan, error) { return f.plan, nil }, activity.RegisterOptions{Name: ActivityPlan})
	env.RegisterActivityWithOptions(func(in ModeInput) (ModeResult, error) {
		prev := f.mode
		f.mode = in.Mode
		f.modes = append(f.modes, in.Mode)
		if f.setFails && in.Mode == ModeImport {
			return ModeResult{}, temporal.NewNonRetryableApplicationError("answer lost", "Lost", nil)
		}
		return ModeResult{Previous: prev}, nil
	}, activity.RegisterOptions{Name: ActivitySetMode})
	env.RegisterActivityWithOptions(func(ImportInput) (ImportResult, error) {
		f.imported++
		return ImportResult{ImportProgress: ImportProgress{Registered: f.plan.Register}, Subjects: f.plan.Subjects}, f.importErr
	}, activity.RegisterOptions{Name: ActivityImport})
	return env
}

func TestPreviousModeIsPutBackAfterImport(t *testing.T) {
	for name, tc := range map[string]struct {
		importErr error
		setFails  bool
		phase     string
	}{
		"success":               {phase: PhaseDone},
		"failure":               {importErr: temporal.NewNonRetryableApplicationError("register s version 1: HTTP 422", "Rejected", nil), phase: PhaseFailed},
		"mode set, answer lost": {setFails: true, phase: PhaseFailed},
	} {
		t.Run(name, func(t *testing.T) {
			f := &fakeTarget{mode: "READONLY", plan: Plan{Snapshot: "s1", Subjects: 2, Versions: 3, Register: 3, CurrentMode: "READONLY"},
				importErr: tc.importErr, setFails: tc.setFails}
			env := f.env()
			env.ExecuteWorkflow(SchemaRegistryRestore, Input{})
			var st Status
			if tc.phase == PhaseFailed {
				require.Error(t, env.GetWorkflowError())
				v, err := env.QueryWorkflow("status")
				require.NoError(t, err)
				require.NoError(t, v.Get(&st))
				if tc.importErr != nil {
					require.Equal(t, "register s version 1: HTTP 422", st.LastError)
				} else {
					require.Zero(t, f.imported, "no import without IMPORT mode")
				}
			} else {
				require.NoError(t, env.GetWorkflowResult(&st))
				require.Equal(t, 3, st.VersionsRestored)
			}
			require.Equal(t, tc.phase, st.Phase)
			require.Equal(t, []string{ModeImport, "READONLY"}, f.modes, "IMPORT for the import, then the mode it had")
			require.Equal(t, "READONLY", f.mode)
		})
	}
}

func TestNothingToChangeTouchesNothing(t *testing.T) {
	f := &fakeTarget{mode: "READWRITE", plan: Plan{Snapshot: "s1", Subjects: 2, Versions: 3, CurrentMode: "READWRITE"}}
	env := f.env()
	env.ExecuteWorkflow(SchemaRegistryRestore, Input{})
	var st Status
	require.NoError(t, env.GetWorkflowResult(&st))
	require.Equal(t, PhaseDone, st.Phase)
	require.Equal(t, ReasonUnchanged, st.Reason)
	require.Empty(t, f.modes)
	require.Zero(t, f.imported)

	f = &fakeTarget{mode: "READWRITE", plan: Plan{Register: 4, Diff: []string{"+ a version 1 (id 1, AVRO)"}}}
	env = f.env()
	env.ExecuteWorkflow(SchemaRegistryRestore, Input{Spec: Spec{DryRun: true}})
	require.NoError(t, env.GetWorkflowResult(&st))
	require.Equal(t, PhaseReady, st.Phase)
	require.Equal(t, ReasonDryRun, st.Reason)
	require.Equal(t, []string{"+ a version 1 (id 1, AVRO)"}, st.Plan.Diff)
	require.Empty(t, f.modes, "a dry run writes nothing")
	require.Zero(t, f.imported)
}
