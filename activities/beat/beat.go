package beat

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
)

// Every is how often Start heartbeats when the activity sets no heartbeat timeout; with one, it
// beats three times per timeout, so one late beat is not a timeout.
const Every = 5 * time.Second

// Start heartbeats details() (nil: no details) until stop is called or ctx ends. Outside an
// activity (a test or the CLI calling the same code) it does nothing.
func Start(ctx context.Context, details func() any) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	every := Every
	if t := activity.GetInfo(ctx).HeartbeatTimeout; t > 0 {
		every = min(every, t/3)
	}
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if details == nil {
					activity.RecordHeartbeat(ctx)
				} else {
					activity.RecordHeartbeat(ctx, details())
				}
			}
		}
	}()
	// Once stop returns no heartbeat is being sent: the caller may change what details reads.
	return func() { close(done); <-exited }
}
