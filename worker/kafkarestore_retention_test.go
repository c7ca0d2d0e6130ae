package worker_test

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"arkive.io/arkive/activities/kafka"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows/kafkarestore"
)

// A restore attempt that dies after writing past its checkpoint is resumed by an attempt that
// reads those records back instead of writing them again. When the target's retention has
// deleted some of them meanwhile (old records restored into a topic with a short retention),
// the resumed attempt counts the deleted ones as written and verifies the rest: before, it
// failed on every retry with "offset outside the range".
func TestKafkaRestoreResumesPastRetention(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	sr := secrets.Map{}
	c, queue := startWorker(t, sr)
	storage := arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: t.TempDir()}}
	topic := testenv.Topic(t, "ret", 1, nil)
	produceNumbered(t, bootstrap, topic, 1000, time.UnixMilli(1_700_000_000_000).UTC())
	backupOnce(t, c, queue, bootstrap, storage, "default/ret", topic)

	target := topic + "-restored"
	wid := startRestore(t, c, queue, bootstrap, storage, "default/ret", kafkarestore.Spec{
		Topics: []kafkarestore.TopicMapping{{Source: topic, Target: target}}, CreateTopics: true})
	s := restoreStatus(t, c, wid)
	require.Equal(t, kafkarestore.PhaseDone, s.Phase, "%s %s", s.Reason, s.LastError)

	// Retention deletes the first 600 of the records an attempt that "died" wrote past its
	// checkpoint at 0.
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer admin.Close()
	require.NoError(t, admin.DeleteRecords(target, map[int32]int64{0: 600}))

	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	a := &kafka.Activities{Secrets: func(string) secrets.Resolver { return sr }}
	env.RegisterActivity(a.Restore)
	in := kafkarestore.RestoreInput{Connection: kafkarestore.Connection{Namespace: "default", Backup: "default/ret",
		Kafka: specJSON(t, arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}}), Storage: specJSON(t, storage)},
		Stream: s.Plan.Streams[0], Target: kafkarestore.TargetTopic{Name: target, Partitions: 1, MaxMessageBytes: 1 << 20, Baseline: []int64{0}},
		Mapping: kafkarestore.MappingSame, Generation: s.Plan.Generation, Resume: &kafkarestore.Progress{Target: []int64{0}}}
	v, err := env.ExecuteActivity(a.Restore, in)
	require.NoError(t, err)
	var p kafkarestore.Progress
	require.NoError(t, v.Get(&p))
	require.True(t, p.Done)
	require.EqualValues(t, 1000, p.Verified, "every record was found written (600 deleted, 400 read back)")
	require.Equal(t, kafkarestore.Offsets{1000}, p.Target)
	require.Equal(t, map[int32]int64{0: 1000}, endOffsets(t, bootstrap, target), "nothing written twice")
}
