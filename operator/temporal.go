package operator

import (
	"context"
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"k8s.io/apimachinery/pkg/runtime"
)

// eventRecorder is the events API recorder the manager hands out.
type eventRecorder interface {
	Eventf(regarding runtime.Object, related runtime.Object, eventtype, reason, action, note string, args ...any)
}

// temporalContext is the context of a reconcile's Temporal calls: bounded, but not cancelled
// when the reconcile's context is (an operator shutting down). A request cancelled half-way
// can wedge a dev server's SQLite store ("interrupted (9)"), and each call is short anyway.
func temporalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
}

// describe reads the state of a resource's workflow (its latest run).
func describe(ctx context.Context, c client.Client, id string) (WorkflowState, error) {
	resp, err := c.DescribeWorkflowExecution(ctx, id, "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return WorkflowAbsent, nil
	}
	if err != nil {
		return "", err
	}
	switch resp.GetWorkflowExecutionInfo().GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return WorkflowRunning, nil
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return WorkflowCompleted, nil
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return WorkflowTerminated, nil
	default: // failed, timed out
		return WorkflowFailed, nil
	}
}
