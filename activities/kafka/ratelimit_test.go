package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"arkive.io/arkive/workflows/kafkabackup"
)

// The throttle lets the burst through and refuses a record that would have to wait past the
// caller's deadline (rate.Limiter knows this without sleeping); no limit means no throttle.
func TestThrottle(t *testing.T) {
	require.Nil(t, newThrottle(kafkabackup.RateLimit{}, 100))
	require.NoError(t, (*throttle)(nil).wait(context.Background(), 1<<30))

	records := newThrottle(kafkabackup.RateLimit{RecordsPerSecond: 1}, 100)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, records.wait(ctx, 10), "the first record is within the burst")
	short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	require.Error(t, records.wait(short, 10), "the second must wait a second: more than the deadline allows")

	bytes := newThrottle(kafkabackup.RateLimit{BytesPerSecond: 1000}, 5000)
	require.Equal(t, 5000, bytes.bytes.Burst(), "a record larger than a second's bytes still fits the burst")
	require.NoError(t, bytes.wait(ctx, 5000))
	require.Error(t, bytes.wait(short, 1000), "the bucket is empty after a 5000-byte record")
}
