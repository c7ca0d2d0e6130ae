package kafka

import (
	"testing"

	"github.com/stretchr/testify/require"

	"arkive.io/arkive/workflows/kafkarestore"
)

// Small partitions of a topic share a stream, in order, at most 16 to a stream and 16 MiB
// together; a larger partition keeps a stream of its own.
func TestPackStreams(t *testing.T) {
	one := func(p int32, bytes int64) kafkarestore.Stream {
		return kafkarestore.Stream{Source: "orders", Target: "orders-r", Records: bytes / 100,
			Bytes: bytes, Partitions: []kafkarestore.StreamPartition{{Partition: p, Upto: bytes / 100}}}
	}
	parts := func(s kafkarestore.Stream) (ps []int32) {
		for _, p := range s.Partitions {
			ps = append(ps, p.Partition)
		}
		return ps
	}
	var own []kafkarestore.Stream
	for p := range int32(20) {
		own = append(own, one(p, 1000)) // 20 small partitions
	}
	own = append(own, one(20, 40<<20), one(21, 0), one(22, 10<<20), one(23, 10<<20))
	got := packStreams(own, kafkarestore.PackPartitions)
	var want [][]int32
	want = append(want, []int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, []int32{16, 17, 18, 19},
		[]int32{20}, []int32{21, 22}, []int32{23})
	require.Len(t, got, len(want))
	for i, s := range got {
		require.Equal(t, want[i], parts(s), "stream %d", i)
		var records, bytes int64
		for _, p := range s.Partitions {
			records += own[p.Partition].Records
			bytes += own[p.Partition].Bytes
			require.Equal(t, own[p.Partition].Partitions[0], p, "a partition keeps its own bounds")
		}
		require.Equal(t, records, s.Records, "stream %d", i)
		require.Equal(t, bytes, s.Bytes, "stream %d", i)
		require.Equal(t, "orders", s.Source)
		require.Equal(t, "orders-r", s.Target)
	}
	require.Empty(t, packStreams(nil, kafkarestore.PackPartitions))
	require.Len(t, packStreams(own, 1), len(own), "a limit of 1: a stream per partition")
}
