package kafka

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/errgroup"

	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkarestore"
)

// RestoreGroupOffsets commits the translated consumer-group offsets on the target, refusing
// groups that have active members there (their consumers would overwrite the offsets, or be
// moved under their feet). It reads the offsets back to be sure they took.
//
// Each group is a commit to its own coordinator. With sarama, which waits for each answer
// before it sends the next request on a connection, a restore into another region waited 3
// round trips per group at its end (31 s for 200 groups 50 ms away,
// BenchmarkRestoreGroupOffsetsDistant), and an activity of 1,000 groups there could outlast
// its timeout. franz-go sends requests on a connection without waiting for the answers before
// them, finds the coordinators of many groups in one request and describes and reads back many
// groups per request, so the commits overlap.
func (a *Activities) RestoreGroupOffsets(ctx context.Context, in kafkarestore.GroupsInput) error {
	if len(in.Groups) == 0 {
		return nil
	}
	cfg, kspec, err := a.targetConfig(ctx, in.Connection)
	if err != nil {
		return err
	}
	cl, err := groupClient(cfg, kspec.BootstrapServers)
	if err != nil {
		return classify(err)
	}
	defer cl.Close()
	byGroup := map[string][]kafkarestore.TranslatedGroup{}
	var names []string
	for _, g := range in.Groups {
		if _, ok := byGroup[g.Group]; !ok {
			names = append(names, g.Group)
		}
		byGroup[g.Group] = append(byGroup[g.Group], g)
	}
	slices.Sort(names)
	if err := refuseActiveGroups(ctx, cl, names); err != nil {
		return err
	}
	commits, cctx := errgroup.WithContext(ctx)
	commits.SetLimit(groupConcurrency)
	for _, name := range names {
		commits.Go(func() error { return commitGroup(cctx, cl, name, byGroup[name]) })
	}
	if err := commits.Wait(); err != nil {
		return err
	}
	return readBackGroups(ctx, cl, byGroup, names)
}

// groupConcurrency is how many groups' commits a restore has in flight at once.
const groupConcurrency = 32

// refuseActiveGroups fails, naming them, when any of the groups has members on the target.
func refuseActiveGroups(ctx context.Context, cl *kgo.Client, names []string) error {
	busy, err := activeGroups(ctx, cl, names)
	if err != nil {
		return err
	}
	if len(busy) == 0 {
		return nil
	}
	var active []string
	for _, d := range busy {
		active = append(active, fmt.Sprintf("%s (%s, %d members)", d.Group, d.State, len(d.Members)))
	}
	return temporal.NewNonRetryableApplicationError("consumer groups active on the target, stop their consumers first: "+strings.Join(active, ", "),
		kafkarestore.ErrGroupActive, nil)
}

// activeGroups describes the groups (one request per coordinator) and returns those with
// members, by name.
func activeGroups(ctx context.Context, cl *kgo.Client, names []string) ([]kmsg.DescribeGroupsResponseGroup, error) {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = names
	var active []kmsg.DescribeGroupsResponseGroup
	for _, shard := range cl.RequestSharded(ctx, req) {
		if shard.Err != nil {
			return nil, classify(fmt.Errorf("describe consumer groups on the target: %w", shard.Err))
		}
		for _, d := range shard.Resp.(*kmsg.DescribeGroupsResponse).Groups {
			if err := kerr.ErrorForCode(d.ErrorCode); err != nil {
				return nil, classify(fmt.Errorf("describe consumer group %s on the target: %w", d.Group, err))
			}
			if d.State != "Empty" && d.State != "Dead" && d.State != "" {
				active = append(active, d)
			}
		}
	}
	slices.SortFunc(active, func(a, b kmsg.DescribeGroupsResponseGroup) int { return strings.Compare(a.Group, b.Group) })
	return active, nil
}

// commitGroup commits one group's translated offsets. Generation -1 and no member id: a
// commit for a group without members, as the kafka-consumer-groups tool's --reset-offsets does.
func commitGroup(ctx context.Context, cl *kgo.Client, name string, offsets []kafkarestore.TranslatedGroup) error {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = name, -1
	for _, g := range offsets {
		i := topicSlot(&req.Topics, g.Topic, func(t kmsg.OffsetCommitRequestTopic) string { return t.Topic }, func() kmsg.OffsetCommitRequestTopic {
			t := kmsg.NewOffsetCommitRequestTopic()
			t.Topic = g.Topic
			return t
		})
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset, p.Metadata = g.Partition, g.Offset, kmsg.StringPtr(g.Metadata)
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return classify(fmt.Errorf("commit offsets of group %s: %w", name, err))
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return classify(fmt.Errorf("commit offset of group %s on %s/%d: %w", name, t.Topic, p.Partition, err))
			}
		}
	}
	return nil
}

// readBackGroups reads every group's offsets back (many groups per request) and fails on the
// first that is not what was committed.
func readBackGroups(ctx context.Context, cl *kgo.Client, byGroup map[string][]kafkarestore.TranslatedGroup, names []string) error {
	req := kmsg.NewPtrOffsetFetchRequest()
	for _, name := range names {
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group = name
		for _, o := range byGroup[name] {
			i := topicSlot(&g.Topics, o.Topic, func(t kmsg.OffsetFetchRequestGroupTopic) string { return t.Topic }, func() kmsg.OffsetFetchRequestGroupTopic {
				t := kmsg.NewOffsetFetchRequestGroupTopic()
				t.Topic = o.Topic
				return t
			})
			g.Topics[i].Partitions = append(g.Topics[i].Partitions, o.Partition)
		}
		req.Groups = append(req.Groups, g)
	}
	got, err := fetchOffsets(ctx, cl, req)
	if err != nil {
		return classify(fmt.Errorf("read back offsets: %w", err))
	}
	for _, name := range names {
		for _, o := range byGroup[name] {
			c, ok := got[name][o.Topic][o.Partition]
			if err := kerr.ErrorForCode(c.ErrorCode); err != nil {
				return classify(fmt.Errorf("read back offset of group %s on %s/%d: %w", name, o.Topic, o.Partition, err))
			}
			if !ok || c.Offset != o.Offset {
				return fmt.Errorf("group %s on %s/%d: committed %d but reads back %d (found: %v)", name, o.Topic, o.Partition, o.Offset, c.Offset, ok)
			}
		}
	}
	return nil
}

// committedOffsets are what OffsetFetch answered, by group, topic and partition.
type committedOffsets map[string]map[string]map[int32]kmsg.OffsetFetchResponseGroupTopicPartition

// fetchOffsets sends an OffsetFetch of many groups (one request per coordinator) and indexes
// the answers; a group's error fails it, a partition's error is left to the caller.
func fetchOffsets(ctx context.Context, cl *kgo.Client, req *kmsg.OffsetFetchRequest) (committedOffsets, error) {
	out := committedOffsets{}
	for _, shard := range cl.RequestSharded(ctx, req) {
		if shard.Err != nil {
			return nil, shard.Err
		}
		for _, g := range shard.Resp.(*kmsg.OffsetFetchResponse).Groups {
			if err := kerr.ErrorForCode(g.ErrorCode); err != nil {
				return nil, fmt.Errorf("consumer group %s: %w", g.Group, err)
			}
			byTopic := map[string]map[int32]kmsg.OffsetFetchResponseGroupTopicPartition{}
			for _, t := range g.Topics {
				byTopic[t.Topic] = map[int32]kmsg.OffsetFetchResponseGroupTopicPartition{}
				for _, p := range t.Partitions {
					byTopic[t.Topic][p.Partition] = p
				}
			}
			out[g.Group] = byTopic
		}
	}
	return out, nil
}

// groupClient is a franz-go client for the group requests, on the connection settings of cfg.
// Versions as Kafka 3.9 has them: OffsetCommit and OffsetFetch name topics by id from version
// 10 on, and these requests name them.
func groupClient(cfg *sarama.Config, brokers []string) (*kgo.Client, error) {
	opts, err := franzOpts(cfg, brokers)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrInvalidSpec, err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.MaxVersions(kversion.V3_9_0()))...)
	if err != nil {
		return nil, fmt.Errorf("connect to %v: %w", brokers, err)
	}
	return cl, nil
}

// topicSlot is the index of topic's entry in *ts (name says an entry's topic), appending one
// made by mk when there is none.
func topicSlot[T any](ts *[]T, topic string, name func(T) string, mk func() T) int {
	if i := slices.IndexFunc(*ts, func(t T) bool { return name(t) == topic }); i >= 0 {
		return i
	}
	*ts = append(*ts, mk())
	return len(*ts) - 1
}
