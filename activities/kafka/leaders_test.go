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
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows/kafkabackup"
)

// A restore stream asking for its target's offsets while the broker is still setting the
// partitions up (here: a topic created a moment ago, not waited for) waits for their leaders
// instead of failing its attempt.
func TestTargetOffsetsWaitForLeadersBeingSetUp(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer admin.Close()
	const partitions = 500
	topic := fmt.Sprintf("leaders-being-set-up-%d", time.Now().UnixNano())
	require.NoError(t, admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false))
	t.Cleanup(func() { _ = admin.DeleteTopic(topic) })
	client, err := sarama.NewClient([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer client.Close()
	for p := range int32(partitions) {
		end, err := offsetOnceServed(context.Background(), client, topic, p, sarama.OffsetNewest)
		require.NoError(t, err, "partition %d", p)
		require.Zero(t, end)
	}
}

// A backup's discovery that meets a topic created a moment ago (its include pattern matches
// topics as they come) waits for the new partitions' leaders. Without the wait it failed here
// with NotLeaderForPartition in every try (an attempt lost); a broker can also answer
// UnknownTopicOrPartition then, which classify takes for a deleted topic: the backup failed
// for good until someone resumed it.
func TestDiscoveryWaitsForANewTopicsLeaders(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer admin.Close()
	kj, err := json.Marshal(arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}})
	require.NoError(t, err)
	a := &Activities{Secrets: func(string) secrets.Resolver { return secrets.Map{} }}
	const partitions = 500
	topic := fmt.Sprintf("discover-new-%d", time.Now().UnixNano())
	require.NoError(t, admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false))
	t.Cleanup(func() { _ = admin.DeleteTopic(topic) })
	deadline := time.Now().Add(time.Minute)
	for {
		res, err := a.Discover(context.Background(), kafkabackup.DiscoverInput{Connection: kafkabackup.Connection{Namespace: "default", Kafka: kj}, Include: []string{topic}})
		require.NoError(t, err)
		if len(res.Topics) == 1 {
			require.Len(t, res.Topics[0].Partitions, partitions)
			for _, p := range res.Topics[0].Partitions {
				require.Zero(t, p.HighWatermark, "partition %d", p.Partition)
			}
			return
		}
		require.True(t, time.Now().Before(deadline), "the topic never showed in the metadata")
		time.Sleep(10 * time.Millisecond) // polling interval: as soon as the metadata names it
	}
}

// Only a topic the broker no longer lists is taken for deleted: not one that answers
// UnknownTopicOrPartition while it is listed (being set up, its leader moving), nor another
// error.
func TestTopicDeletedOnlyWhenNoLongerListed(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	topic := testenv.Topic(t, "deleted", 1, nil)
	client, err := sarama.NewClient([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer client.Close()
	require.NoError(t, client.RefreshMetadata(topic))
	require.False(t, topicDeleted(client, topic, sarama.ErrUnknownTopicOrPartition), "listed")

	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer admin.Close()
	require.NoError(t, admin.DeleteTopic(topic))
	for deadline := time.Now().Add(time.Minute); !topicDeleted(client, topic, fmt.Errorf("offsets: %w", sarama.ErrUnknownTopicOrPartition)); time.Sleep(50 * time.Millisecond) { // polling interval
		require.True(t, time.Now().Before(deadline), "the deleted topic was never taken for deleted")
	}
	require.False(t, topicDeleted(client, topic, sarama.ErrNotLeaderForPartition), "another answer")
	require.False(t, topicDeleted(client, topic, nil))
}

// A backup's metadata requests never create a topic: on a broker with
// auto.create.topics.enable (Kafka's default), sarama's default would create again a topic
// deleted while it was being captured, each time the consumer looked for its leader.
func TestClientsNeverCreateTopics(t *testing.T) {
	cfg, err := Config(context.Background(), arkivev1.KafkaClusterSpec{BootstrapServers: []string{"localhost:9092"}}, secrets.Map{})
	require.NoError(t, err)
	require.False(t, cfg.Metadata.AllowAutoTopicCreation)
}
