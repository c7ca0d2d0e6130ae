package kafka

import (
	"context"
	"errors"
	"time"

	"github.com/IBM/sarama"
)

// leaderWait is how long a capture, a discovery or a restore stream waits for a partition's
// leader to answer.
const leaderWait = 30 * time.Second

// offsetOnceServed is client.GetOffset, asked again for up to leaderWait while the partition's
// leader is moving or not yet set up (a topic created a moment ago, a broker restarting):
// sarama asks once more after a metadata refresh, which is too soon, and classify would take
// UnknownTopicOrPartition for a deleted topic.
func offsetOnceServed(ctx context.Context, client sarama.Client, topic string, partition int32, at int64) (int64, error) {
	deadline := time.Now().Add(leaderWait)
	wait := 50 * time.Millisecond
	for {
		off, err := client.GetOffset(topic, partition, at)
		if err == nil || !leaderMoving(err) || time.Now().Add(wait).After(deadline) {
			return off, err
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second) // backoff
	}
}

// leaderMoving says a partition's leader cannot answer yet but will: the answers of a broker
// setting a partition up or handing its leadership over.
func leaderMoving(err error) bool {
	for _, moving := range []error{sarama.ErrNotLeaderForPartition, sarama.ErrLeaderNotAvailable, sarama.ErrUnknownTopicOrPartition,
		sarama.ErrReplicaNotAvailable, sarama.ErrOffsetNotAvailable} {
		if errors.Is(err, moving) {
			return true
		}
	}
	return false
}
