package kafka

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/IBM/sarama"
	"go.temporal.io/sdk/temporal"

	"arkive.io/arkive/workflows/kafkarestore"
)

// RestoreGroupOffsets commits the translated consumer-group offsets on the target, refusing
// groups that have active members there (their consumers would overwrite the offsets, or be
// moved under their feet). It reads the offsets back to be sure they took.
func (a *Activities) RestoreGroupOffsets(ctx context.Context, in kafkarestore.GroupsInput) error {
	if len(in.Groups) == 0 {
		return nil
	}
	client, err := a.targetClient(ctx, in.Connection)
	if err != nil {
		return err
	}
	defer client.Close()
	admin, err := sarama.NewClusterAdminFromClient(client) // not closed: that would close client
	if err != nil {
		return classify(err)
	}
	byGroup := map[string][]kafkarestore.TranslatedGroup{}
	var names []string
	for _, g := range in.Groups {
		if _, ok := byGroup[g.Group]; !ok {
			names = append(names, g.Group)
		}
		byGroup[g.Group] = append(byGroup[g.Group], g)
	}
	slices.Sort(names)
	descs, err := admin.DescribeConsumerGroups(names)
	if err != nil {
		return classify(fmt.Errorf("describe consumer groups on the target: %w", err))
	}
	var active []string
	for _, d := range descs {
		if d.State != "Empty" && d.State != "Dead" && d.State != "" {
			active = append(active, fmt.Sprintf("%s (%s, %d members)", d.GroupId, d.State, len(d.Members)))
		}
	}
	if len(active) > 0 {
		return temporal.NewNonRetryableApplicationError("consumer groups active on the target, stop their consumers first: "+strings.Join(active, ", "),
			kafkarestore.ErrGroupActive, nil)
	}
	for _, name := range names {
		coordinator, err := client.Coordinator(name)
		if err != nil {
			return classify(fmt.Errorf("coordinator of group %s: %w", name, err))
		}
		// Generation -1 and no member id: a commit for a group without members, as the
		// kafka-consumer-groups tool's --reset-offsets does.
		req := &sarama.OffsetCommitRequest{Version: 5, ConsumerGroup: name, ConsumerGroupGeneration: -1}
		parts := map[string][]int32{}
		for _, g := range byGroup[name] {
			req.AddBlock(g.Topic, g.Partition, g.Offset, 0, g.Metadata)
			parts[g.Topic] = append(parts[g.Topic], g.Partition)
		}
		resp, err := coordinator.CommitOffset(req)
		if err != nil {
			return classify(fmt.Errorf("commit offsets of group %s: %w", name, err))
		}
		for topic, ps := range resp.Errors {
			for p, kerr := range ps {
				if kerr != sarama.ErrNoError {
					return classify(fmt.Errorf("commit offset of group %s on %s/%d: %w", name, topic, p, kerr))
				}
			}
		}
		got, err := admin.ListConsumerGroupOffsets(name, parts)
		if err != nil {
			return classify(fmt.Errorf("read back offsets of group %s: %w", name, err))
		}
		for _, g := range byGroup[name] {
			if b := got.GetBlock(g.Topic, g.Partition); b == nil || b.Offset != g.Offset {
				return fmt.Errorf("group %s on %s/%d: committed %d but reads back %v", name, g.Topic, g.Partition, g.Offset, b)
			}
		}
	}
	return nil
}
