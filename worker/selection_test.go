package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"arkive.io/arkive/api/status"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/catalog"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkabackup"
)

// Issue 22, point 6, on the real broker: a glob stream minus excludeTopics minus a disabled
// stream backs up exactly the remaining topics; disabling every stream pauses the backup
// (AllStreamsDisabled); enabled: false pauses it (PausedBySpec) and enabled: true again resumes
// it, continuing from its committed offsets.
func TestStreamSelectionExcludesAndEnabled(t *testing.T) {
	t.Parallel() // waits on intervals and timeouts, nearly idle: overlapped with the other waiting tests
	bootstrap := testenv.Kafka(t)
	ctx := context.Background()
	prefix := fmt.Sprintf("sel%d", time.Now().UnixNano())
	topics := map[string]string{}
	for _, n := range []string{"a", "b", "c"} {
		topics[n] = testenv.Topic(t, prefix+"-"+n, 1, nil)
	}
	p, err := sarama.NewSyncProducer([]string{bootstrap}, saramaConfig())
	require.NoError(t, err)
	defer p.Close()
	produceN := func(topic string, n int) {
		for i := range n {
			_, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprint(i))})
			require.NoError(t, err)
		}
	}
	for _, topic := range topics {
		produceN(topic, 10)
	}

	storage := arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: t.TempDir()}}
	c, queue := startWorker(t, secrets.Map{})
	kj, _ := json.Marshal(arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}})
	sj, _ := json.Marshal(storage)
	spec := kafkabackup.Spec{Enabled: true, Mode: kafkabackup.ModeContinuous,
		Streams: []kafkabackup.Stream{{Topic: prefix + "-*", Enabled: true}, {Topic: topics["c"], Enabled: false}},
		Exclude: []string{topics["b"]}, Compression: kafkabackup.Compression{Codec: "zstd"}, MaxSegmentBytes: 1 << 20,
		MaxSegmentInterval: time.Second, DiscoveryInterval: time.Second}
	in := kafkabackup.Input{Connection: kafkabackup.Connection{Namespace: "default", Backup: "default/" + prefix, Kafka: kj, Storage: sj}, Spec: spec}
	wid := workflows.WorkflowID("KafkaBackup", "default", prefix)
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wid, TaskQueue: queue}, kafkabackup.WorkflowName, in)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), wid, "", "test done") })
	waitForStatus(t, c, wid, func(s kafkabackup.Status) bool { return topicCommitted(s, topics["a"]) == 10 })

	store, err := blobstore.Open(ctx, storage, nil)
	require.NoError(t, err)
	defer store.Close()
	layout, _ := blobstore.Kafka(in.Backup)
	m, err := catalog.Read(ctx, store, layout)
	require.NoError(t, err)
	var names []string
	for _, tp := range m.Topics {
		names = append(names, tp.Name)
	}
	require.Equal(t, []string{topics["a"]}, names, "excluded (b) and disabled (c) topics are not backed up")

	update := func(s kafkabackup.Spec) {
		require.NoError(t, c.SignalWorkflow(ctx, wid, "", workflows.SignalUpdate, s))
	}
	off := spec
	off.Streams = []kafkabackup.Stream{{Topic: prefix + "-*", Enabled: false}}
	update(off)
	s := waitForStatus(t, c, wid, func(s kafkabackup.Status) bool { return s.Reason == status.AllStreamsDisabled })
	require.Equal(t, kafkabackup.PhasePaused, s.Phase)

	disabled := spec
	disabled.Enabled = false
	update(disabled)
	s = waitForStatus(t, c, wid, func(s kafkabackup.Status) bool { return s.Reason == status.PausedBySpec })
	require.Equal(t, kafkabackup.PhasePaused, s.Phase)
	produceN(topics["a"], 5)

	update(spec) // enabled: true again
	s = waitForStatus(t, c, wid, func(s kafkabackup.Status) bool { return topicCommitted(s, topics["a"]) == 15 })
	require.Equal(t, kafkabackup.PhaseStreaming, s.Phase)
	m, err = catalog.Read(ctx, store, layout)
	require.NoError(t, err)
	got := readPartition(t, store, m.Topics[0].Data[0])
	require.Len(t, got, 15, "resumed from the committed offset: nothing twice, nothing lost")
	for i, r := range got {
		require.Equal(t, int64(i), r.Offset, "record %d", i)
	}
}
