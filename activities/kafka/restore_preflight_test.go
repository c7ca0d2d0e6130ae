package kafka

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows/kafkarestore"
)

// The topics a preflight creates answer an offset request on every partition as soon as it
// returns: each restore stream first asks its target partitions' leaders for their end
// offsets, and a broker names a new partition's leader before that leader has set it up
// (a fifth of the 2,000-partition scale test's streams lost two of their three attempts to
// NotLeaderForPartition). An existing target's baselines, read two requests per leader, are its
// partitions' end offsets.
func TestPreflightReturnsOnceCreatedPartitionsAnswer(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	cluster, err := json.Marshal(arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}})
	require.NoError(t, err)
	conn := kafkarestore.Connection{Namespace: "default", Backup: "default/preflight", Kafka: cluster}
	a := &Activities{Secrets: func(string) secrets.Resolver { return secrets.Map{} }}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(a.PreflightRestore, activity.RegisterOptions{Name: kafkarestore.ActivityPreflight})

	const partitions = 1000
	existing := testenv.Topic(t, "preflight-existing", 4, nil)
	// A second existing target with a config of its own: the targets' configs and bounds are
	// asked for all of them at once, and each must get its own.
	larger := "2097152"
	other := testenv.Topic(t, "preflight-other", 2, map[string]*string{"max.message.bytes": &larger})
	var msgs []*sarama.ProducerMessage
	for i := range 10 {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: existing, Partition: int32(i % 3), Value: sarama.StringEncoder(fmt.Sprint(i))})
	}
	for i := range 5 {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: other, Value: sarama.StringEncoder(fmt.Sprint(i))})
	}
	producer, err := sarama.NewSyncProducer([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	require.NoError(t, producer.SendMessages(msgs))
	require.NoError(t, producer.Close())
	created := fmt.Sprintf("preflight-created-%d", time.Now().UnixNano())
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer admin.Close()
	t.Cleanup(func() { _ = admin.DeleteTopic(created) }) // a thousand partitions less on the shared broker

	v, err := env.ExecuteActivity(kafkarestore.ActivityPreflight, kafkarestore.PreflightInput{Connection: conn,
		Spec: kafkarestore.Spec{CreateTopics: true, AllowNonEmpty: true, PartitionMapping: kafkarestore.MappingSame},
		Plan: kafkarestore.Plan{Topics: []kafkarestore.PlannedTopic{
			{Source: "a", Target: created, Partitions: partitions},
			{Source: "b", Target: existing, Partitions: 4},
			{Source: "c", Target: other, Partitions: 2},
		}}})
	require.NoError(t, err)
	var res kafkarestore.PreflightResult
	require.NoError(t, v.Get(&res))

	// At once, one request per leader, no retry: every partition answers.
	client, err := sarama.NewClient([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer client.Close()
	require.NoError(t, client.RefreshMetadata(created))
	byLeader := map[*sarama.Broker][]int32{}
	for p := range int32(partitions) {
		b, err := client.Leader(created, p)
		require.NoError(t, err, "partition %d", p)
		byLeader[b] = append(byLeader[b], p)
	}
	answered := 0
	for b, ps := range byLeader {
		req := sarama.NewOffsetRequest(client.Config().Version)
		for _, p := range ps {
			req.AddBlock(created, p, sarama.OffsetNewest, 1)
		}
		resp, err := b.GetAvailableOffsets(req)
		require.NoError(t, err)
		for _, p := range ps {
			block := resp.GetBlock(created, p)
			require.NotNil(t, block, "partition %d", p)
			require.Equal(t, sarama.ErrNoError, block.Err, "partition %d answers once the preflight returned", p)
			answered++
		}
	}
	require.Equal(t, partitions, answered)

	require.Len(t, res.Targets, 3)
	require.Equal(t, created, res.Targets[0].Name)
	require.Equal(t, make(kafkarestore.Offsets, partitions), res.Targets[0].Baseline)
	require.Equal(t, []string{created}, res.Created)
	want := endOffsetsOf(t, client, existing, 4)
	require.Equal(t, kafkarestore.Offsets(want), res.Targets[1].Baseline)
	require.NotEqual(t, make([]int64, 4), want, "the existing topic holds records")
	require.Equal(t, other, res.Targets[2].Name)
	wantOther := endOffsetsOf(t, client, other, 2)
	require.Equal(t, kafkarestore.Offsets(wantOther), res.Targets[2].Baseline)
	require.Equal(t, int64(5), wantOther[0]+wantOther[1], "the other topic holds its five records")
	require.Equal(t, int64(2097152), res.Targets[2].MaxMessageBytes, "its own max.message.bytes")
	require.NotEqual(t, int64(2097152), res.Targets[1].MaxMessageBytes)
}

func endOffsetsOf(t *testing.T, client sarama.Client, topic string, partitions int32) []int64 {
	t.Helper()
	var out []int64
	for p := range partitions {
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		require.NoError(t, err)
		out = append(out, end)
	}
	return out
}

// A preflight that finds problems with thousands of topics names the first
// maxPreflightProblems and counts the rest: the message goes into the workflow's history and
// the resource's status.
func TestPreflightNamesTheFirstProblemsAndCountsTheRest(t *testing.T) {
	cluster, err := json.Marshal(arkivev1.KafkaClusterSpec{BootstrapServers: []string{testenv.Kafka(t)}})
	require.NoError(t, err)
	a := &Activities{Secrets: func(string) secrets.Resolver { return secrets.Map{} }}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(a.PreflightRestore, activity.RegisterOptions{Name: kafkarestore.ActivityPreflight})
	var plan kafkarestore.Plan
	prefix := fmt.Sprintf("preflight-missing-%d", time.Now().UnixNano())
	for i := range maxPreflightProblems + 30 {
		plan.Topics = append(plan.Topics, kafkarestore.PlannedTopic{Source: "a", Target: fmt.Sprintf("%s-%03d", prefix, i), Partitions: 1})
	}
	_, err = env.ExecuteActivity(kafkarestore.ActivityPreflight, kafkarestore.PreflightInput{
		Connection: kafkarestore.Connection{Namespace: "default", Backup: "default/preflight", Kafka: cluster},
		Spec:       kafkarestore.Spec{PartitionMapping: kafkarestore.MappingSame}, Plan: plan})
	require.ErrorContains(t, err, prefix+"-000 does not exist and spec.createTopics is false")
	require.ErrorContains(t, err, fmt.Sprintf("%s-%03d does not exist", prefix, maxPreflightProblems-1))
	require.NotContains(t, err.Error(), fmt.Sprintf("%s-%03d", prefix, maxPreflightProblems))
	require.ErrorContains(t, err, "and 30 more problems")
}
