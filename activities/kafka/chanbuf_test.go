package kafka

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows/kafkabackup"
)

// A shard's consumer buffers about two fetches of records per partition: many messages when
// the records it is about to read are small, sarama's default when any is large, when a
// partition's records cannot be seen, or when there is nothing to read. Records before where a
// capture starts do not count.
func TestShardBufferFollowsTheRecordsAboutToBeRead(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	small := testenv.Topic(t, "chanbuf", 1, nil)
	mixed := testenv.Topic(t, "chanbuf", 1, nil)
	send := func(topic string, n, size int) {
		p, err := sarama.NewSyncProducer([]string{bootstrap}, testenv.ProducerConfig())
		require.NoError(t, err)
		defer p.Close()
		for range n {
			_, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder("k"),
				Value: sarama.ByteEncoder(bytes.Repeat([]byte{'v'}, size-1))})
			require.NoError(t, err)
		}
	}
	send(small, 20, 500)  // offsets 0-19
	send(mixed, 3, 40000) // offsets 0-2
	send(mixed, 20, 8000) // offsets 3-22

	client, err := sarama.NewClient([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer client.Close()
	const fetch = 2 << 20
	client.Config().Consumer.Fetch.Default = fetch
	capt := func(topic string, pos, hwm int64) *capture {
		return &capture{in: kafkabackup.CaptureInput{Topic: topic, Until: -1}, pos: pos, known: &[2]int64{0, hwm}}
	}
	sized := func(captures ...*capture) int {
		sizeChannelBuffer(context.Background(), client, captures)
		return client.Config().ChannelBufferSize
	}

	require.Equal(t, maxChannelBuffer, sized(capt(small, 0, 20)), "two fetches of 500-byte records are more than the most")
	require.Equal(t, 2*fetch/8000, sized(capt(small, 0, 20), capt(mixed, 3, 23)), "8,000-byte records from offset 3")
	require.Equal(t, defaultChannelBuffer, sized(capt(small, 0, 20), capt(mixed, 0, 23)), "40,000-byte records from offset 0")
	require.Equal(t, defaultChannelBuffer, sized(capt(small, 20, 20), capt(mixed, 23, 23)), "nothing to read")
	scheduled := capt(mixed, 0, 23)
	scheduled.in.Until = 0 // a scheduled run that ends before the large records
	require.Equal(t, maxChannelBuffer, sized(capt(small, 0, 20), scheduled), "records past Until are not read")
	gone := capt(small, 0, 20)
	gone.in.Topic = "chanbuf-no-such-topic"
	require.Equal(t, defaultChannelBuffer, sized(capt(small, 0, 20), gone), "a partition whose records cannot be seen")

	// A probe that is slow to answer does not hold the captures up: under read_committed the
	// broker holds a fetch at an open transaction for the request's wait, here 10 s (500 ms in
	// use), so that the bound below leaves the machine's load seconds of room.
	open := testenv.Topic(t, "chanbuf", 1, nil)
	cfg := testenv.ProducerConfig()
	cfg.Producer.Transaction.ID = open + "-txn"
	txn, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	require.NoError(t, err)
	defer txn.Close()
	require.NoError(t, txn.BeginTxn())
	_, _, err = txn.SendMessage(&sarama.ProducerMessage{Topic: open, Value: sarama.StringEncoder("undecided")})
	require.NoError(t, err)
	defer func(wait, hold time.Duration) { probeWait, probeHold = wait, hold }(probeWait, probeHold)
	probeWait, probeHold = 50*time.Millisecond, 10*time.Second
	start := time.Now()
	require.Equal(t, defaultChannelBuffer, sized(capt(small, 0, 20), capt(open, 0, 1)), "a probe still waiting")
	require.Less(t, time.Since(start), 5*time.Second, "the captures must not wait for a probe the broker holds")
	require.NoError(t, txn.AbortTxn())
}

func TestChannelBufferBoundsTheBytesItHolds(t *testing.T) {
	for _, c := range []struct {
		largest int64
		want    int
	}{{0, 256}, {1, 4096}, {1000, 4096}, {4096, 1024}, {16 << 10, 256}, {1 << 20, 256}} {
		require.Equal(t, c.want, channelBuffer(c.largest, 2<<20), "largest %d", c.largest)
	}
}
