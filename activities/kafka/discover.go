package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"sync"

	"github.com/IBM/sarama"
	"go.temporal.io/sdk/temporal"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/workflows/kafkabackup"
)

// Discover lists the topics a backup selects, with their partitions' offsets and, if asked,
// their configs (so a restore can recreate them).
func (a *Activities) Discover(ctx context.Context, in kafkabackup.DiscoverInput) (kafkabackup.DiscoverResult, error) {
	for _, g := range slices.Concat(in.Include, in.Exclude, in.Disabled) {
		if _, err := path.Match(g, ""); err != nil {
			return kafkabackup.DiscoverResult{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("topic pattern %q: %v", g, err), kafkabackup.ErrInvalidSpec, nil)
		}
	}
	var kspec arkivev1.KafkaClusterSpec
	if err := json.Unmarshal(in.Kafka, &kspec); err != nil {
		return kafkabackup.DiscoverResult{}, temporal.NewNonRetryableApplicationError("kafka cluster spec: "+err.Error(), kafkabackup.ErrInvalidSpec, nil)
	}
	cfg, err := Config(ctx, kspec, a.Secrets(in.Namespace))
	if err != nil {
		return kafkabackup.DiscoverResult{}, temporal.NewNonRetryableApplicationError(err.Error(), kafkabackup.ErrInvalidSpec, nil)
	}
	client, err := sarama.NewClient(kspec.BootstrapServers, cfg)
	if err != nil {
		return kafkabackup.DiscoverResult{}, classify(fmt.Errorf("connect to %v: %w", kspec.BootstrapServers, err))
	}
	defer client.Close()
	if err := client.RefreshMetadata(); err != nil {
		return kafkabackup.DiscoverResult{}, classify(err)
	}
	names, err := client.Topics()
	if err != nil {
		return kafkabackup.DiscoverResult{}, classify(err)
	}
	slices.Sort(names)
	var res kafkabackup.DiscoverResult
	var selected kafkabackup.Shard
	for _, name := range names {
		disabled := matchAny(in.Disabled, name) && !slices.Contains(in.Include, name) // an exact enabled name wins
		if !matchAny(in.Include, name) || matchAny(in.Exclude, name) || disabled || isInternal(name) {
			continue
		}
		parts, err := client.Partitions(name)
		if topicDeleted(client, name, err) {
			continue // deleted since the listing: as if it had not been listed
		}
		if err != nil {
			return res, classify(fmt.Errorf("partitions of %s: %w", name, err))
		}
		slices.Sort(parts)
		selected.Topics = append(selected.Topics, kafkabackup.ShardTopic{Topic: name, Partitions: parts})
	}
	// Two requests per leader for every partition's offsets, not two per partition: at 2,000
	// partitions those were 4,000 round trips, most of a scheduled run's discovery.
	bounds := shardBounds(client, selected)
topics:
	for _, st := range selected.Topics {
		name := st.Topic
		t := kafkabackup.TopicInfo{Name: name}
		for _, p := range st.Partitions {
			b, ok := bounds[tpKey(name, p)]
			if !ok {
				// Not in a leader's answer (an error, a leader that moved): ask for it alone,
				// which says what is wrong.
				var err error
				if b[0], b[1], err = partitionBounds(ctx, client, name, p); topicDeleted(client, name, err) {
					continue topics // deleted since the listing
				} else if err != nil {
					return res, classify(err)
				}
			}
			t.Partitions = append(t.Partitions, kafkabackup.PartitionInfo{Partition: p, LogStart: b[0], HighWatermark: b[1]})
		}
		res.Topics = append(res.Topics, t)
	}
	ids, err := topicIDs(client, topicNames(res.Topics))
	if err != nil {
		return res, classify(err)
	}
	for i := range res.Topics {
		res.Topics[i].ID = ids[res.Topics[i].Name]
	}
	if in.CaptureConfigs && len(res.Topics) > 0 {
		if err := describeTopicConfigs(client, res.Topics); err != nil {
			return res, classify(err)
		}
	}
	if in.CaptureGroups && len(res.Topics) > 0 {
		if res.Groups, err = groupOffsets(client, res.Topics, in.Groups); err != nil {
			return res, classify(err)
		}
	}
	return res, nil
}

// groupOffsets reads the committed offsets on the given topics of every consumer group that
// matches patterns (all groups when there are none).
func groupOffsets(client sarama.Client, topics []kafkabackup.TopicInfo, patterns []string) ([]archive.GroupOffset, error) {
	// Not closed: closing an admin made from a client closes the client, which the caller owns.
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return nil, err
	}
	groups, err := admin.ListConsumerGroups()
	if err != nil {
		return nil, fmt.Errorf("list consumer groups: %w", err)
	}
	var names []string
	for _, g := range slices.Sorted(maps.Keys(groups)) {
		if len(patterns) == 0 || matchAny(patterns, g) {
			names = append(names, g)
		}
	}
	// One request per group: a few at a time, since a busy cluster has hundreds of groups. Each
	// asks for all the group's commits, not for the backup's partitions by name: a group's
	// answer is then as long as what it committed, where naming 2,000 partitions made every
	// group's request and answer name all of them.
	perGroup := make([][]archive.GroupOffset, len(names))
	errs := make([]error, len(names))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, g := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			resp, err := admin.ListConsumerGroupOffsets(g, nil)
			if err != nil {
				errs[i] = fmt.Errorf("offsets of consumer group %s: %w", g, err)
				return
			}
			for _, t := range topics {
				for _, p := range t.Partitions {
					b := resp.GetBlock(t.Name, p.Partition)
					if b == nil || b.Err != sarama.ErrNoError || b.Offset < 0 {
						continue // no commit by this group here
					}
					perGroup[i] = append(perGroup[i], archive.GroupOffset{Group: g, Topic: t.Name, Partition: p.Partition, Offset: b.Offset, Metadata: b.Metadata})
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return slices.Concat(perGroup...), nil
}

// describeTopicConfigs records the non-default configs of each topic: what a restore must set.
func describeTopicConfigs(client sarama.Client, topics []kafkabackup.TopicInfo) error {
	configs, _, err := describeTopics(client, topicNames(topics), nil) // a topic deleted since listing is left out
	if err != nil {
		return fmt.Errorf("describe topic configs: %w", err)
	}
	for i := range topics {
		for _, e := range configs[topics[i].Name] {
			if e.Default || e.Source == sarama.SourceDefault || e.Source == sarama.SourceStaticBroker || e.Sensitive {
				continue
			}
			if topics[i].Configs == nil {
				topics[i].Configs = map[string]string{}
			}
			topics[i].Configs[e.Name] = e.Value
		}
	}
	return nil
}

// describeTopics reads topic configs (only keys, when given) over the client's connection to
// the controller, as sarama's admin does, rather than opening a second connection per activity.
// Per-topic failures (such as an unknown topic) come back in errs.
func describeTopics(client sarama.Client, topics, keys []string) (configs map[string][]*sarama.ConfigEntry, errs map[string]error, err error) {
	controller, err := client.Controller()
	if err != nil {
		return nil, nil, err
	}
	req := &sarama.DescribeConfigsRequest{Version: 1}
	for _, t := range topics {
		req.Resources = append(req.Resources, &sarama.ConfigResource{Type: sarama.TopicResource, Name: t, ConfigNames: keys})
	}
	resp, err := controller.DescribeConfigs(req)
	if err != nil {
		return nil, nil, err
	}
	configs, errs = map[string][]*sarama.ConfigEntry{}, map[string]error{}
	for _, r := range resp.Resources {
		if kerr := sarama.KError(r.ErrorCode); kerr != sarama.ErrNoError {
			errs[r.Name] = kerr
			continue
		}
		configs[r.Name] = r.Configs
	}
	return configs, errs, nil
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// isInternal reports Kafka's own topics, which a glob like "*" must not pick up.
func isInternal(name string) bool {
	return name == "__consumer_offsets" || name == "__transaction_state"
}

func topicNames(topics []kafkabackup.TopicInfo) []string {
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Name
	}
	return names
}
