package kafka

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
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
	env, conn, bootstrap := restoreEnv(t)

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
	env, conn, _ := restoreEnv(t)
	var plan kafkarestore.Plan
	prefix := fmt.Sprintf("preflight-missing-%d", time.Now().UnixNano())
	for i := range maxPreflightProblems + 30 {
		plan.Topics = append(plan.Topics, kafkarestore.PlannedTopic{Source: "a", Target: fmt.Sprintf("%s-%03d", prefix, i), Partitions: 1})
	}
	_, err := env.ExecuteActivity(kafkarestore.ActivityPreflight, kafkarestore.PreflightInput{
		Connection: conn,
		Spec:       kafkarestore.Spec{PartitionMapping: kafkarestore.MappingSame}, Plan: plan})
	require.ErrorContains(t, err, prefix+"-000 does not exist and spec.createTopics is false")
	require.ErrorContains(t, err, fmt.Sprintf("%s-%03d does not exist", prefix, maxPreflightProblems-1))
	require.NotContains(t, err.Error(), fmt.Sprintf("%s-%03d", prefix, maxPreflightProblems))
	require.ErrorContains(t, err, "and 30 more problems")
}

// A preflight names each selected group that has members on the target, and only those: a
// restore must not move offsets under running consumers.
func TestPreflightNamesActiveGroups(t *testing.T) {
	env, conn, bootstrap := restoreEnv(t)
	topic := testenv.Topic(t, "preflight-groups", 1, nil)
	prefix := fmt.Sprintf("preflight-groups-%d", time.Now().UnixNano())
	joinGroup(t, bootstrap, prefix+"-busy", topic)
	_, err := env.ExecuteActivity(kafkarestore.ActivityPreflight, kafkarestore.PreflightInput{
		Connection: conn,
		Spec:       kafkarestore.Spec{PartitionMapping: kafkarestore.MappingSame},
		Plan:       kafkarestore.Plan{GroupNames: []string{prefix + "-idle", prefix + "-busy"}}})
	requirePermanent(t, err, kafkarestore.ErrPreflight, "consumer group "+prefix+"-busy is Stable on the target with 1 member(s); stop its consumers first")
	require.NotContains(t, err.Error(), prefix+"-idle")
}

// A restore of hundreds of topics into an empty cluster creates them many to a request, each
// with its captured partition count and configs, and a topic larger than a request's bound
// still gets a request of its own (the KRaft controller refuses a whole request of more than
// 10,000 metadata records; the bound is lowered here so that 300 topics take several).
func TestPreflightCreatesManyTopicsInBatches(t *testing.T) {
	env, conn, bootstrap := restoreEnv(t)
	SetCreateRecords(t, 50)

	const n = 300
	prefix := fmt.Sprintf("preflight-many-%d", time.Now().UnixNano())
	var plan kafkarestore.Plan
	var names []string
	for i := range n {
		pt := kafkarestore.PlannedTopic{Source: "a", Target: fmt.Sprintf("%s-%03d", prefix, i), Partitions: int32(1 + i%2),
			Configs: map[string]string{"retention.ms": fmt.Sprint(3600000 + i)}}
		if i == 7 {
			pt.Partitions = 60 // over the lowered bound by itself
		}
		plan.Topics = append(plan.Topics, pt)
		names = append(names, pt.Target)
	}
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer admin.Close()
	t.Cleanup(func() {
		for _, name := range names {
			_ = admin.DeleteTopic(name)
		}
	})
	start := time.Now()
	v, err := env.ExecuteActivity(kafkarestore.ActivityPreflight, kafkarestore.PreflightInput{
		Connection: conn,
		Spec:       kafkarestore.Spec{CreateTopics: true, PartitionMapping: kafkarestore.MappingSame}, Plan: plan})
	require.NoError(t, err)
	t.Logf("created %d topics in %v", n, time.Since(start))
	var res kafkarestore.PreflightResult
	require.NoError(t, v.Get(&res))
	require.ElementsMatch(t, names, res.Created)

	metas, err := admin.DescribeTopics(names)
	require.NoError(t, err)
	require.Len(t, metas, n)
	for _, m := range metas {
		require.Equal(t, sarama.ErrNoError, m.Err, "topic %s", m.Name)
		var i int
		_, err := fmt.Sscanf(m.Name[len(prefix)+1:], "%d", &i)
		require.NoError(t, err)
		require.Len(t, m.Partitions, int(plan.Topics[i].Partitions), "topic %s", m.Name)
	}
	client, err := sarama.NewClient([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer client.Close()
	configs, errs, err := describeTopics(client, names, []string{"retention.ms"})
	require.NoError(t, err)
	require.Empty(t, errs)
	for i, name := range names {
		require.Len(t, configs[name], 1, "topic %s", name)
		require.Equal(t, fmt.Sprint(3600000+i), configs[name][0].Value, "topic %s keeps its captured config", name)
	}
}

// A target topic the cluster refuses to create (here a config value it does not accept) is a
// preflight problem that names the topic and the broker's reason, and no topic is created:
// every creation is validated before the first one is made, so a bad config does not leave
// the target with half of the restore's topics.
func TestPreflightCreatesNoTopicWhenOneIsRefused(t *testing.T) {
	env, conn, bootstrap := restoreEnv(t)
	SetCreateRecords(t, 5) // the good topics and the bad one in requests of their own

	prefix := fmt.Sprintf("preflight-refused-%d", time.Now().UnixNano())
	good := []string{prefix + "-a", prefix + "-b", prefix + "-d"}
	bad := prefix + "-c"
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer admin.Close()
	t.Cleanup(func() {
		for _, name := range append(good, bad) {
			_ = admin.DeleteTopic(name)
		}
	})
	plan := kafkarestore.Plan{Topics: []kafkarestore.PlannedTopic{
		{Source: "a", Target: good[0], Partitions: 2},
		{Source: "b", Target: good[1], Partitions: 1},
		{Source: "c", Target: bad, Partitions: 1, Configs: map[string]string{"cleanup.policy": "shred"}},
		{Source: "d", Target: good[2], Partitions: 1},
	}}
	_, err = env.ExecuteActivity(kafkarestore.ActivityPreflight, kafkarestore.PreflightInput{
		Connection: conn,
		Spec:       kafkarestore.Spec{CreateTopics: true, PartitionMapping: kafkarestore.MappingSame}, Plan: plan})
	require.ErrorContains(t, err, "target topic "+bad+" cannot be created")
	require.ErrorContains(t, err, "cleanup.policy")
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, kafkarestore.ErrPreflight, appErr.Type())
	require.True(t, appErr.NonRetryable(), "a refused config is not retried")
	topics, err := admin.ListTopics()
	require.NoError(t, err)
	for _, name := range append(good, bad) {
		require.NotContains(t, topics, name, "no topic is created when one is refused")
	}
}

// restoreEnv runs PreflightRestore and RestoreGroupOffsets against the test broker, whose
// address it returns.
func restoreEnv(t *testing.T) (*testsuite.TestActivityEnvironment, kafkarestore.Connection, string) {
	t.Helper()
	return restoreEnvAt(t, testenv.Kafka(t))
}

// restoreEnvAt is restoreEnv with a target at bootstrap.
func restoreEnvAt(t testing.TB, bootstrap string) (*testsuite.TestActivityEnvironment, kafkarestore.Connection, string) {
	t.Helper()
	cluster, err := json.Marshal(arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}})
	require.NoError(t, err)
	a := &Activities{Secrets: func(string) secrets.Resolver { return secrets.Map{} }}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(a.PreflightRestore, activity.RegisterOptions{Name: kafkarestore.ActivityPreflight})
	env.RegisterActivityWithOptions(a.RestoreGroupOffsets, activity.RegisterOptions{Name: kafkarestore.ActivityGroups})
	return env, kafkarestore.Connection{Namespace: "default", Backup: "default/preflight", Kafka: cluster}, bootstrap
}

// BenchmarkPreflightGroupsDistant: a preflight that checks 200 groups are idle on a target
// 25 ms away each way (testenv.DistantKafka); round-trips-per-group as in
// BenchmarkRestoreGroupOffsetsDistant.
func BenchmarkPreflightGroupsDistant(b *testing.B) {
	const oneWay, groups = 25 * time.Millisecond, 200
	env, conn, _ := restoreEnvAt(b, testenv.DistantKafka(b, oneWay).Addr)
	var names []string
	for i := range groups {
		names = append(names, fmt.Sprintf("preflight-distant-%d-%03d", time.Now().UnixNano(), i))
	}
	var took time.Duration
	for range b.N {
		start := time.Now()
		_, err := env.ExecuteActivity(kafkarestore.ActivityPreflight, kafkarestore.PreflightInput{Connection: conn,
			Spec: kafkarestore.Spec{PartitionMapping: kafkarestore.MappingSame}, Plan: kafkarestore.Plan{GroupNames: names}})
		took += time.Since(start)
		require.NoError(b, err)
	}
	b.ReportMetric(took.Seconds()/float64(b.N), "s")
	b.ReportMetric(float64(took)/float64(b.N)/float64(2*oneWay)/groups, "round-trips-per-group")
}
