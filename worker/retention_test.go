package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"gocloud.dev/blob"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/catalog"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkabackup"
)

// keepLast: 2 leaves exactly the data of the last two runs: the manifest names only their
// segments, the storage holds only those objects, and they read back as those runs' records.
func TestScheduledRetentionKeepsLastTwoRuns(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	ctx := context.Background()
	topic := testenv.Topic(t, "retain", 1, nil)
	p, err := sarama.NewSyncProducer([]string{bootstrap}, saramaConfig())
	require.NoError(t, err)
	defer p.Close()

	dir := t.TempDir()
	storage := arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: dir}}
	c, queue := startWorker(t, secrets.Map{})
	kj, _ := json.Marshal(arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}})
	sj, _ := json.Marshal(storage)
	name := fmt.Sprintf("ret%d", time.Now().UnixNano()%1e9)
	in := kafkabackup.Input{Connection: kafkabackup.Connection{Namespace: "default", Backup: "default/" + name, Kafka: kj, Storage: sj},
		Spec: kafkabackup.Spec{Enabled: true, Streams: []kafkabackup.Stream{{Topic: topic, Enabled: true}}, Mode: kafkabackup.ModeScheduled,
			Schedule: "@yearly", Compression: kafkabackup.Compression{Codec: "zstd"}, MaxSegmentBytes: 1 << 20,
			MaxSegmentInterval: 10 * time.Second, DiscoveryInterval: time.Minute, KeepLast: 2}}
	wid := workflows.WorkflowID("KafkaBackup", "default", name)
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wid, TaskQueue: queue}, kafkabackup.WorkflowName, in)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), wid, "", "test done") })

	// Three runs, each after 100 new records.
	var status kafkabackup.Status
	for run := 1; run <= 3; run++ {
		for i := range 100 {
			_, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprintf("run%d-%d", run, i))})
			require.NoError(t, err)
		}
		waitForStatus(t, c, wid, func(s kafkabackup.Status) bool { return s.Reason == "WaitingForSchedule" })
		signal(t, wid, workflows.SignalTrigger)
		status = waitForStatus(t, c, wid, func(s kafkabackup.Status) bool {
			return len(s.Runs) > 0 && s.Runs[len(s.Runs)-1].Records == 100 && s.Reason == "WaitingForSchedule"
		})
	}
	require.Len(t, status.Runs, 2, "the status keeps the last two runs")

	store, err := blobstore.Open(ctx, storage, nil)
	require.NoError(t, err)
	defer store.Close()
	layout, _ := blobstore.Kafka(in.Backup)
	m, err := catalog.Read(ctx, store, layout)
	require.NoError(t, err)
	part := m.Topics[0].Data[0]
	kept := []string{status.Runs[0].ID, status.Runs[1].ID}
	var keys []string
	for _, s := range part.Segments {
		require.Contains(t, kept, s.Run, "segment %s belongs to a dropped run", s.Key)
		keys = append(keys, s.Key)
	}
	require.Equal(t, int64(100), part.StartOffset, "the first run's offsets are gone")
	require.Empty(t, part.Holes())
	prefix, _ := layout.PartitionPrefix(topic, 0)
	slices.Sort(keys)
	require.Equal(t, keys, objectsUnder(t, store, prefix), "storage holds exactly the kept runs' segments")
	got := readPartition(t, store, part)
	require.Len(t, got, 200)
	require.Equal(t, "run2-0", string(got[0].Value))
	require.Equal(t, "run3-99", string(got[199].Value))
	recordHistory(t, c, wid, "kafkabackup-scheduled-retention")
}

// retention.maxAge on a Continuous backup (issue 22, point 3): after a commit, segments whose
// newest record is older than maxAge leave the manifest and the storage; the rest, and every
// recent record, stay.
func TestContinuousRetentionDropsDataOlderThanMaxAge(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	ctx := context.Background()
	topic := testenv.Topic(t, "maxage", 1, nil)
	p, err := sarama.NewSyncProducer([]string{bootstrap}, saramaConfig())
	require.NoError(t, err)
	defer p.Close()
	old, recent := time.Now().Add(-10*24*time.Hour), time.Now()
	value := func(kind string, i int) sarama.Encoder {
		return sarama.StringEncoder(fmt.Sprintf("%s-%03d-%0100d", kind, i, 0)) // ~110 bytes: ten records fill a 1 KiB segment
	}
	for i := range 50 {
		_, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: value("old", i), Timestamp: old})
		require.NoError(t, err)
	}
	for i := range 50 {
		_, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: value("new", i), Timestamp: recent})
		require.NoError(t, err)
	}

	storage := arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: t.TempDir()}}
	c, queue := startWorker(t, secrets.Map{})
	kj, _ := json.Marshal(arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}})
	sj, _ := json.Marshal(storage)
	name := fmt.Sprintf("maxage%d", time.Now().UnixNano()%1e9)
	in := kafkabackup.Input{Connection: kafkabackup.Connection{Namespace: "default", Backup: "default/" + name, Kafka: kj, Storage: sj},
		Spec: kafkabackup.Spec{Enabled: true, Streams: []kafkabackup.Stream{{Topic: topic, Enabled: true}}, Mode: kafkabackup.ModeContinuous,
			Compression: kafkabackup.Compression{Codec: "none"}, MaxSegmentBytes: 1024, MaxSegmentInterval: time.Second,
			DiscoveryInterval: time.Second, MaxAge: 24 * time.Hour}}
	wid := workflows.WorkflowID("KafkaBackup", "default", name)
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wid, TaskQueue: queue}, kafkabackup.WorkflowName, in)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), wid, "", "test done") })

	store, err := blobstore.Open(ctx, storage, nil)
	require.NoError(t, err)
	defer store.Close()
	layout, _ := blobstore.Kafka(in.Backup)
	cutoff := old.Add(24 * time.Hour).UnixMilli() // anything at the old time is past maxAge
	var part archive.Partition
	testenv.Eventually(t, time.Minute, "every record committed and the old segments dropped", func() (bool, string) {
		m, err := catalog.Read(ctx, store, layout)
		if err != nil || m == nil || len(m.Topics) == 0 || len(m.Topics[0].Data) == 0 {
			return false, fmt.Sprint(err)
		}
		part = m.Topics[0].Data[0]
		return part.NextOffset == 100 && part.StartOffset > 0, fmt.Sprintf("start %d next %d", part.StartOffset, part.NextOffset)
	})
	require.NotEmpty(t, part.Segments)
	for i, s := range part.Segments {
		if i == 0 {
			require.Equal(t, part.StartOffset, s.FirstOffset, "the partition starts at its first kept segment")
		}
		require.GreaterOrEqual(t, s.MaxTimestamp, cutoff, "segment %s holds only records older than maxAge", s.Key)
	}
	got := readPartition(t, store, part)
	var newest []string
	for _, r := range got {
		if r.Timestamp >= cutoff {
			newest = append(newest, string(r.Value[:7]))
		}
	}
	require.Len(t, newest, 50, "every recent record stays")
	require.Equal(t, "new-000", newest[0])
	require.Less(t, len(got), 100, "old records went")
	// The catalog is written first and the dropped segments deleted after it: poll.
	prefix, _ := layout.PartitionPrefix(topic, 0)
	testenv.Eventually(t, time.Minute, "the dropped segments' objects are deleted", func() (bool, string) {
		m, err := catalog.Read(ctx, store, layout)
		if err != nil {
			return false, err.Error()
		}
		var named []string
		for _, s := range m.Topics[0].Data[0].Segments {
			named = append(named, s.Key)
		}
		slices.Sort(named)
		objects := objectsUnder(t, store, prefix)
		return slices.Equal(named, objects), fmt.Sprintf("named %v, stored %v", named, objects)
	})
}

// objectsUnder lists the keys of the storage's objects below prefix, in key order.
func objectsUnder(t *testing.T, store *blobstore.Store, prefix string) []string {
	t.Helper()
	keys := []string{}
	it := store.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return keys
		}
		require.NoError(t, err)
		if obj.Key != prefix {
			keys = append(keys, obj.Key)
		}
	}
}
