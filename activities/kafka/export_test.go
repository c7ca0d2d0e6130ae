package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"arkive.io/arkive/workflows/kafkabackup"
)

// HoldCaptures counts n partitions as being captured by a, as other shards on a busy worker
// would, until release is called.
func HoldCaptures(a *Activities, n int) (release func()) { return a.countCapture(n) }

// AsRetry makes a's CaptureShard calls run as a second attempt of an activity scheduled at
// scheduled, as a worker that takes over a dead worker's shard does.
func AsRetry(a *Activities, scheduled time.Time) {
	a.attempt = func() (int32, time.Time) { return 2, scheduled }
}

// TruncatedAt is a capture's reading of an offset-out-of-range answer at pos: the partition's
// log end when the log ends below pos (truncated), -1 when it does not.
func TruncatedAt(ctx context.Context, client sarama.Client, topic string, partition int32, pos int64) int64 {
	c := &capture{client: client, in: kafkabackup.CaptureInput{Topic: topic, Partition: partition}, pos: pos}
	var t *truncatedLog
	if errors.As(c.outOfRange(ctx, fmt.Errorf("fetch: %w", sarama.ErrOffsetOutOfRange)), &t) {
		return t.end
	}
	return -1
}

// SetInlineShardBytes sets how large a discovery's shards may be inline until the test ends.
func SetInlineShardBytes(t interface{ Cleanup(func()) }, n int) {
	old := inlineShardBytes
	inlineShardBytes = n
	t.Cleanup(func() { inlineShardBytes = old })
}

// SetCreateRecords sets how many metadata records a preflight's topic creation puts in one
// request until the test ends.
func SetCreateRecords(t interface{ Cleanup(func()) }, n int) {
	old := maxCreateRecords
	maxCreateRecords = n
	t.Cleanup(func() { maxCreateRecords = old })
}
