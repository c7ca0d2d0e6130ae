package workflows

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// NextTick is the first time after now that the cron schedule names. Parsing may read the time
// zone database (CRON_TZ=), so it runs as a side effect whose result the history records; a
// schedule that does not parse is an InvalidSpec error naming field.
func NextTick(ctx workflow.Context, field, schedule string, now time.Time) (time.Time, error) {
	type tick struct {
		Next time.Time
		Err  string
	}
	var t tick
	if err := workflow.SideEffect(ctx, func(workflow.Context) any {
		s, err := cron.ParseStandard(schedule)
		if err != nil {
			return tick{Err: err.Error()}
		}
		return tick{Next: s.Next(now)}
	}).Get(&t); err != nil {
		return time.Time{}, err
	}
	if t.Err != "" {
		return time.Time{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s %q: %s", field, schedule, t.Err), ErrInvalidSpec, nil)
	}
	return t.Next, nil
}
