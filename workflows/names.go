package workflows

import (
	"errors"
	"strings"

	"go.temporal.io/sdk/temporal"
)

// DefaultTaskQueue is the task queue workers poll unless configured otherwise.
const DefaultTaskQueue = "arkive"

// Signal and query names, the same on every kind (DESIGN.md §4).
const (
	SignalPause   = "pause"
	SignalResume  = "resume"
	SignalTrigger = "trigger"
	SignalUpdate  = "update"
	QueryStatus   = "status"
)

// WorkflowID is the deterministic id of the workflow that runs a resource:
// arkive/<kind-lowercase>/<namespace>/<name>.
func WorkflowID(kind, namespace, name string) string {
	return "arkive/" + strings.ToLower(kind) + "/" + namespace + "/" + name
}

// RootMessage is the innermost error message: the cause, without Temporal's wrapping (nor the
// "(type: …, retryable: …)" an ApplicationError adds). Status queries show it as lastError.
func RootMessage(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			var appErr *temporal.ApplicationError
			if errors.As(err, &appErr) {
				return appErr.Message()
			}
			return err.Error()
		}
		err = next
	}
}
