package archive

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func seg(key string, first, last, count int64) SegmentRef {
	return SegmentRef{Key: key, FirstOffset: first, LastOffset: last, Count: count, Codec: "zstd"}
}

func manifestWith(p Partition) *Manifest {
	return &Manifest{Version: ManifestVersionInline, Backup: "ns/b", Generation: 3, CommittedAt: time.Unix(1700000000, 0).UTC(),
		Topics: []Topic{{Name: "orders", Partitions: 2, Data: []Partition{p}}}}
}

func TestManifestRoundTrip(t *testing.T) {
	m := manifestWith(Partition{Partition: 1, StartOffset: 0, NextOffset: 300,
		Segments: []SegmentRef{seg("a", 0, 99, 100), seg("b", 200, 299, 90)},
		Gaps:     []Gap{{From: 100, To: 199, Reason: GapRetention}}})
	m.GroupOffsets = []GroupOffsetsSnapshot{{Time: m.CommittedAt, Groups: []GroupOffset{{Group: "g", Topic: "orders", Partition: 1, Offset: 150}}}}
	b, err := MarshalManifest(m)
	require.NoError(t, err)
	got, err := UnmarshalManifest("manifest.json", b)
	require.NoError(t, err)
	require.Equal(t, m, got)
	require.Empty(t, got.Topics[0].Data[0].Holes(), "segments and gaps cover the whole range")
}

func TestManifestValidation(t *testing.T) {
	tests := map[string]struct {
		p    Partition
		want string
	}{
		"overlapping segments":   {Partition{NextOffset: 200, Segments: []SegmentRef{seg("a", 0, 100, 50), seg("b", 100, 199, 50)}}, "segment b overlaps segment a"},
		"gap overlaps segment":   {Partition{NextOffset: 200, Segments: []SegmentRef{seg("a", 0, 99, 50)}, Gaps: []Gap{{From: 50, To: 120}}}, "gap 50–120 overlaps segment a"},
		"beyond next offset":     {Partition{NextOffset: 50, Segments: []SegmentRef{seg("a", 0, 99, 50)}}, "outside the covered range 0–49"},
		"before start":           {Partition{StartOffset: 10, NextOffset: 100, Segments: []SegmentRef{seg("a", 0, 99, 50)}}, "outside the covered range 10–99"},
		"count too large":        {Partition{NextOffset: 100, Segments: []SegmentRef{seg("a", 0, 9, 11)}}, "inconsistent"},
		"reversed gap":           {Partition{NextOffset: 100, Gaps: []Gap{{From: 9, To: 3}}}, "reversed"},
		"next before start":      {Partition{StartOffset: 5, NextOffset: 4}, "not an ordered range"},
		"partition out of range": {Partition{Partition: 2, NextOffset: 1}, "partition 2 outside 0..1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := MarshalManifest(manifestWith(tc.p))
			require.ErrorContains(t, err, tc.want)
		})
	}
	dup := manifestWith(Partition{NextOffset: 1})
	dup.Topics = append(dup.Topics, dup.Topics[0])
	_, err := MarshalManifest(dup)
	require.ErrorContains(t, err, "orders appears twice")

	_, err = UnmarshalManifest("kafka/ns/b/manifest.json", []byte(`{"version": 3, "backup": "ns/b"}`))
	require.ErrorContains(t, err, "kafka/ns/b/manifest.json: unsupported version 3")
	_, err = UnmarshalManifest("m", []byte(`{"version": 1`))
	require.Error(t, err)
}

func TestPartitionHoles(t *testing.T) {
	p := Partition{StartOffset: 10, NextOffset: 100,
		Segments: []SegmentRef{seg("b", 40, 59, 20), seg("a", 10, 19, 10)},
		Gaps:     []Gap{{From: 60, To: 69, Reason: GapCompacted}}}
	require.Equal(t, []Gap{{From: 20, To: 39}, {From: 70, To: 99}}, p.Holes())
	require.Equal(t, []Gap{{From: 0, To: 4}}, (&Partition{NextOffset: 5}).Holes(), "an empty partition is one hole")
}

func TestPartitionTrimBeforeKeepsOneContiguousRange(t *testing.T) {
	p := Partition{StartOffset: 0, NextOffset: 400,
		Segments: []SegmentRef{seg("a", 0, 99, 100), seg("b", 150, 249, 100), seg("c", 250, 399, 100)},
		Gaps:     []Gap{{From: 100, To: 149, Reason: GapRetention}}}
	p.Segments[0].Run, p.Segments[1].Run, p.Segments[2].Run = "r1", "r2", "r1"
	// r1 is dropped only as a prefix: "c" stays because "b" before it is kept.
	dropped := p.TrimBefore(func(s SegmentRef) bool { return s.Run == "r1" })
	require.Equal(t, []string{"a"}, []string{dropped[0].Key})
	require.Equal(t, int64(150), p.StartOffset)
	require.Empty(t, p.Gaps, "gaps below the new start go")
	require.Empty(t, p.Holes())
	require.NoError(t, p.validate())

	all := p.TrimBefore(func(SegmentRef) bool { return true })
	require.Len(t, all, 2)
	require.Equal(t, p.NextOffset, p.StartOffset, "an emptied partition starts where capture continues")
	require.NoError(t, p.validate())
}
