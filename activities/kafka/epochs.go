package kafka

import (
	"context"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"arkive.io/arkive/workflows/kafkabackup"
)

// A log cut back by an unclean leader election takes new records under the removed offsets.
// Once it has grown past the backup's next offset, offsets alone no longer show it (see
// capture.outOfRange); leader epochs do, as a consumer's truncation detection does (KIP-320):
// the catalog keeps the epoch of the batch holding the last record backed up, and a shard asks
// the source where that epoch ends in its log now. In a log that was not cut back it ends at or
// after the backup's next offset; before it, the log diverged there.

// epochCheck is one partition to check: the capture it belongs to, and the catalog's epoch of
// the record before next.
type epochCheck struct {
	capture          *capture
	topic            string
	partition, epoch int32
	next             int64
}

// markDiverged asks the leaders, one OffsetForLeaderEpoch request each, where each check's
// epoch ends now, and marks the captures whose log diverged below their next offset. It never
// fails: without an answer (a broker before Kafka 2.3, a refusal) nothing is marked, and the
// captures' own checks of the log end still apply.
func markDiverged(ctx context.Context, cfg *sarama.Config, brokers []string, checks []epochCheck) {
	if len(checks) == 0 {
		return
	}
	opts, err := franzOpts(cfg, brokers)
	if err != nil {
		return
	}
	client, err := kgo.NewClient(opts...)
	if err != nil {
		return
	}
	defer client.Close()
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = -1
	byTopic := map[string]int{}
	for _, c := range checks {
		i, ok := byTopic[c.topic]
		if !ok {
			i = len(req.Topics)
			byTopic[c.topic] = i
			t := kmsg.NewOffsetForLeaderEpochRequestTopic()
			t.Topic = c.topic
			req.Topics = append(req.Topics, t)
		}
		p := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		p.Partition, p.CurrentLeaderEpoch, p.LeaderEpoch = c.partition, -1, c.epoch
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
	}
	resp, err := req.RequestWith(ctx, client)
	if err != nil {
		return
	}

	ends := map[string]int64{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			// An epoch older than the source still knows (its records went by retention)
			// answers -1: no verdict.
			if kerr.ErrorForCode(p.ErrorCode) == nil && p.EndOffset >= 0 {
				ends[tpKey(t.Topic, p.Partition)] = p.EndOffset
			}
		}
	}
	for _, c := range checks {
		if end, ok := ends[tpKey(c.topic, c.partition)]; ok && end < c.next {
			c.capture.diverged = &end
		}
	}
}

// epochBefore reads the leader epoch of the source's batch holding the record at next-1, or
// of the first batch after it (a compacted log may no longer hold it: a later batch's epoch is
// no smaller, so it can only miss a truncation, never invent one); nil when it cannot tell.
func (c *capture) epochBefore(next int64) *kafkabackup.EpochMark {
	if next <= 0 || c.client == nil {
		return nil
	}
	block, err := fetchOneBatch(c.client, c.in.Topic, c.in.Partition, next-1)
	if err != nil {
		return nil
	}
	for _, recs := range block.RecordsSet {
		if b := recs.RecordBatch; b != nil && b.FirstOffset+int64(b.LastOffsetDelta) >= next-1 && b.PartitionLeaderEpoch >= 0 {
			return &kafkabackup.EpochMark{Next: next, Epoch: b.PartitionLeaderEpoch}
		}
	}
	return nil
}
