package kafka

import (
	"context"
	"encoding/binary"
	"slices"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"arkive.io/arkive/workflows/kafkabackup"
)

// A log cut back by an unclean leader election takes new records under the removed offsets.
// Once it has grown past the backup's next offset, offsets alone no longer show it (see
// capture.outOfRange); leader epochs do, as a consumer's truncation detection does (KIP-320):
// the catalog keeps the epoch of the batch holding the last record backed up, and a shard asks
// the source where that epoch ends in its log now. In a log that was not cut back it ends at or
// after the backup's next offset; before it, the log diverged there.

// epochWait bounds the epoch requests: they run while nothing heartbeats the shard (whose
// heartbeat timeout is 10 s), and a broker that does not answer in time only costs the check
// (franz-go would otherwise retry for longer).
const epochWait = 3 * time.Second

// epochClient is a shard's franz-go client for the epoch requests: made on first use (a shard
// with nothing to check or read makes none) and shared by the check when the shard starts and
// the reading when it ends.
type epochClient struct {
	cfg     *sarama.Config
	brokers []string
	cl      *kgo.Client
	err     error
}

func (e *epochClient) client() (*kgo.Client, error) {
	if e.cl == nil && e.err == nil {
		var opts []kgo.Opt
		if opts, e.err = franzOpts(e.cfg, e.brokers); e.err == nil {
			// Fetch before version 13 names topics rather than their ids.
			e.cl, e.err = kgo.NewClient(append(opts, kgo.MaxVersions(kversion.V2_8_0()))...)
		}
	}
	return e.cl, e.err
}

// start bounds an epoch request by epochWait and gives the client for it (nil without one:
// the request is then left out, which only costs the check).
func (e *epochClient) start(ctx context.Context) (context.Context, context.CancelFunc, *kgo.Client) {
	ctx, cancel := context.WithTimeout(ctx, epochWait)
	cl, err := e.client()
	if err != nil {
		return ctx, cancel, nil
	}
	return ctx, cancel, cl
}

func (e *epochClient) close() {
	if e.cl != nil {
		e.cl.Close()
	}
}

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
func markDiverged(ctx context.Context, epochs *epochClient, checks []epochCheck) {
	if len(checks) == 0 {
		return
	}
	ctx, cancel, client := epochs.start(ctx)
	defer cancel()
	if client == nil {
		return
	}
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

// epochHeader is how much of a record batch this reads: its header up to lastOffsetDelta
// (base offset 8, length 4, leader epoch 4, magic 1, CRC 4, attributes 2, last offset delta 4).
const epochHeader = 27

// readEpochs reads, for each finished capture that read records, the leader epoch of the
// source's batch holding the record before its next offset, or of the first batch after it (a
// compacted log may no longer hold that record: a later batch's epoch is no smaller, so it can
// only miss a truncation, never invent one). One fetch request per leader serves all of a
// shard's partitions, asking epochHeader bytes of each: the broker cuts a batch short at the
// limit, which is all this needs. A single-batch fetch per partition instead cost the
// 2,000-partition backup benchmark a fifth of its throughput (docs/benchmarks.md). Whatever is not answered gets no
// epoch (and so no epoch check next time).
func readEpochs(ctx context.Context, epochs *epochClient, results []kafkabackup.CaptureResult) {
	want := map[string]int{} // topic/partition → index in results
	var topics []string
	for i, r := range results {
		if r.Deleted || r.Truncated || r.Next <= r.Start || r.Next <= 0 {
			continue
		}
		if !slices.Contains(topics, r.Topic) {
			topics = append(topics, r.Topic)
		}
		want[tpKey(r.Topic, r.Partition)] = i
	}
	if len(want) == 0 {
		return
	}
	ctx, cancel, client := epochs.start(ctx)
	defer cancel()
	if client == nil {
		return
	}
	meta := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(t)
		meta.Topics = append(meta.Topics, mt)
	}
	mresp, err := meta.RequestWith(ctx, client)
	if err != nil {
		return
	}
	byLeader := map[int32]*kmsg.FetchRequest{}
	for _, t := range mresp.Topics {
		if t.Topic == nil {
			continue
		}
		for _, p := range t.Partitions {
			i, ok := want[tpKey(*t.Topic, p.Partition)]
			if !ok || p.ErrorCode != 0 || p.Leader < 0 {
				continue
			}
			req := byLeader[p.Leader]
			if req == nil {
				req = kmsg.NewPtrFetchRequest()
				req.ReplicaID, req.SessionEpoch, req.MinBytes, req.MaxWaitMillis = -1, -1, 1, 0
				req.MaxBytes = 0 // grows by epochHeader per partition (kmsg's default is the most there is)
				byLeader[p.Leader] = req
			}
			if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != *t.Topic {
				ft := kmsg.NewFetchRequestTopic()
				ft.Topic = *t.Topic
				req.Topics = append(req.Topics, ft)
			}
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes = p.Partition, results[i].Next-1, epochHeader
			fp.CurrentLeaderEpoch, fp.LastFetchedEpoch, fp.LogStartOffset = -1, -1, -1
			ft := &req.Topics[len(req.Topics)-1]
			ft.Partitions = append(ft.Partitions, fp)
			req.MaxBytes += epochHeader
		}
	}
	for leader, req := range byLeader {
		resp, err := client.Broker(int(leader)).Request(ctx, req)
		if err != nil {
			continue
		}
		for _, t := range resp.(*kmsg.FetchResponse).Topics {
			for _, p := range t.Partitions {
				i, ok := want[tpKey(t.Topic, p.Partition)]
				b := p.RecordBatches
				if !ok || p.ErrorCode != 0 || len(b) < epochHeader || b[16] != 2 { // magic 2: a record batch
					continue
				}
				base := int64(binary.BigEndian.Uint64(b[0:8]))
				epoch := int32(binary.BigEndian.Uint32(b[12:16]))
				last := base + int64(int32(binary.BigEndian.Uint32(b[23:27])))
				if next := results[i].Next; epoch >= 0 && last >= next-1 {
					results[i].Epoch = &kafkabackup.EpochMark{Next: next, Epoch: epoch}
				}
			}
		}
	}
}
