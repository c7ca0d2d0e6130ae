package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// RetryPause is how long a workflow waits after an activity gave up on a passing cause (its
// retry policy ran out) before it tries again: long enough not to hammer a broken source, short
// enough that a recovered one is picked up soon.
const RetryPause = 30 * time.Second

// Permanent returns err's ApplicationError when it is non-retryable: a cause a person must fix
// (bad spec, credentials, a missing backup), which no retry cures.
func Permanent(err error) (*temporal.ApplicationError, bool) {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NonRetryable() {
		return appErr, true
	}
	return nil, false
}

// Attempt runs fn until it succeeds, fails for good (Permanent) or the workflow is cancelled.
// After a passing failure it calls retrying with the cause (for the status) and waits
// RetryPause; a signal ends the wait early and is applied.
func (s *Signals) Attempt(ctx workflow.Context, fn func() error, retrying func(cause string)) error {
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if _, permanent := Permanent(err); permanent || ctx.Err() != nil {
			return err
		}
		retrying(RootMessage(err))
		s.Sleep(ctx, RetryPause)
	}
}
