package kafka

import (
	"testing"

	"github.com/stretchr/testify/require"

	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/workflows/kafkabackup"
)

// A commit adds the topics and partitions it meets where they sort (topics by name,
// partitions by number, which later commits' lookups rely on), continues each partition from
// where the backup holds it, leaves a retried capture alone, and refuses one that does not
// start where the backup continues.
func TestMergeCommitKeepsTopicsAndPartitionsInOrder(t *testing.T) {
	capture := func(topic string, p int32, start, next int64) kafkabackup.CaptureResult {
		return kafkabackup.CaptureResult{Topic: topic, Partition: p, CaptureProgress: kafkabackup.CaptureProgress{Start: start, Next: next}}
	}
	// A manifest whose partitions are out of order (as no commit writes them) is put in order.
	m := &archive.Manifest{Topics: []archive.Topic{{Name: "b", Data: []archive.Partition{
		{Partition: 2, StartOffset: 0, NextOffset: 20}, {Partition: 0, StartOffset: 0, NextOffset: 10},
	}}}}
	in := kafkabackup.CommitInput{
		Topics:   []kafkabackup.TopicInfo{{Name: "c", Partitions: make([]kafkabackup.PartitionInfo, 2)}, {Name: "b", Partitions: make([]kafkabackup.PartitionInfo, 4)}},
		Captures: []kafkabackup.CaptureResult{capture("c", 1, 0, 5), capture("a", 0, 3, 7), capture("b", 0, 10, 15), capture("b", 3, 0, 4), capture("a", 2, 0, 1), capture("b", 1, 0, 9)},
	}
	require.NoError(t, mergeCommit(m, in))
	next := map[string][]int64{}
	var names []string
	for _, tp := range m.Topics {
		names = append(names, tp.Name)
		for i, p := range tp.Data {
			if i > 0 {
				require.Less(t, tp.Data[i-1].Partition, p.Partition, "topic %s: partitions in order", tp.Name)
			}
			next[tp.Name] = append(next[tp.Name], int64(p.Partition)*1000+p.NextOffset)
		}
	}
	require.Equal(t, []string{"a", "b", "c"}, names)
	require.Equal(t, map[string][]int64{"a": {7, 2001}, "b": {15, 1009, 2020, 3004}, "c": {1005}}, next)
	require.Equal(t, int32(4), m.Topics[1].Partitions)
	require.Equal(t, int64(3), m.Topics[0].Data[0].StartOffset, "a new partition starts where its first capture does")
	require.Equal(t, int64(1), m.Generation, "one generation a commit")

	// The same commit again (a retried activity) changes no offset.
	require.NoError(t, mergeCommit(m, in))
	require.Equal(t, int64(15), m.Topics[1].Data[0].NextOffset)
	require.Len(t, m.Topics, 3)

	err := mergeCommit(m, kafkabackup.CommitInput{Captures: []kafkabackup.CaptureResult{capture("b", 2, 25, 30)}})
	require.ErrorContains(t, err, "capture of b/2 starts at 25 but the backup continues at 20")
}
