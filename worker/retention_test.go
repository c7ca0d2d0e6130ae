package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/backups"
	"arkive.io/arkive/internal/blobstore"
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
	m, err := backups.KafkaManifest(ctx, store, layout)
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
	onDisk := []string{}
	prefix, _ := layout.PartitionPrefix(topic, 0)
	it := store.List(nil)
	for {
		obj, err := it.Next(ctx)
		if err != nil {
			break
		}
		if len(obj.Key) > len(prefix) && obj.Key[:len(prefix)] == prefix {
			onDisk = append(onDisk, obj.Key)
		}
	}
	slices.Sort(keys)
	require.Equal(t, keys, onDisk, "storage holds exactly the kept runs' segments")
	got := readPartition(t, store, part)
	require.Len(t, got, 200)
	require.Equal(t, "run2-0", string(got[0].Value))
	require.Equal(t, "run3-99", string(got[199].Value))
	recordHistory(t, c, wid, "kafkabackup-scheduled-retention")
}
