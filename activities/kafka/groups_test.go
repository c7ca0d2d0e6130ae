package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows/kafkabackup"
	"arkive.io/arkive/workflows/kafkarestore"
)

// A discovery keeps the committed offsets of the groups its patterns select, on the backup's
// topics only: each group is asked for all it committed (one short answer per group, where
// naming the backup's partitions made every answer list all of them), so what it committed on
// other topics, and groups that committed only there, must be left out here.
func TestDiscoveryKeepsGroupOffsetsOnTheBackupsTopicsOnly(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	backedUp := testenv.Topic(t, "groups-backed-up", 3, nil)
	other := testenv.Topic(t, "groups-other", 2, nil)
	client, err := sarama.NewClient([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer client.Close()
	prefix := fmt.Sprintf("groups-%d", time.Now().UnixNano())
	both, onlyOther, unselected := prefix+"-both", prefix+"-only-other", "x"+prefix
	commitOffsets(t, client, both, map[string]map[int32]int64{backedUp: {0: 11, 2: 7}, other: {1: 5}})
	commitOffsets(t, client, onlyOther, map[string]map[int32]int64{other: {0: 3}})
	commitOffsets(t, client, unselected, map[string]map[int32]int64{backedUp: {1: 9}})

	kj, err := json.Marshal(arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}})
	require.NoError(t, err)
	a := &Activities{Secrets: func(string) secrets.Resolver { return secrets.Map{} }}
	res, err := a.Discover(context.Background(), kafkabackup.DiscoverInput{Connection: kafkabackup.Connection{Namespace: "default", Kafka: kj},
		Include: []string{backedUp}, CaptureGroups: true, Groups: []string{prefix + "-*"}})
	require.NoError(t, err)
	require.Equal(t, []archive.GroupOffset{
		{Group: both, Topic: backedUp, Partition: 0, Offset: 11},
		{Group: both, Topic: backedUp, Partition: 2, Offset: 7},
	}, res.Groups)
}

// commitOffsets commits offsets for a group without members, as a consumer that stopped would
// have left them.
func commitOffsets(t *testing.T, client sarama.Client, group string, offsets map[string]map[int32]int64) {
	t.Helper()
	coordinator, err := client.Coordinator(group)
	require.NoError(t, err)
	req := &sarama.OffsetCommitRequest{Version: 2, ConsumerGroup: group, ConsumerGroupGeneration: -1, RetentionTime: -1}
	for topic, ps := range offsets {
		for p, o := range ps {
			req.AddBlock(topic, p, o, 0, "")
		}
	}
	resp, err := coordinator.CommitOffset(req)
	require.NoError(t, err)
	for topic, ps := range resp.Errors {
		for p, e := range ps {
			require.Equal(t, sarama.ErrNoError, e, "%s %s/%d", group, topic, p)
		}
	}
}

// A restore commits the translated offsets of many groups, and each group reads back exactly
// its own offsets on every partition.
func TestRestoreGroupOffsetsCommitsEveryGroup(t *testing.T) {
	env, conn, bootstrap := restoreEnv(t)
	topic := testenv.Topic(t, "groups-restored", 3, nil)
	in, check := manyGroups(t, conn, bootstrap, topic, 100, 3)
	_, err := env.ExecuteActivity(kafkarestore.ActivityGroups, in)
	require.NoError(t, err)
	check()
}

// manyGroups is the input of a restore of groups groups' offsets on parts partitions of topic
// each, and a check that the target holds exactly those.
func manyGroups(t testing.TB, conn kafkarestore.Connection, bootstrap, topic string, groups int, parts int32) (kafkarestore.GroupsInput, func()) {
	prefix := fmt.Sprintf("groups-restored-%d", time.Now().UnixNano())
	in := kafkarestore.GroupsInput{Connection: conn}
	for g := range groups {
		for p := range parts {
			in.Groups = append(in.Groups, kafkarestore.TranslatedGroup{Group: fmt.Sprintf("%s-%03d", prefix, g), Topic: topic, Partition: p, Offset: int64(1000*g) + int64(p)})
		}
	}
	return in, func() {
		admin, err := sarama.NewClusterAdmin([]string{bootstrap}, testenv.ProducerConfig())
		require.NoError(t, err)
		defer admin.Close()
		all := make([]int32, parts)
		for p := range parts {
			all[p] = p
		}
		for g := range groups {
			group := fmt.Sprintf("%s-%03d", prefix, g)
			got, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: all})
			require.NoError(t, err)
			for p := range parts {
				b := got.GetBlock(topic, p)
				require.NotNil(t, b, "%s partition %d", group, p)
				require.Equal(t, int64(1000*g)+int64(p), b.Offset, "%s partition %d", group, p)
			}
		}
	}
}

// BenchmarkRestoreGroupOffsetsDistant: a restore's last step, committing 200 groups' offsets
// on 3 partitions each, into a target 25 ms away each way (testenv.DistantKafka).
// round-trips-per-group is the time taken in round trips of 50 ms, per group: what a restore
// into another region waits at its end for each group it carries.
func BenchmarkRestoreGroupOffsetsDistant(b *testing.B) {
	const oneWay, groups = 25 * time.Millisecond, 200
	topic := testenv.Topic(b, "groups-distant", 3, nil)
	env, conn, _ := restoreEnvAt(b, testenv.DistantKafka(b, oneWay).Addr)
	var took time.Duration
	for range b.N {
		in, check := manyGroups(b, conn, testenv.Kafka(b), topic, groups, 3)
		start := time.Now()
		_, err := env.ExecuteActivity(kafkarestore.ActivityGroups, in)
		took += time.Since(start)
		require.NoError(b, err)
		check()
	}
	b.ReportMetric(took.Seconds()/float64(b.N), "s")
	b.ReportMetric(float64(took)/float64(b.N)/float64(2*oneWay)/groups, "round-trips-per-group")
}

// A group with a member on the target is refused by name, as permanent, and nothing is
// committed for any group of the request: its consumer would overwrite the offsets.
func TestRestoreGroupOffsetsRefusesActiveGroups(t *testing.T) {
	env, conn, bootstrap := restoreEnv(t)
	topic := testenv.Topic(t, "groups-active", 1, nil)
	in, _ := manyGroups(t, conn, bootstrap, topic, 3, 1)
	busy := in.Groups[1].Group

	joinGroup(t, bootstrap, busy, topic)

	_, err := env.ExecuteActivity(kafkarestore.ActivityGroups, in)
	requirePermanent(t, err, kafkarestore.ErrGroupActive, busy+" (Stable, 1 members)")
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer admin.Close()
	for _, g := range in.Groups {
		got, err := admin.ListConsumerGroupOffsets(g.Group, map[string][]int32{topic: {0}})
		require.NoError(t, err)
		require.Equal(t, int64(-1), got.GetBlock(topic, 0).Offset, "group %s has no commit", g.Group)
	}
}

// joinGroup starts a consumer in group on topic and returns once it has joined; it leaves
// when the test ends.
func joinGroup(t *testing.T, bootstrap, group, topic string) {
	t.Helper()
	cfg := testenv.ProducerConfig()
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cg, err := sarama.NewConsumerGroup([]string{bootstrap}, group, cfg)
	require.NoError(t, err)
	joined := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = cg.Consume(ctx, []string{topic}, &joiningHandler{joined: joined})
	}()
	t.Cleanup(func() { cancel(); <-done; cg.Close() })
	select {
	case <-joined:
	case <-time.After(30 * time.Second):
		t.Fatal("the consumer did not join its group")
	}
}

// joiningHandler says when its consumer has joined the group, and then waits.
type joiningHandler struct{ joined chan struct{} }

func (h *joiningHandler) Setup(sarama.ConsumerGroupSession) error {
	close(h.joined)
	return nil
}
func (h *joiningHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *joiningHandler) ConsumeClaim(s sarama.ConsumerGroupSession, _ sarama.ConsumerGroupClaim) error {
	<-s.Context().Done()
	return nil
}

// BenchmarkDiscoverGroupsDistant: a backup's discovery of one 3-partition topic and the
// offsets 200 groups committed on it, from a cluster 25 ms away each way
// (testenv.DistantKafka). round-trips-per-group is the discovery's time in round trips of
// 50 ms, per group: every cycle of a backup of a cluster in another region waits that long.
func BenchmarkDiscoverGroupsDistant(b *testing.B) {
	const oneWay, groups = 25 * time.Millisecond, 200
	bootstrap := testenv.Kafka(b)
	topic := testenv.Topic(b, "groups-discovered", 3, nil)
	env, conn, _ := restoreEnvAt(b, bootstrap)
	in, _ := manyGroups(b, conn, bootstrap, topic, groups, 3)
	_, err := env.ExecuteActivity(kafkarestore.ActivityGroups, in)
	require.NoError(b, err)
	prefix := strings.TrimSuffix(in.Groups[0].Group, "-000")
	far := testenv.DistantKafka(b, oneWay)
	kj, err := json.Marshal(arkivev1.KafkaClusterSpec{BootstrapServers: []string{far.Addr}})
	require.NoError(b, err)
	a := &Activities{Secrets: func(string) secrets.Resolver { return secrets.Map{} }}
	var took time.Duration
	for range b.N {
		start := time.Now()
		res, err := a.Discover(context.Background(), kafkabackup.DiscoverInput{Connection: kafkabackup.Connection{Namespace: "default", Kafka: kj},
			Include: []string{topic}, CaptureGroups: true, Groups: []string{prefix + "-*"}})
		took += time.Since(start)
		require.NoError(b, err)
		require.Len(b, res.Groups, groups*3)
	}
	b.ReportMetric(took.Seconds()/float64(b.N), "s")
	b.ReportMetric(float64(took)/float64(b.N)/float64(2*oneWay)/groups, "round-trips-per-group")
}
