package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
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
		if res.Groups, err = groupOffsets(ctx, cfg, kspec.BootstrapServers, res.Topics, in.Groups); err != nil {
			return res, classify(err)
		}
	}
	return res, nil
}

// groupOffsets reads the committed offsets on the given topics of every consumer group that
// matches patterns (all groups when there are none).
//
// All the groups' offsets are asked for in one request per coordinator, each group for all it
// committed rather than for the backup's partitions by name: a group's answer is then as long
// as what it committed, where naming 2,000 partitions made every group's answer list all of
// them. sarama asked one group at a time and waits for each answer before the next request on
// a connection: from a cluster 50 ms away a discovery took 2.1 round trips per group, 21 s of
// every cycle at 200 groups (BenchmarkDiscoverGroupsDistant).
func groupOffsets(ctx context.Context, cfg *sarama.Config, brokers []string, topics []kafkabackup.TopicInfo, patterns []string) ([]archive.GroupOffset, error) {
	cl, err := groupClient(cfg, brokers)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var names []string
	for _, shard := range cl.RequestSharded(ctx, kmsg.NewPtrListGroupsRequest()) {
		if shard.Err != nil {
			return nil, fmt.Errorf("list consumer groups: %w", shard.Err)
		}
		resp := shard.Resp.(*kmsg.ListGroupsResponse)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return nil, fmt.Errorf("list consumer groups: %w", err)
		}
		for _, g := range resp.Groups {
			if len(patterns) == 0 || matchAny(patterns, g.Group) {
				names = append(names, g.Group)
			}
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	slices.Sort(names)
	names = slices.Compact(names)
	req := kmsg.NewPtrOffsetFetchRequest()
	for _, name := range names {
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group = name // no topics: all the group committed
		req.Groups = append(req.Groups, g)
	}
	committed, err := fetchOffsets(ctx, cl, req)
	if err != nil {
		return nil, fmt.Errorf("offsets of consumer groups: %w", err)
	}
	var out []archive.GroupOffset
	for _, name := range names {
		for _, t := range topics {
			for _, p := range t.Partitions {
				c, ok := committed[name][t.Name][p.Partition]
				if !ok || c.ErrorCode != 0 || c.Offset < 0 {
					continue // no commit by this group here
				}
				out = append(out, archive.GroupOffset{Group: name, Topic: t.Name, Partition: p.Partition, Offset: c.Offset, Metadata: deref(c.Metadata)})
			}
		}
	}
	return out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
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
