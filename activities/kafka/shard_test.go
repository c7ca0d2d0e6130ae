package kafka_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/backups"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/catalog"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows/kafkabackup"
)

// runActivity runs one activity in the test environment, whose workflow, run and activity ids
// are the same for every call: a second CaptureShard call is what a retried attempt sees.
func runActivity[In, Out any](t *testing.T, name string, fn any, in In) Out {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	val, err := env.ExecuteActivity(name, in)
	require.NoError(t, err)
	var out Out
	require.NoError(t, val.Get(&out))
	return out
}

// A shard captures all its partitions through one client, stages what it uploaded, resumes
// from the staged object when run again under the same activity id (as a retry is), and the
// commit merges the staged object into the catalog: every offset exactly once.
func TestCaptureShardStagesResumesAndCommitsExactlyOnce(t *testing.T) {
	e := newCaptureEnv(t)
	const partitions = 4
	topic := testenv.Topic(t, "shard", partitions, nil)
	producePerPartition := func(from, n int) {
		var msgs []*sarama.ProducerMessage
		for p := range partitions {
			for i := from; i < from+n; i++ {
				msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: int32(p), Value: sarama.StringEncoder(strconv.Itoa(i))})
			}
		}
		cfg := testenv.ProducerConfig()
		cfg.Producer.Partitioner = sarama.NewManualPartitioner
		prod, err := sarama.NewSyncProducer([]string{e.bootstrap}, cfg)
		require.NoError(t, err)
		defer prod.Close()
		require.NoError(t, prod.SendMessages(msgs))
	}
	producePerPartition(0, 100)

	kj, err := json.Marshal(arkivev1.KafkaClusterSpec{BootstrapServers: []string{e.bootstrap}})
	require.NoError(t, err)
	sj, err := json.Marshal(e.storage)
	require.NoError(t, err)
	conn := kafkabackup.Connection{Namespace: "default", Backup: "default/shard", Kafka: kj, Storage: sj}
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	discover := func(run string) kafkabackup.DiscoverShardsResult {
		return runActivity[kafkabackup.DiscoverShardsInput, kafkabackup.DiscoverShardsResult](t, kafkabackup.ActivityDiscoverShards, e.acts.DiscoverShards,
			kafkabackup.DiscoverShardsInput{DiscoverInput: kafkabackup.DiscoverInput{Connection: conn, Include: []string{topic}}, Time: now,
				Run: &archive.Run{ID: run, Start: now, Outcome: "Running"}})
	}
	capture := func(shard kafkabackup.Shard, run string) kafkabackup.CaptureShardResult {
		return runActivity[kafkabackup.CaptureShardInput, kafkabackup.CaptureShardResult](t, kafkabackup.ActivityCaptureShard, e.acts.CaptureShard,
			kafkabackup.CaptureShardInput{Connection: conn, Shard: shard, Run: run, Compression: kafkabackup.Compression{Codec: "zstd"},
				MaxSegmentBytes: 1 << 20, MaxSegmentInterval: time.Minute, MaxRunTime: 2 * time.Minute})
	}

	d := discover("run-1")
	require.Len(t, d.Shards, 1)
	require.Equal(t, partitions, d.Partitions)
	require.NotEmpty(t, d.UptoKey, "the run's high watermarks are in the catalog")
	first := capture(d.Shards[0], "run-1")
	require.True(t, first.Done, "every partition reached the run's high watermark")
	require.Equal(t, int64(partitions*100), first.Records)

	// Not committed, and run again under the same activity id with a later end: the staged
	// progress is kept and only the new records are read.
	producePerPartition(100, 10)
	d = discover("run-2")
	second := capture(d.Shards[0], "run-2")
	require.Equal(t, first.Staged, second.Staged)
	require.True(t, second.Done)
	require.Equal(t, int64(partitions*110), second.Records, "the staged object lists the first attempt's segments and the new ones")

	res := runActivity[kafkabackup.CommitInput, kafkabackup.CommitResult](t, kafkabackup.ActivityCommit, e.acts.Commit,
		kafkabackup.CommitInput{Connection: conn, Time: now.Add(time.Minute), Staged: []string{second.Staged}, Sharded: true})
	require.Equal(t, partitions, res.PartitionCount)
	require.Zero(t, res.Lag)
	require.Len(t, res.Partitions, partitions)
	for _, p := range res.Partitions {
		require.Equal(t, int64(110), p.Committed, "%s/%d", p.Topic, p.Partition)
	}

	store, err := blobstore.Open(context.Background(), e.storage, e.secrets)
	require.NoError(t, err)
	defer store.Close()
	gone, err := store.Exists(context.Background(), second.Staged)
	require.NoError(t, err)
	require.False(t, gone, "a merged staged object is deleted")
	layout, err := blobstore.Kafka("default/shard")
	require.NoError(t, err)
	m, err := catalog.Read(context.Background(), store, layout)
	require.NoError(t, err)
	require.Len(t, m.Topics, 1)
	require.Len(t, m.Topics[0].Data, partitions)
	for _, p := range m.Topics[0].Data {
		var got []string
		require.NoError(t, backups.Partition(context.Background(), store, p, encKey, func(r *archive.Record) error {
			require.Equal(t, strconv.FormatInt(r.Offset, 10), string(r.Value), "partition %d", p.Partition)
			got = append(got, string(r.Value))
			return nil
		}))
		require.Len(t, got, 110, "partition %d: every offset once", p.Partition)
	}

	// A commit retried after the staged object went adds nothing and fails nothing.
	again := runActivity[kafkabackup.CommitInput, kafkabackup.CommitResult](t, kafkabackup.ActivityCommit, e.acts.Commit,
		kafkabackup.CommitInput{Connection: conn, Time: now.Add(2 * time.Minute), Staged: []string{second.Staged}, Sharded: true})
	require.Zero(t, again.PartitionCount)
}
