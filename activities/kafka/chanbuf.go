package kafka

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// A shard's consumer buffers each partition's messages in a channel of ChannelBufferSize
// messages, and sarama asks a broker for its partitions again only once every partition's
// consumer has taken all but that many of the last answer. With sarama's 256, a capture busy
// compressing held up the next fetch of every partition in the shard; a buffer that holds about
// a fetch's records let the captures of 4 and 16 partitions run 7–13 % faster
// (docs/benchmarks.md). A count bounds memory only through the records' size, so the buffer
// is sized from the largest record of the batches the shard is about to read: two fetches'
// worth, no fewer messages than sarama's default and no more than maxChannelBuffer.
const (
	defaultChannelBuffer = 256
	maxChannelBuffer     = 4096
)

// channelBuffer is the buffer for records of up to largest bytes (0: unknown) read with
// fetch bytes per partition and fetch.
func channelBuffer(largest int64, fetch int32) int {
	if largest <= 0 {
		return defaultChannelBuffer
	}
	return int(min(maxChannelBuffer, max(defaultChannelBuffer, 2*int64(fetch)/largest)))
}

// probeWait bounds how long the captures wait for sizeChannelBuffer's probes: the size is an
// optimisation, and a slow broker is no reason to start late (the shard heartbeats only once
// its captures run).
var probeWait = 2 * time.Second

// probeHold is the most a probe's fetch lets the broker hold it for a record (read_committed
// holds it at an open transaction). A variable so that a test can make a held probe stand out
// from the load on the machine.
var probeHold = 500 * time.Millisecond

// sizeChannelBuffer sets the shard's consumer's buffer (see above) from the largest record in
// the first batch each capture is about to read (one request per partition with something to
// read, at once). It must run before any capture starts its partition consumer: sarama reads
// the client's config as each starts. A probe that fails or finds no record where there is
// something to read leaves sarama's default: its records may be any size. So do probes that
// take longer than probeWait, or a cancelled ctx; those end on their own, unread.
func sizeChannelBuffer(ctx context.Context, client sarama.Client, captures []*capture) {
	client.Config().ChannelBufferSize = defaultChannelBuffer
	largest := make([]int64, len(captures))
	var wg sync.WaitGroup
	for i, c := range captures {
		from := c.pos
		if c.known != nil {
			from = max(from, c.known[0])
			end := c.known[1]
			if c.in.Until >= 0 {
				end = min(end, c.in.Until)
			}
			if end <= from {
				continue // nothing to read: no records to size
			}
		}
		wg.Go(func() {
			largest[i] = -1 // unknown unless the batch shows a record
			if block, err := fetchOneBatch(client, c.in.Topic, c.in.Partition, from); err == nil {
				if n := largestFetched(block); n > 0 {
					largest[i] = n
				}
			}
		})
	}
	probed := make(chan struct{})
	go func() { wg.Wait(); close(probed) }()
	select {
	case <-probed:
	case <-time.After(probeWait):
		return
	case <-ctx.Done():
		return
	}
	most := int64(0)
	for _, n := range largest {
		if n < 0 {
			most = 0 // unknown
			break
		}
		most = max(most, n)
	}
	client.Config().ChannelBufferSize = channelBuffer(most, client.Config().Consumer.Fetch.Default)
}

// fetchOneBatch reads the batch holding off (a broker returns the first batch whatever the
// limit, so a limit of one byte asks for no more than that), read_committed.
func fetchOneBatch(client sarama.Client, topic string, partition int32, off int64) (*sarama.FetchResponseBlock, error) {
	broker, err := client.Leader(topic, partition)
	if err != nil {
		return nil, fmt.Errorf("leader of %s/%d: %w", topic, partition, err)
	}
	req := &sarama.FetchRequest{Version: 11, MaxWaitTime: int32(probeHold.Milliseconds()), MinBytes: 1, MaxBytes: 1, Isolation: sarama.ReadCommitted}
	req.AddBlock(topic, partition, off, 1, -1)
	resp, err := broker.Fetch(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s/%d at %d: %w", topic, partition, off, err)
	}
	block := resp.GetBlock(topic, partition)
	if block == nil {
		return nil, fmt.Errorf("fetch %s/%d at %d: no answer for the partition", topic, partition, off)
	}
	if block.Err != sarama.ErrNoError {
		return nil, fmt.Errorf("fetch %s/%d at %d: %w", topic, partition, off, block.Err)
	}
	return block, nil
}

// largestFetched is the most key, value and header bytes of one record in block (0: none).
func largestFetched(block *sarama.FetchResponseBlock) int64 {
	var most int64
	for _, recs := range block.RecordsSet {
		if recs.RecordBatch != nil {
			for _, r := range recs.RecordBatch.Records {
				n := len(r.Key) + len(r.Value)
				for _, h := range r.Headers {
					n += len(h.Key) + len(h.Value)
				}
				most = max(most, int64(n))
			}
		}
		if recs.MsgSet != nil {
			for _, m := range recs.MsgSet.Messages {
				if m.Msg != nil {
					most = max(most, int64(len(m.Msg.Key)+len(m.Msg.Value)))
				}
			}
		}
	}
	return most
}
