package operator

import (
	"context"
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"k8s.io/apimachinery/pkg/runtime"

	"arkive.io/arkive/internal/kinds"
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

// run is what describe reads of a resource's workflow (its latest run).
type run struct {
	State WorkflowState
	// Kept: the run was terminated (or timed out), so it released nothing it kept in the
	// storage. Releasing: the run was started only to release that (kinds.ReleaseMemo).
	Kept, Releasing bool
}

// describe reads the state of a resource's workflow (its latest run).
func describe(ctx context.Context, c client.Client, id string) (run, error) {
	resp, err := c.DescribeWorkflowExecution(ctx, id, "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return run{State: WorkflowAbsent}, nil
	}
	if err != nil {
		return run{}, err
	}
	info := resp.GetWorkflowExecutionInfo()
	_, releasing := info.GetMemo().GetFields()[kinds.ReleaseMemo]
	r := run{Releasing: releasing}
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		r.State = WorkflowRunning
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		r.State = WorkflowCompleted
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		r.State, r.Kept = WorkflowTerminated, true
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		r.State = WorkflowTerminated
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		r.State, r.Kept = WorkflowFailed, true
	default: // failed
		r.State = WorkflowFailed
	}
	return r, nil
}
