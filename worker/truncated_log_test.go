package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/catalog"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkabackup"
)

// A partition's log loses its last records after they were backed up, as an unclean leader
// election or a broker restored from an older disk does: here, while the backup is paused, the
// test's own broker is killed, its segment file cut back to the first 50 of 100 records, and
// started again (its recovery ends the log at 50 and starts a new leader epoch there; the topic
// id stays). The source then takes 80 new records under offsets 50-129, so by the time the
// backup resumes its log reaches past the backup's offset 100 again, and offsets alone cannot
// tell. The backup must not read on from 100 as if 50-99 held what it holds: the leader epoch
// it kept of record 99 shows the log diverged at 50; it stops with LogTruncated, naming the
// partition and both offsets, and keeps the 100 records it had (the only copy of 50-99).
func TestTruncatedLogStopsTheBackupAndKeepsWhatItHeld(t *testing.T) {
	t.Parallel() // a broker of its own: mostly waiting
	broker := testenv.OwnKafka(t)
	ctx := context.Background()
	topic := "orders"
	admin, err := sarama.NewClusterAdmin([]string{broker.Bootstrap}, saramaConfig())
	require.NoError(t, err)
	defer admin.Close()
	require.NoError(t, admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false))
	base := time.Now()
	sendOnceServed(t, broker.Bootstrap, topic, 0, 50, base)
	segment := broker.SegmentFile(topic, 0)
	fi, err := os.Stat(segment)
	require.NoError(t, err)
	kept := fi.Size() // the broker appended the acknowledged batch: the log's first 50 records
	require.NoError(t, sendNumbered(broker.Bootstrap, topic, 50, 50, base))

	storage := arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: t.TempDir()}}
	c, queue := startWorker(t, secrets.Map{})
	kj, _ := json.Marshal(arkivev1.KafkaClusterSpec{BootstrapServers: []string{broker.Bootstrap}})
	sj, _ := json.Marshal(storage)
	name := fmt.Sprintf("trunc%d", time.Now().UnixNano())
	spec := kafkabackup.Spec{Enabled: true, Mode: kafkabackup.ModeContinuous, Streams: []kafkabackup.Stream{{Topic: topic, Enabled: true}},
		Compression: kafkabackup.Compression{Codec: "zstd"}, MaxSegmentBytes: 1 << 20, MaxSegmentInterval: time.Second, DiscoveryInterval: time.Hour}
	in := kafkabackup.Input{Connection: kafkabackup.Connection{Namespace: "default", Backup: "default/" + name, Kafka: kj, Storage: sj}, Spec: spec}
	wid := workflows.WorkflowID("KafkaBackup", "default", name)
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wid, TaskQueue: queue}, kafkabackup.WorkflowName, in)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), wid, "", "test done") })
	waitForStatus(t, c, wid, func(s kafkabackup.Status) bool { return topicCommitted(s, topic) == 100 })
	require.NoError(t, c.SignalWorkflow(ctx, wid, "", workflows.SignalPause, nil))
	waitForStatus(t, c, wid, func(s kafkabackup.Status) bool { return s.Phase == kafkabackup.PhasePaused })

	broker.Stop()
	require.NoError(t, os.Truncate(segment, kept))
	require.NoError(t, os.Remove(filepath.Join(filepath.Dir(filepath.Dir(segment)), ".kafka_cleanshutdown")))
	broker.Start(t)
	sendOnceServed(t, broker.Bootstrap, topic, 100, 80, base)
	require.Equal(t, int64(130), offsetsOf(t, broker.Bootstrap, topic), "the broker's recovery cut the log back to the first 50 records")

	require.NoError(t, c.SignalWorkflow(ctx, wid, "", workflows.SignalResume, nil))
	s := waitForStatus(t, c, wid, func(s kafkabackup.Status) bool {
		return s.Phase == kafkabackup.PhaseFailed || topicCommitted(s, topic) > 100
	})
	require.Equal(t, kafkabackup.PhaseFailed, s.Phase, "the backup read on from offset 100: %+v", s.Partitions)
	require.Equal(t, kafkabackup.ErrLogTruncated, s.Reason, "last error: %s", s.LastError)
	require.Contains(t, s.LastError, topic+"/0: the source's log was truncated at offset 50, below offset 100 up to which the backup holds its records")

	store, err := blobstore.Open(ctx, storage, secrets.Map{})
	require.NoError(t, err)
	defer store.Close()
	layout, _ := blobstore.Kafka("default/" + name)
	m, err := catalog.Read(ctx, store, layout)
	require.NoError(t, err)
	require.Equal(t, int64(100), m.Topics[0].Data[0].NextOffset)
	got := readPartition(t, store, m.Topics[0].Data[0])
	require.Len(t, got, 100)
	for i, r := range got {
		require.Equal(t, int64(i), r.Offset)
		require.Equal(t, fmt.Sprintf("v%d", i), string(r.Value), "offset %d holds the record the source had before the truncation", i)
	}
}

// sendOnceServed writes records first..first+n-1 of sendNumbered's sequence, trying again
// while the broker (re)starts and its partition gets a leader.
func sendOnceServed(t *testing.T, bootstrap, topic string, first, n int, base time.Time) {
	testenv.Eventually(t, time.Minute, fmt.Sprintf("records %d-%d written to %s", first, first+n-1, topic), func() (bool, string) {
		err := sendNumbered(bootstrap, topic, first, n, base)
		return err == nil, fmt.Sprint(err)
	})
}

// offsetsOf is the high watermark of topic's partition 0.
func offsetsOf(t *testing.T, bootstrap, topic string) int64 {
	cl, err := sarama.NewClient([]string{bootstrap}, saramaConfig())
	require.NoError(t, err)
	defer cl.Close()
	end, err := cl.GetOffset(topic, 0, sarama.OffsetNewest)
	require.NoError(t, err)
	return end
}
