package kafka_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"gocloud.dev/blob"

	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/backups"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/catalog"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows/kafkabackup"
)

// deleteTopic deletes topic and returns once the broker no longer lists it.
func deleteTopic(t *testing.T, bootstrap, topic string) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer admin.Close()
	require.NoError(t, admin.DeleteTopic(topic))
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) { // polling interval
		require.True(t, time.Now().Before(deadline), "topic %s is still listed a minute after its deletion", topic)
		topics, err := admin.ListTopics()
		require.NoError(t, err)
		if _, listed := topics[topic]; !listed {
			return
		}
	}
}

// producePartitions writes n records numbered by offset to each of topic's partitions.
func producePartitions(t *testing.T, e *captureEnv, topic string, partitions, n int) {
	var msgs []*sarama.ProducerMessage
	for p := range partitions {
		for i := range n {
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: int32(p), Value: sarama.StringEncoder(strconv.Itoa(i))})
		}
	}
	produceTo(t, e, msgs)
}

// readPartitions reads back what the backup's catalog holds of topic: each partition's values.
func readPartitions(t *testing.T, e *captureEnv, name, topic string) map[int32][]string {
	store, err := blobstore.Open(context.Background(), e.storage, e.secrets)
	require.NoError(t, err)
	defer store.Close()
	layout, err := blobstore.Kafka("default/" + name)
	require.NoError(t, err)
	m, err := catalog.Read(context.Background(), store, layout)
	require.NoError(t, err)
	got := map[int32][]string{}
	for _, tp := range m.Topics {
		if tp.Name != topic {
			continue
		}
		for _, p := range tp.Data {
			require.NoError(t, backups.Partition(context.Background(), store, p, encKey, func(r *archive.Record) error {
				require.Equal(t, strconv.FormatInt(r.Offset, 10), string(r.Value), "partition %d", p.Partition)
				got[p.Partition] = append(got[p.Partition], string(r.Value))
				return nil
			}))
		}
	}
	return got
}

// A topic deleted between a scheduled run's discovery and its capture ends its partitions'
// captures, not the shard: the other topic's partitions are captured to the run's end, the
// commit says which topic went, and the run can finish (the shard is done).
func TestShardGoesOnWhenATopicWasDeletedSinceDiscovery(t *testing.T) {
	e := newCaptureEnv(t)
	keep := testenv.Topic(t, "keep", 2, nil)
	drop := testenv.Topic(t, "drop", 2, nil)
	producePartitions(t, e, keep, 2, 50)
	producePartitions(t, e, drop, 2, 30)
	conn := shardConnection(t, e, "deleted-before")
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	d := runActivity[kafkabackup.DiscoverShardsInput, kafkabackup.DiscoverShardsResult](t, kafkabackup.ActivityDiscoverShards, e.acts.DiscoverShards,
		kafkabackup.DiscoverShardsInput{DiscoverInput: kafkabackup.DiscoverInput{Connection: conn, Include: []string{keep, drop}}, Time: now,
			Run: &archive.Run{ID: "run-1", Start: now, Outcome: "Running"}})
	require.Len(t, d.Shards, 1)
	require.Equal(t, 4, d.Partitions)

	deleteTopic(t, e.bootstrap, drop)
	res := runActivity[kafkabackup.CaptureShardInput, kafkabackup.CaptureShardResult](t, kafkabackup.ActivityCaptureShard, e.acts.CaptureShard,
		kafkabackup.CaptureShardInput{Connection: conn, Shard: d.Shards[0], Run: "run-1", Compression: kafkabackup.Compression{Codec: "zstd"},
			MaxSegmentBytes: 1 << 20, MaxSegmentInterval: time.Minute, MaxRunTime: 2 * time.Minute})
	require.True(t, res.Done, "the deleted topic's partitions count as done, so the run can end")
	require.Equal(t, int64(100), res.Records, "every record of the topic that stayed")

	c := runActivity[kafkabackup.CommitInput, kafkabackup.CommitResult](t, kafkabackup.ActivityCommit, e.acts.Commit,
		kafkabackup.CommitInput{Connection: conn, Time: now.Add(time.Minute), Staged: []string{res.Staged}, Sharded: true})
	require.Equal(t, []string{drop}, c.DeletedTopics)
	require.Contains(t, c.Warnings, "topic "+drop+" was deleted from the source during the backup: what was backed up before stays in the backup")
	got := readPartitions(t, e, "deleted-before", keep)
	require.Len(t, got, 2)
	for p, values := range got {
		require.Len(t, values, 50, "%s/%d: every offset once", keep, p)
	}
	require.Empty(t, readPartitions(t, e, "deleted-before", drop), "nothing of the deleted topic was read")

	// The next discovery leaves the deleted topic out.
	d = runActivity[kafkabackup.DiscoverShardsInput, kafkabackup.DiscoverShardsResult](t, kafkabackup.ActivityDiscoverShards, e.acts.DiscoverShards,
		kafkabackup.DiscoverShardsInput{DiscoverInput: kafkabackup.DiscoverInput{Connection: conn, Include: []string{keep, drop}}, Time: now.Add(2 * time.Minute)})
	require.Equal(t, 2, d.Partitions)
}

// A topic deleted while its partitions are being captured: what they uploaded before stays in
// the backup and is committed, and the shard ends without an error (it used to fail the
// backup for good with TopicNotFound, until a person resumed it).
func TestCaptureKeepsWhatItReadOfATopicDeletedMeanwhile(t *testing.T) {
	e := newCaptureEnv(t)
	drop := testenv.Topic(t, "drop-while", 2, nil)
	producePartitions(t, e, drop, 2, 40)
	conn := shardConnection(t, e, "deleted-while")
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	d := discoverShards(t, e, conn, drop, now, nil)
	require.Len(t, d.Shards, 1)

	// A continuous capture: without the deletion it would run for its two minutes.
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(e.acts.CaptureShard, activity.RegisterOptions{Name: kafkabackup.ActivityCaptureShard})
	var val converter.EncodedValue
	var captureErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		val, captureErr = env.ExecuteActivity(kafkabackup.ActivityCaptureShard,
			kafkabackup.CaptureShardInput{Connection: conn, Shard: d.Shards[0], Compression: kafkabackup.Compression{Codec: "zstd"},
				MaxSegmentBytes: 1 << 20, MaxSegmentInterval: time.Second, MaxRunTime: 2 * time.Minute})
	})
	// Delete the topic once each partition has uploaded a segment of what it read.
	store, err := blobstore.Open(context.Background(), e.storage, e.secrets)
	require.NoError(t, err)
	defer store.Close()
	layout, err := blobstore.Kafka("default/deleted-while")
	require.NoError(t, err)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) { // polling interval
		require.True(t, time.Now().Before(deadline), "the captures uploaded no segment")
		uploaded := 0
		for p := range int32(2) {
			prefix, err := layout.PartitionPrefix(drop, p)
			require.NoError(t, err)
			if obj, err := store.List(&blob.ListOptions{Prefix: prefix}).Next(context.Background()); err == nil && obj != nil {
				uploaded++
			}
		}
		if uploaded == 2 {
			break
		}
	}
	started := time.Now()
	deleteTopic(t, e.bootstrap, drop)
	wg.Wait()
	t.Logf("the shard ended %.1fs after the deletion began", time.Since(started).Seconds())
	require.NoError(t, captureErr)
	var res kafkabackup.CaptureShardResult
	require.NoError(t, val.Get(&res))
	require.True(t, res.Done)
	require.Equal(t, int64(80), res.Records, "the records read before the deletion")

	c := runActivity[kafkabackup.CommitInput, kafkabackup.CommitResult](t, kafkabackup.ActivityCommit, e.acts.Commit,
		kafkabackup.CommitInput{Connection: conn, Time: now.Add(time.Minute), Staged: []string{res.Staged}, Sharded: true})
	require.Equal(t, []string{drop}, c.DeletedTopics)
	got := readPartitions(t, e, "deleted-while", drop)
	require.Len(t, got, 2)
	for p, values := range got {
		require.Len(t, values, 40, "%s/%d: every offset read before the deletion, once", drop, p)
	}
}

// A topic deleted and created again under its name between two cycles starts its offsets from
// 0 again. The capture refuses it with TopicRecreated, a cause a person must settle, instead of
// reading on from the catalog's next offset: that stored the new topic's records 10-14 after
// the old topic's 0-9 as if they were one log, and never its records 0-9.
func TestRecreatedTopicIsRefusedNotMixedWithTheOldOne(t *testing.T) {
	e := newCaptureEnv(t)
	topic := testenv.Topic(t, "recreated", 1, nil)
	producePartitions(t, e, topic, 1, 10)
	conn := shardConnection(t, e, "recreated")
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	in := kafkabackup.CaptureShardInput{Connection: conn, Shard: discoverShards(t, e, conn, topic, now, nil).Shards[0], Compression: kafkabackup.Compression{Codec: "zstd"},
		MaxSegmentBytes: 1 << 20, MaxSegmentInterval: time.Second, MaxRunTime: 3 * time.Second}
	res := runActivity[kafkabackup.CaptureShardInput, kafkabackup.CaptureShardResult](t, kafkabackup.ActivityCaptureShard, e.acts.CaptureShard, in)
	runActivity[kafkabackup.CommitInput, kafkabackup.CommitResult](t, kafkabackup.ActivityCommit, e.acts.Commit,
		kafkabackup.CommitInput{Connection: conn, Time: now.Add(time.Minute), Staged: []string{res.Staged}, Sharded: true})

	deleteTopic(t, e.bootstrap, topic)
	admin, err := sarama.NewClusterAdmin([]string{e.bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer admin.Close()
	require.NoError(t, admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false))
	testenv.WaitForLeaders(t, e.bootstrap, []string{topic}, 1)
	producePartitions(t, e, topic, 1, 15)

	in.Shard = discoverShards(t, e, conn, topic, now, nil).Shards[0]
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(e.acts.CaptureShard, activity.RegisterOptions{Name: kafkabackup.ActivityCaptureShard})
	_, err = env.ExecuteActivity(kafkabackup.ActivityCaptureShard, in)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, kafkabackup.ErrTopicRecreated, appErr.Type())
	require.True(t, appErr.NonRetryable(), "a person decides: excluding the topic or a new backup")
	require.Contains(t, appErr.Message(), "topic "+topic+" was deleted and created again")
	got := readPartitions(t, e, "recreated", topic)
	require.Len(t, got[0], 10, "the backup holds the old topic's records only")
}
