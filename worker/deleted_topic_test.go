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
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkabackup"
)

// A topic the backup selects is deleted from the source while a continuous backup runs: the
// backup goes on with the other topic (it used to stop in Failed with TopicNotFound until a
// person resumed it), the status warns, and the next cycle discovers again at once (the
// discovery interval here is an hour), leaving the topic out of the partitions it reports.
func TestContinuousBackupGoesOnWhenATopicIsDeleted(t *testing.T) {
	t.Parallel() // waits on cycles, nearly idle: overlapped with the other waiting tests
	bootstrap := testenv.Kafka(t)
	ctx := context.Background()
	prefix := fmt.Sprintf("del%d", time.Now().UnixNano())
	keep := testenv.Topic(t, prefix+"-keep", 1, nil)
	drop := testenv.Topic(t, prefix+"-drop", 1, nil)
	base := time.Now()
	produceNumbered(t, bootstrap, keep, 10, base)
	produceNumbered(t, bootstrap, drop, 10, base)

	storage := arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: t.TempDir()}}
	c, queue := startWorker(t, secrets.Map{})
	kj, _ := json.Marshal(arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}})
	sj, _ := json.Marshal(storage)
	spec := kafkabackup.Spec{Enabled: true, Mode: kafkabackup.ModeContinuous, Streams: []kafkabackup.Stream{{Topic: prefix + "-*", Enabled: true}},
		Compression: kafkabackup.Compression{Codec: "zstd"}, MaxSegmentBytes: 1 << 20, MaxSegmentInterval: time.Second, DiscoveryInterval: time.Hour}
	in := kafkabackup.Input{Connection: kafkabackup.Connection{Namespace: "default", Backup: "default/" + prefix, Kafka: kj, Storage: sj}, Spec: spec}
	wid := workflows.WorkflowID("KafkaBackup", "default", prefix)
	_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wid, TaskQueue: queue}, kafkabackup.WorkflowName, in)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), wid, "", "test done") })
	waitForStatus(t, c, wid, func(s kafkabackup.Status) bool { return topicCommitted(s, keep) == 10 && topicCommitted(s, drop) == 10 })

	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, saramaConfig())
	require.NoError(t, err)
	defer admin.Close()
	require.NoError(t, admin.DeleteTopic(drop))
	deleted := time.Now()
	require.NoError(t, sendNumbered(bootstrap, keep, 10, 10, base))
	warning := "topic " + drop + " was deleted from the source during the backup: what was backed up before stays in the backup"
	s := waitForStatus(t, c, wid, func(s kafkabackup.Status) bool {
		return s.Phase == kafkabackup.PhaseFailed || (topicCommitted(s, keep) == 20 && topicCommitted(s, drop) == -1 && slices.Contains(s.Warnings, warning))
	})
	t.Logf("%.1fs after the deletion: %s", time.Since(deleted).Seconds(), s.Phase)
	require.Equal(t, kafkabackup.PhaseStreaming, s.Phase, "last error: %s", s.LastError)
	require.Empty(t, s.LastError)
}
