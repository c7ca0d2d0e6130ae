package kafka_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"arkive.io/arkive/activities/kafka"
	"arkive.io/arkive/internal/testenv"
)

// A capture whose position lies beyond the partition's log end (the backup holds offsets the
// log no longer has) ends with Truncated and the log end, having read nothing; an
// offset-out-of-range answer is taken for a truncation only then, not when retention removed
// the offsets before the position (the retry records that as a gap) nor at the log end itself.
func TestCaptureTellsATruncatedLogFromRetention(t *testing.T) {
	e := newCaptureEnv(t)
	topic := testenv.Topic(t, fmt.Sprintf("truncated-%d", time.Now().UnixNano()), 1, nil)
	var msgs []*sarama.ProducerMessage
	for i := range 10 {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprint(i))})
	}
	produceTo(t, e, msgs)

	res, err := e.run(t, e.input(t, topic, 25, -1), nil)
	require.NoError(t, err)
	require.True(t, res.Truncated)
	require.Equal(t, int64(10), res.LogEnd)
	require.True(t, res.Done)
	require.Equal(t, int64(25), res.Next, "nothing read, nothing skipped")
	require.Empty(t, res.Segments)
	require.Contains(t, res.Truncation(), topic+"/0: the source's log was truncated at offset 10, below offset 25")

	admin, err := sarama.NewClusterAdmin([]string{e.bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer admin.Close()
	require.NoError(t, admin.DeleteRecords(topic, map[int32]int64{0: 8}))
	client, err := sarama.NewClient([]string{e.bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer client.Close()
	ctx := context.Background()
	require.Equal(t, int64(-1), kafka.TruncatedAt(ctx, client, topic, 0, 5), "offsets 0-7 went by retention: a gap, not a truncation")
	require.Equal(t, int64(-1), kafka.TruncatedAt(ctx, client, topic, 0, 10), "at the log end")
	require.Equal(t, int64(10), kafka.TruncatedAt(ctx, client, topic, 0, 11))
}
