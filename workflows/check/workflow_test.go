package check

import (
	"testing"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

func TestCheckConnectionReportsInvalidSpecWithoutRetrying(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	calls := 0
	env.RegisterActivityWithOptions(func(Input) (Result, error) { return Result{}, nil }, activityName(ActivityCheckKafka))
	env.OnActivity(ActivityCheckKafka, mock.Anything, mock.Anything).Return(func(Input) (Result, error) {
		calls++
		return Result{}, temporal.NewNonRetryableApplicationError("spec.sasl: required", ErrInvalidSpec, nil)
	})
	env.ExecuteWorkflow(CheckConnection, Input{Kind: KindKafkaCluster, Namespace: "ns", Name: "k"})
	require.NoError(t, env.GetWorkflowError())
	var res Result
	require.NoError(t, env.GetWorkflowResult(&res))
	require.False(t, res.OK)
	require.Equal(t, "spec.sasl: required", res.Message)
	require.Equal(t, 1, calls, "an invalid spec must not be retried")
}

func TestCheckConnectionRejectsUnknownKind(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.ExecuteWorkflow(CheckConnection, Input{Kind: "Printer"})
	var res Result
	require.NoError(t, env.GetWorkflowResult(&res))
	require.False(t, res.OK)
	require.Contains(t, res.Message, "unknown kind Printer")
}
