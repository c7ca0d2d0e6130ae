package kafka

import (
	"context"
	"encoding/json"
	"fmt"
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
	const groups = 100
	prefix := fmt.Sprintf("groups-restored-%d", time.Now().UnixNano())
	var in kafkarestore.GroupsInput
	in.Connection = conn
	for g := range groups {
		for p := range int32(3) {
			in.Groups = append(in.Groups, kafkarestore.TranslatedGroup{Group: fmt.Sprintf("%s-%03d", prefix, g), Topic: topic, Partition: p, Offset: int64(1000*g) + int64(p)})
		}
	}
	_, err := env.ExecuteActivity(kafkarestore.ActivityGroups, in)
	require.NoError(t, err)
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer admin.Close()
	for g := range groups {
		group := fmt.Sprintf("%s-%03d", prefix, g)
		got, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1, 2}})
		require.NoError(t, err)
		for p := range int32(3) {
			b := got.GetBlock(topic, p)
			require.NotNil(t, b, "%s partition %d", group, p)
			require.Equal(t, int64(1000*g)+int64(p), b.Offset, "%s partition %d", group, p)
		}
	}
}
