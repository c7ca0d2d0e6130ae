package kafka_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"gocloud.dev/blob"

	"arkive.io/arkive/activities/kafka"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/backups"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/catalog"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows/kafkabackup"
)

// A discovery whose shards would be large (thousands of topics; here the bound is lowered to
// nothing) stores the list and answers stand-ins; a capture given a stand-in reads its shard
// from the list and captures every partition of it exactly once. A later discovery deletes the
// lists before it, and one whose shards fit inline leaves none. A list that is gone is retried
// (the next discovery stores it again); one whose content is not what its name says fails for
// good.
func TestLargeShardListIsStoredAndCapturedByReference(t *testing.T) {
	e := newCaptureEnv(t)
	kafka.SetInlineShardBytes(t, 0)
	a, b := testenv.Topic(t, "shardlist-a", 3, nil), testenv.Topic(t, "shardlist-b", 2, nil)
	var msgs []*sarama.ProducerMessage
	for _, tp := range []struct {
		topic string
		n     int32
	}{{a, 3}, {b, 2}} {
		for p := range tp.n {
			for i := range 20 {
				msgs = append(msgs, &sarama.ProducerMessage{Topic: tp.topic, Partition: p, Value: sarama.StringEncoder(strconv.Itoa(i))})
			}
		}
	}
	produceTo(t, e, msgs)
	conn := shardConnection(t, e, "shardlist")
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	discover := func(run string, topics ...string) kafkabackup.DiscoverShardsResult {
		return runActivity[kafkabackup.DiscoverShardsInput, kafkabackup.DiscoverShardsResult](t, kafkabackup.ActivityDiscoverShards, e.acts.DiscoverShards,
			kafkabackup.DiscoverShardsInput{DiscoverInput: kafkabackup.DiscoverInput{Connection: conn, Include: topics}, Time: now,
				Run: &archive.Run{ID: run, Start: now, Outcome: "Running"}})
	}
	captureInput := func(shard kafkabackup.Shard, run string) kafkabackup.CaptureShardInput {
		return kafkabackup.CaptureShardInput{Connection: conn, Shard: shard, Run: run, Compression: kafkabackup.Compression{Codec: "zstd"},
			MaxSegmentBytes: 1 << 20, MaxSegmentInterval: time.Minute, MaxRunTime: 2 * time.Minute}
	}
	store, err := blobstore.Open(context.Background(), e.storage, e.secrets)
	require.NoError(t, err)
	defer store.Close()
	layout, err := blobstore.Kafka("default/shardlist")
	require.NoError(t, err)
	lists := func() []string {
		var keys []string
		it := store.List(&blob.ListOptions{Prefix: layout.ShardsPrefix()})
		for {
			obj, err := it.Next(context.Background())
			if err != nil {
				return keys
			}
			keys = append(keys, obj.Key)
		}
	}

	d := discover("run-1", a, b)
	require.Len(t, d.Shards, 1)
	ref := d.Shards[0].Ref
	require.NotNil(t, ref, "a stand-in, not the topics")
	require.Empty(t, d.Shards[0].Topics)
	require.Equal(t, 5, ref.Partitions)
	require.Equal(t, 5, d.Shards[0].Len())
	require.Contains(t, ref.Summary, a+"/0-2")
	require.Contains(t, ref.Summary, b+"/0-1")
	require.Equal(t, []string{ref.Key}, lists(), "the list is stored under the backup")

	got := runActivity[kafkabackup.CaptureShardInput, kafkabackup.CaptureShardResult](t, kafkabackup.ActivityCaptureShard, e.acts.CaptureShard, captureInput(d.Shards[0], "run-1"))
	require.True(t, got.Done)
	require.Equal(t, int64(100), got.Records)
	res := runActivity[kafkabackup.CommitInput, kafkabackup.CommitResult](t, kafkabackup.ActivityCommit, e.acts.Commit,
		kafkabackup.CommitInput{Connection: conn, Time: now.Add(time.Minute), Staged: []string{got.Staged}, Sharded: true})
	require.Equal(t, 5, res.PartitionCount)
	m, err := catalog.Read(context.Background(), store, layout)
	require.NoError(t, err)
	require.Len(t, m.Topics, 2)
	for _, tp := range m.Topics {
		for _, p := range tp.Data {
			n := 0
			require.NoError(t, backups.Partition(context.Background(), store, p, encKey, func(r *archive.Record) error {
				require.Equal(t, strconv.FormatInt(r.Offset, 10), string(r.Value), "%s/%d", tp.Name, p.Partition)
				n++
				return nil
			}))
			require.Equal(t, 20, n, "%s/%d: every offset once", tp.Name, p.Partition)
		}
	}

	// Another selection: its own list, and the one before is deleted.
	d2 := discover("run-2", a)
	require.NotNil(t, d2.Shards[0].Ref)
	require.NotEqual(t, ref.Key, d2.Shards[0].Ref.Key)
	require.Equal(t, []string{d2.Shards[0].Ref.Key}, lists())

	// A list that is gone is retried; a damaged one (here: another list's content under its
	// name) fails for good. Neither has been read by this process before.
	execute := func(in kafkabackup.CaptureShardInput) error {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestActivityEnvironment()
		env.RegisterActivityWithOptions(e.acts.CaptureShard, activity.RegisterOptions{Name: kafkabackup.ActivityCaptureShard})
		_, err := env.ExecuteActivity(kafkabackup.ActivityCaptureShard, in)
		return err
	}
	gone := *d2.Shards[0].Ref
	gone.Key = layout.ShardsPrefix() + strings.Repeat("0", 32) + ".json"
	err = execute(captureInput(kafkabackup.Shard{Ref: &gone}, "run-2"))
	require.ErrorContains(t, err, "is missing from the storage")
	var appErr *temporal.ApplicationError
	require.False(t, errors.As(err, &appErr) && appErr.NonRetryable(), "retried: %v", err)
	damaged := gone
	damaged.Key = layout.ShardsPrefix() + strings.Repeat("1", 32) + ".json"
	data, err := store.ReadAll(context.Background(), d2.Shards[0].Ref.Key)
	require.NoError(t, err)
	require.NoError(t, store.Put(context.Background(), damaged.Key, data))
	err = execute(captureInput(kafkabackup.Shard{Ref: &damaged}, "run-2"))
	require.ErrorAs(t, err, &appErr)
	require.True(t, appErr.NonRetryable())
	require.Equal(t, kafkabackup.ErrInconsistentCommit, appErr.Type())
	require.ErrorContains(t, err, "does not hold what its name says")

	// Shards that fit inline travel inline, and no list is left.
	kafka.SetInlineShardBytes(t, kafkabackup.InlineShardBytes)
	d3 := discover("run-3", a, b)
	require.Nil(t, d3.Shards[0].Ref)
	require.Len(t, d3.Shards[0].Topics, 2)
	require.Empty(t, lists())
}
