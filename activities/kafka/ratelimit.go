package kafka

import (
	"context"

	"golang.org/x/time/rate"

	"arkive.io/arkive/workflows/kafkabackup"
)

// throttle paces one activity's records to its share of a resource's rate limit. A nil
// throttle (no limit) lets everything through.
type throttle struct {
	bytes, records *rate.Limiter
}

// newThrottle builds the limiters for a limit; largest is the biggest single record, so one
// record never asks for more than a limiter's burst.
func newThrottle(l kafkabackup.RateLimit, largest int64) *throttle {
	if l.BytesPerSecond <= 0 && l.RecordsPerSecond <= 0 {
		return nil
	}
	t := &throttle{}
	if l.BytesPerSecond > 0 {
		t.bytes = rate.NewLimiter(rate.Limit(l.BytesPerSecond), int(max(l.BytesPerSecond, largest)))
	}
	if l.RecordsPerSecond > 0 {
		t.records = rate.NewLimiter(rate.Limit(l.RecordsPerSecond), int(max(l.RecordsPerSecond, 1)))
	}
	return t
}

// wait blocks until a record of n bytes may move.
func (t *throttle) wait(ctx context.Context, n int64) error {
	if t == nil {
		return nil
	}
	if t.records != nil {
		if err := t.records.Wait(ctx); err != nil {
			return err
		}
	}
	if t.bytes != nil {
		return t.bytes.WaitN(ctx, int(min(n, int64(t.bytes.Burst()))))
	}
	return nil
}
