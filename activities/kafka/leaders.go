package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// topicDeleted says whether err is the broker's answer for a topic it does not know and the
// topic is no longer listed: deleted since it was discovered. A topic being created is listed
// before its partitions answer, and a partition whose leader moves stays listed, so neither is
// taken for deleted. It asks for the metadata of every topic (one request), which only this
// rare answer costs.
func topicDeleted(client sarama.Client, topic string, err error) bool {
	if !errors.Is(err, sarama.ErrUnknownTopicOrPartition) || client == nil {
		return false
	}
	if client.RefreshMetadata() != nil {
		return false
	}
	topics, err := client.Topics()
	return err == nil && !slices.Contains(topics, topic)
}

// topicIDs asks for the topics' ids, in one metadata request, without creating any. Brokers
// before Kafka 2.8 answer none, and a topic deleted meanwhile is left out.
func topicIDs(client sarama.Client, topics []string) (map[string]string, error) {
	ids := map[string]string{}
	if len(topics) == 0 {
		return ids, nil
	}
	broker, err := client.Controller()
	if err != nil {
		return nil, err
	}
	req := sarama.NewMetadataRequest(client.Config().Version, topics)
	req.AllowAutoTopicCreation = false
	resp, err := broker.GetMetadata(req)
	if err != nil {
		return nil, fmt.Errorf("topic ids: %w", err)
	}
	for _, t := range resp.Topics {
		if t.Err == sarama.ErrNoError && t.Uuid != (sarama.Uuid{}) {
			ids[t.Name] = t.Uuid.String()
		}
	}
	return ids, nil
}
