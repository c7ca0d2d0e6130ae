package kafka_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
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

// discoverShards runs DiscoverShards for one topic (run: a scheduled run's start, or nil).
func discoverShards(t *testing.T, e *captureEnv, conn kafkabackup.Connection, topic string, now time.Time, run *archive.Run) kafkabackup.DiscoverShardsResult {
	return runActivity[kafkabackup.DiscoverShardsInput, kafkabackup.DiscoverShardsResult](t, kafkabackup.ActivityDiscoverShards, e.acts.DiscoverShards,
		kafkabackup.DiscoverShardsInput{DiscoverInput: kafkabackup.DiscoverInput{Connection: conn, Include: []string{topic}}, Time: now, Run: run})
}

// produceTo writes msgs (each with its partition) with a synchronous producer.
func produceTo(t *testing.T, e *captureEnv, msgs []*sarama.ProducerMessage) {
	cfg := testenv.ProducerConfig()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	prod, err := sarama.NewSyncProducer([]string{e.bootstrap}, cfg)
	require.NoError(t, err)
	require.NoError(t, prod.SendMessages(msgs))
	require.NoError(t, prod.Close())
}

// waitForSpooled waits until n segments filling in e's volume storage hold more than two
// 128 KiB blocks each: with 4 KiB records, at least 60 records of each have been read.
func waitForSpooled(t *testing.T, e *captureEnv, n int) {
	t.Helper()
	spool := filepath.Join(e.storage.Volume.Path, ".arkive-spool", "arkive-segment-*.seg")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) { // polling interval
		require.True(t, time.Now().Before(deadline), "the captures did not fill their segments")
		files, _ := filepath.Glob(spool)
		full := 0
		for _, f := range files {
			if fi, err := os.Stat(f); err == nil && fi.Size() > 260<<10 {
				full++
			}
		}
		if full == n {
			return
		}
	}
}

// shardConnection is the connection of backup default/name to e's broker and storage.
func shardConnection(t *testing.T, e *captureEnv, name string) kafkabackup.Connection {
	kj, err := json.Marshal(arkivev1.KafkaClusterSpec{BootstrapServers: []string{e.bootstrap}})
	require.NoError(t, err)
	sj, err := json.Marshal(e.storage)
	require.NoError(t, err)
	return kafkabackup.Connection{Namespace: "default", Backup: "default/" + name, Kafka: kj, Storage: sj}
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
		return discoverShards(t, e, conn, topic, now, &archive.Run{ID: run, Start: now, Outcome: "Running"})
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

// A worker shutting down (SIGTERM) hands its shard back: each partition uploads the segment it
// was filling, and the stored progress names it, so the attempt on another worker starts after
// what this one read instead of reading it again (which can take longer than the cycle has
// left). The next attempt then finishes the partitions exactly once.
func TestStoppingWorkerUploadsWhatTheShardRead(t *testing.T) {
	e := newCaptureEnv(t)
	const partitions, perPartition = 2, 100
	topic := testenv.Topic(t, "shard-stop", partitions, nil)
	var msgs []*sarama.ProducerMessage
	for p := range partitions {
		for i := range perPartition {
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: int32(p),
				Value: sarama.StringEncoder(strconv.Itoa(i) + ":" + strings.Repeat("x", 4<<10))})
		}
	}
	produceTo(t, e, msgs)
	conn := shardConnection(t, e, "shard-stop")
	now := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	d := discoverShards(t, e, conn, topic, now, nil)
	require.Len(t, d.Shards, 1)
	// Continuous, uncompressed, segments far larger than the data and a minute long: nothing
	// rolls before the stop.
	in := kafkabackup.CaptureShardInput{Connection: conn, Shard: d.Shards[0], Compression: kafkabackup.Compression{Codec: "none"},
		MaxSegmentBytes: 64 << 20, MaxSegmentInterval: time.Minute, MaxRunTime: 2 * time.Minute}

	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(e.acts.CaptureShard, activity.RegisterOptions{Name: kafkabackup.ActivityCaptureShard})
	stop := make(chan struct{})
	env.SetWorkerStopChannel(stop)
	errc := make(chan error, 1)
	go func() {
		_, err := env.ExecuteActivity(kafkabackup.ActivityCaptureShard, in)
		errc <- err
	}()
	// Stop once every partition's spool file holds more than two 128 KiB blocks, so at least
	// 60 records of each have been read.
	waitForSpooled(t, e, partitions)
	close(stop)
	err := <-errc
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, kafka.ErrWorkerStopping, appErr.Type())

	store, err := blobstore.Open(context.Background(), e.storage, e.secrets)
	require.NoError(t, err)
	defer store.Close()
	layout, err := blobstore.Kafka(conn.Backup)
	require.NoError(t, err)
	it := store.List(&blob.ListOptions{Prefix: layout.StagingPrefix()})
	obj, err := it.Next(context.Background())
	require.NoError(t, err, "the stopping shard stored its progress")
	data, err := store.ReadAll(context.Background(), obj.Key)
	require.NoError(t, err)
	var staged kafkabackup.StagedCaptures
	require.NoError(t, json.Unmarshal(data, &staged))
	require.Len(t, staged.Captures, partitions)
	for _, c := range staged.Captures {
		require.GreaterOrEqual(t, c.Next, int64(60), "partition %d: the open segment was uploaded on the stop", c.Partition)
		require.NotEmpty(t, c.Segments, "partition %d", c.Partition)
		require.Equal(t, c.Next, c.Segments[len(c.Segments)-1].LastOffset+1, "partition %d", c.Partition)
	}

	// The next attempt (same activity id) resumes after the uploaded segments and, in a run up
	// to the high watermarks, finishes: the commit holds every offset once.
	d = discoverShards(t, e, conn, topic, now, &archive.Run{ID: "run-1", Start: now, Outcome: "Running"})
	in.Run = "run-1"
	res := runActivity[kafkabackup.CaptureShardInput, kafkabackup.CaptureShardResult](t, kafkabackup.ActivityCaptureShard, e.acts.CaptureShard, in)
	require.True(t, res.Done)
	require.Equal(t, int64(partitions*perPartition), res.Records, "the stopped attempt's records count once")
	runActivity[kafkabackup.CommitInput, kafkabackup.CommitResult](t, kafkabackup.ActivityCommit, e.acts.Commit,
		kafkabackup.CommitInput{Connection: conn, Time: now.Add(time.Minute), Staged: []string{res.Staged}, Sharded: true})
	m, err := catalog.Read(context.Background(), store, layout)
	require.NoError(t, err)
	require.Len(t, m.Topics, 1)
	for _, p := range m.Topics[0].Data {
		n := 0
		require.NoError(t, backups.Partition(context.Background(), store, p, encKey, func(r *archive.Record) error {
			require.True(t, strings.HasPrefix(string(r.Value), strconv.FormatInt(r.Offset, 10)+":"), "partition %d offset %d", p.Partition, r.Offset)
			n++
			return nil
		}))
		require.Equal(t, perPartition, n, "partition %d: every offset once", p.Partition)
	}
}

// On a worker that captures thousands of partitions a shard fetches 16 KiB per partition;
// record batches several times that size still arrive, and every record is captured once.
func TestBusyWorkerCapturesBatchesLargerThanItsFetch(t *testing.T) {
	e := newCaptureEnv(t)
	const partitions, records = 3, 12
	topic := testenv.Topic(t, "shard-large", partitions, nil)
	rng := rand.NewChaCha8([32]byte{7})
	var msgs []*sarama.ProducerMessage
	for p := range partitions {
		for range records {
			v := make([]byte, 64<<10) // random, so a batch stays larger than 16 KiB compressed
			_, _ = rng.Read(v)
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: int32(p), Value: sarama.ByteEncoder(v)})
		}
	}
	produceTo(t, e, msgs)
	conn := shardConnection(t, e, "shard-large")
	now := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	d := discoverShards(t, e, conn, topic, now, &archive.Run{ID: "run-1", Start: now, Outcome: "Running"})
	require.Len(t, d.Shards, 1)

	defer kafka.HoldCaptures(e.acts, 2000)() // 32 MiB over 2,003 partitions: the 16 KiB floor
	res := runActivity[kafkabackup.CaptureShardInput, kafkabackup.CaptureShardResult](t, kafkabackup.ActivityCaptureShard, e.acts.CaptureShard,
		kafkabackup.CaptureShardInput{Connection: conn, Shard: d.Shards[0], Run: "run-1", Compression: kafkabackup.Compression{Codec: "zstd"},
			MaxSegmentBytes: 4 << 20, MaxSegmentInterval: time.Minute, MaxRunTime: 2 * time.Minute})
	require.True(t, res.Done, "every partition reached the run's high watermark")
	require.Equal(t, int64(partitions*records), res.Records)
	require.Equal(t, int64(partitions*records*64<<10), res.Bytes)
}

// A retry that starts after its first attempt would have ended (its worker died, and the
// heartbeat timeout ran out late in the cycle) still reads what its partitions held when it
// started, however long that takes, before it ends: those records are what the dead attempt
// had read and not uploaded, and without this they would wait for the next cycle. A partition
// with nothing to read does not hold the shard.
func TestLateRetryCatchesUpBeforeItEnds(t *testing.T) {
	e := newCaptureEnv(t)
	const perPartition = 20000
	topic := testenv.Topic(t, "shard-late", 2, nil)
	var msgs []*sarama.ProducerMessage
	for i := range perPartition {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(strconv.Itoa(i))})
	}
	produceTo(t, e, msgs) // partition 1 stays empty
	conn := shardConnection(t, e, "shard-late")
	d := discoverShards(t, e, conn, topic, time.Now(), nil)
	require.Len(t, d.Shards, 1)

	// The first attempt was scheduled a whole run ago, so the retry's own run time is the
	// one-second minimum; at 5,000 records a second partition 0 takes about four. (A capture
	// looks at its clock between batches of up to 1,024 records, so an ending one reads a few
	// more; this many records leave it no chance of reading them all in its one second.)
	acts := &kafka.Activities{Secrets: e.acts.Secrets, SpoolDir: e.acts.SpoolDir}
	kafka.AsRetry(acts, time.Now().Add(-10*time.Minute))
	in := kafkabackup.CaptureShardInput{Connection: conn, Shard: d.Shards[0], Compression: kafkabackup.Compression{Codec: "zstd"},
		MaxSegmentBytes: 64 << 20, MaxSegmentInterval: time.Minute, MaxRunTime: 2 * time.Minute,
		RateLimit: kafkabackup.RateLimit{RecordsPerSecond: 5000}}
	res := runActivity[kafkabackup.CaptureShardInput, kafkabackup.CaptureShardResult](t, kafkabackup.ActivityCaptureShard, acts.CaptureShard, in)
	require.Equal(t, int64(perPartition), res.Records, "the retry read everything its partitions held when it started")
	require.False(t, res.Done, "a continuous capture is never done")
}
