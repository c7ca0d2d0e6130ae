package kafka

import (
	"context"
	"strconv"
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows/kafkabackup"
)

// Before a scheduled capture records "no committed record up to Until" after a silence, it reads
// the range itself. The probe must find records that are there (a shard's shared consumer can
// starve a partition for seconds: that silence once ended a run with a fifth of its records
// recorded as a transaction gap) and must see through transaction markers and aborted records.
func TestGapProbeFindsRecordsASilentConsumerMissed(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	topic := testenv.Topic(t, "probe", 1, nil)
	cfg := testenv.ProducerConfig()
	cfg.Producer.Transaction.ID = topic + "-txn"
	p, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	require.NoError(t, err)
	txn := func(n int, commit bool) {
		require.NoError(t, p.BeginTxn())
		for i := range n {
			_, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(strconv.Itoa(i))})
			require.NoError(t, err)
		}
		if commit {
			require.NoError(t, p.CommitTxn())
		} else {
			require.NoError(t, p.AbortTxn())
		}
	}
	txn(3, true)  // offsets 0-2, commit marker 3
	txn(2, false) // offsets 4-5 aborted, abort marker 6
	require.NoError(t, p.Close())
	ccfg := testenv.ProducerConfig()
	client, err := sarama.NewClient([]string{bootstrap}, ccfg)
	require.NoError(t, err)
	defer client.Close()
	c := &capture{client: client, in: kafkabackup.CaptureInput{Topic: topic, Partition: 0}}

	held, err := c.holdsRecords(context.Background(), 1, 7)
	require.NoError(t, err)
	require.True(t, held, "offsets 1-2 hold committed records")
	held, err = c.holdsRecords(context.Background(), 3, 7)
	require.NoError(t, err)
	require.False(t, held, "a commit marker, aborted records and an abort marker hold no committed record")
}
