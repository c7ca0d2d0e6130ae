package catalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"

	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/backups"
	"arkive.io/arkive/internal/blobstore"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// sim drives a catalog the way the backup workflow does, and keeps the same backup as a
// version 1 manifest (the oracle: every segment inline, trimmed by Partition.TrimBefore).
type sim struct {
	t      testing.TB
	store  *blobstore.Store
	layout blobstore.KafkaLayout
	oracle *archive.Manifest
	now    time.Time
	topics map[string]int32
}

func newSim(t testing.TB, topics map[string]int32) *sim {
	layout, err := blobstore.Kafka("ns/orders")
	require.NoError(t, err)
	return &sim{t: t, store: blobstore.OpenMem(), layout: layout, now: t0, topics: topics,
		oracle: &archive.Manifest{Version: archive.ManifestVersionInline, Backup: "ns/orders"}}
}

func (s *sim) open() *Catalog {
	c, err := Open(context.Background(), s.store, s.layout)
	require.NoError(s.t, err)
	return c
}

func (s *sim) partition(m *archive.Manifest, topic string, p int32) *archive.Partition {
	ti := slices.IndexFunc(m.Topics, func(t archive.Topic) bool { return t.Name == topic })
	if ti < 0 {
		m.Topics = append(m.Topics, archive.Topic{Name: topic, Partitions: s.topics[topic]})
		slices.SortFunc(m.Topics, func(a, b archive.Topic) int { return cmpString(a.Name, b.Name) })
		ti = slices.IndexFunc(m.Topics, func(t archive.Topic) bool { return t.Name == topic })
	}
	t := &m.Topics[ti]
	pi := slices.IndexFunc(t.Data, func(d archive.Partition) bool { return d.Partition == p })
	if pi < 0 {
		t.Data = append(t.Data, archive.Partition{Partition: p})
		slices.SortFunc(t.Data, func(a, b archive.Partition) int { return int(a.Partition - b.Partition) })
		pi = slices.IndexFunc(t.Data, func(d archive.Partition) bool { return d.Partition == p })
	}
	return &t.Data[pi]
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// added is one partition's part of a commit.
type added struct {
	topic string
	part  int32
	segs  []archive.SegmentRef
	gaps  []archive.Gap
	next  int64
}

// cycle makes one commit's worth: for each partition, segs segments of recs records each (and
// now and then a gap), continuing where the oracle says the partition ends.
func (s *sim) cycle(segs int, recs int64, rng *rand.Rand) []added {
	var out []added
	for topic, n := range s.topics {
		for p := range n {
			op := s.partition(s.oracle, topic, p)
			next := op.NextOffset
			a := added{topic: topic, part: p}
			for range segs {
				if rng != nil && rng.IntN(10) == 0 {
					a.gaps = append(a.gaps, archive.Gap{From: next, To: next + 2, Reason: archive.GapCompacted})
					next += 3
				}
				key, err := s.layout.Segment(topic, p, next, next+recs-1)
				require.NoError(s.t, err)
				ts := s.now.UnixMilli()
				a.segs = append(a.segs, archive.SegmentRef{Key: key, FirstOffset: next, LastOffset: next + recs - 1, Count: recs,
					MinTimestamp: ts - 1000, MaxTimestamp: ts, StoredBytes: 4096, PayloadBytes: 8192, MaxRecordBytes: 100, ContentCRC: 7, Codec: "zstd"})
				next += recs
			}
			a.next = next
			out = append(out, a)
		}
	}
	return out
}

// commit writes a cycle through the catalog and into the oracle; it returns the bytes written.
func (s *sim) commit(c *Catalog, cyc []added) int64 {
	before := c.IO.WriteBytes
	_, err := c.Commit(context.Background(), "ns/orders", s.now, func(m *archive.Manifest) error {
		for _, a := range cyc {
			p := s.partition(m, a.topic, a.part)
			if p.NextOffset == 0 && p.StartOffset == 0 && len(p.Segments) == 0 && p.Index == nil {
				p.StartOffset = 0
			}
			p.Segments = append(p.Segments, a.segs...)
			p.Gaps = append(p.Gaps, a.gaps...)
			p.NextOffset = a.next
		}
		m.Generation++
		return nil
	})
	require.NoError(s.t, err)
	for _, a := range cyc {
		p := s.partition(s.oracle, a.topic, a.part)
		p.Segments = append(p.Segments, a.segs...)
		p.Gaps = append(p.Gaps, a.gaps...)
		p.NextOffset = a.next
	}
	return c.IO.WriteBytes - before
}

// check compares the catalog's whole view with the oracle.
func (s *sim) check(c *Catalog) {
	v, err := c.View(context.Background(), Filter{})
	require.NoError(s.t, err)
	require.Equal(s.t, len(s.oracle.Topics), len(v.Topics))
	for ti, ot := range s.oracle.Topics {
		require.Equal(s.t, ot.Name, v.Topics[ti].Name)
		for pi, op := range ot.Data {
			vp := v.Topics[ti].Data[pi]
			require.Equal(s.t, op.StartOffset, vp.StartOffset, "%s/%d start", ot.Name, op.Partition)
			require.Equal(s.t, op.NextOffset, vp.NextOffset, "%s/%d next", ot.Name, op.Partition)
			require.Equal(s.t, op.Segments, vp.Segments, "%s/%d segments", ot.Name, op.Partition)
			require.ElementsMatch(s.t, op.Gaps, vp.Gaps, "%s/%d gaps", ot.Name, op.Partition)
			require.Empty(s.t, vp.Holes(), "%s/%d", ot.Name, op.Partition)
		}
	}
}

// keys lists every object in the store.
func keys(t testing.TB, store *blobstore.Store) []string {
	var out []string
	it := store.List(&blob.ListOptions{})
	for {
		obj, err := it.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, obj.Key)
	}
}

func TestCommitsFoldsAndTrimsMatchTheInlineManifest(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := newSim(t, map[string]int32{"orders": 3, "payments": 1})
	for step := range 400 {
		c := s.open()
		s.commit(c, s.cycle(1+rng.IntN(3), int64(1+rng.IntN(50)), rng))
		s.now = s.now.Add(5 * time.Minute)
		switch {
		case c.PendingDeltas() >= FoldAfter:
			require.NoError(t, c.Fold(context.Background(), s.now))
			require.Zero(t, c.PendingDeltas())
		case step%97 == 96:
			// Retention by age: drop what is older than ten hours, never a partition's last segment.
			before := s.now.Add(-10 * time.Hour).UnixMilli()
			drop := func(seg archive.SegmentRef) bool { return seg.MaxTimestamp < before }
			_, err := c.Trim(context.Background(), s.now, drop, true, nil)
			require.NoError(t, err)
			for ti := range s.oracle.Topics {
				for pi := range s.oracle.Topics[ti].Data {
					p := &s.oracle.Topics[ti].Data[pi]
					newest := p.Segments[len(p.Segments)-1].Key
					p.TrimBefore(func(seg archive.SegmentRef) bool { return seg.Key != newest && drop(seg) })
				}
			}
		}
		if step%50 == 0 || step == 399 {
			s.check(s.open())
		}
	}
	root := s.open().Root()
	require.Equal(t, archive.ManifestVersion, root.Version)
	for _, p := range root.Topics[0].Data {
		require.NotNil(t, p.Index)
		require.Greater(t, p.Index.Level, 0, "enough segments for more than one leaf")
	}

	// Retired objects go after their grace, and nothing the root names goes with them.
	s.now = s.now.Add(2 * RetiredGrace)
	c := s.open()
	require.NoError(t, c.Fold(context.Background(), s.now))
	s.now = s.now.Add(2 * RetiredGrace)
	require.NoError(t, c.Fold(context.Background(), s.now))
	named := map[string]bool{s.layout.Manifest(): true}
	require.NoError(t, s.open().Nodes(context.Background(), func(k string) error { named[k] = true; return nil }))
	for _, r := range s.open().Root().Retired {
		named[r.Key] = true
	}
	for _, k := range keys(t, s.store) {
		require.True(t, named[k], "%s is neither named nor retired: a leak", k)
	}
	s.check(s.open())
}

func TestTrimByRunAndToNothing(t *testing.T) {
	s := newSim(t, map[string]int32{"orders": 1})
	for i := range 300 {
		c := s.open()
		cyc := s.cycle(1, 10, nil)
		for j := range cyc[0].segs {
			cyc[0].segs[j].Run = fmt.Sprintf("run-%d", i/100)
		}
		s.commit(c, cyc)
		if c.PendingDeltas() >= FoldAfter {
			require.NoError(t, c.Fold(context.Background(), s.now))
		}
	}
	keep := func(run string) func(archive.SegmentRef) bool {
		return func(seg archive.SegmentRef) bool { return seg.Run != run }
	}
	_, err := s.open().Trim(context.Background(), s.now, keep("run-2"), false, nil)
	require.NoError(t, err)
	s.oracle.Topics[0].Data[0].TrimBefore(keep("run-2"))
	s.check(s.open())
	require.Equal(t, int64(2000), s.open().Root().Topics[0].Data[0].StartOffset)

	_, err = s.open().Trim(context.Background(), s.now, func(archive.SegmentRef) bool { return true }, false, nil)
	require.NoError(t, err)
	p := s.open().Root().Topics[0].Data[0]
	require.Nil(t, p.Index, "every segment dropped")
	require.Equal(t, p.NextOffset, p.StartOffset)

	// The backup goes on from there.
	s.oracle.Topics[0].Data[0].TrimBefore(func(archive.SegmentRef) bool { return true })
	s.commit(s.open(), s.cycle(2, 10, nil))
	s.check(s.open())
}

func TestVersion1ManifestContinuesAsVersion2(t *testing.T) {
	s := newSim(t, map[string]int32{"orders": 2})
	// A version 1 backup of 300 segments per partition, written as version 1 wrote it.
	for range 300 {
		for _, a := range s.cycle(1, 5, nil) {
			p := s.partition(s.oracle, a.topic, a.part)
			p.Segments = append(p.Segments, a.segs...)
			p.NextOffset = a.next
		}
	}
	s.oracle.Generation = 300
	data, err := archive.MarshalManifest(s.oracle)
	require.NoError(t, err)
	require.NoError(t, s.store.Put(context.Background(), s.layout.Manifest(), data))

	c := s.open()
	require.Equal(t, archive.ManifestVersionInline, c.Root().Version)
	s.check(c) // read as it is

	s.commit(c, s.cycle(1, 5, nil))
	c = s.open()
	require.Equal(t, archive.ManifestVersion, c.Root().Version)
	require.Equal(t, int64(301), c.Root().Generation)
	s.check(c)
	for _, k := range keys(t, s.store) {
		if seg, ok := s.layout.ParseSegment(k); ok {
			t.Fatalf("segment %v was rewritten: migration writes catalog objects only", seg)
		}
	}
}

func TestWindowViewReadsOnlyItsPart(t *testing.T) {
	s := newSim(t, map[string]int32{"orders": 1})
	for range 5000 {
		c := s.open()
		s.commit(c, s.cycle(1, 10, nil))
		if c.PendingDeltas() >= FoldAfter {
			require.NoError(t, c.Fold(context.Background(), s.now))
		}
		s.now = s.now.Add(5 * time.Minute)
	}
	from := s.now.Add(-time.Hour).UnixMilli()
	c := s.open()
	v, err := c.View(context.Background(), Filter{Overlaps: func(seg archive.SegmentRef) bool { return seg.MaxTimestamp >= from }})
	require.NoError(t, err)
	segs := v.Topics[0].Data[0].Segments
	require.Len(t, segs, 12, "an hour of 5-minute segments")
	require.Equal(t, s.oracle.Topics[0].Data[0].Segments[5000-12:], segs)
	// The root, a path down the tree (at most two leaves straddle the hour) and the deltas.
	require.LessOrEqual(t, c.IO.Reads, 1+3+2+FoldAfter, "objects read")
	require.Less(t, c.IO.ReadBytes, int64(200_000), "bytes read for an hour out of %d segments", 5000)
}

func TestDamagedCatalogFailsNamingTheObjectAndDeletesNothing(t *testing.T) {
	build := func(t *testing.T) *sim {
		s := newSim(t, map[string]int32{"orders": 1})
		for range 400 {
			c := s.open()
			s.commit(c, s.cycle(1, 10, nil))
			if c.PendingDeltas() >= FoldAfter {
				require.NoError(t, c.Fold(context.Background(), s.now))
			}
		}
		s.commit(s.open(), s.cycle(1, 10, nil)) // one pending delta
		s.now = s.now.Add(3 * RetiredGrace)     // retired objects are due for deletion
		return s
	}
	someNode := func(s *sim) string {
		p := s.open().Root().Topics[0].Data[0]
		return p.Index.Key
	}
	for name, tc := range map[string]struct {
		damage func(s *sim) (key string)
		want   string
	}{
		"truncated index node": {func(s *sim) string {
			k := someNode(s)
			b, err := s.store.ReadAll(context.Background(), k)
			require.NoError(t, err)
			require.NoError(t, s.store.Put(context.Background(), k, b[:len(b)/2]))
			return k
		}, "unexpected end of JSON input"},
		"index node content changed": {func(s *sim) string {
			k := someNode(s)
			b, err := s.store.ReadAll(context.Background(), k)
			require.NoError(t, err)
			n, err := archive.UnmarshalIndexNode(k, b)
			require.NoError(t, err)
			n.Children = n.Children[:len(n.Children)-1]
			b, err = archive.MarshalIndexNode(n)
			require.NoError(t, err)
			require.NoError(t, s.store.Put(context.Background(), k, b))
			return k
		}, "does not match its parent's summary"},
		"root names a missing node": {func(s *sim) string {
			k := someNode(s)
			require.NoError(t, s.store.Delete(context.Background(), k))
			return k
		}, "is named by the manifest but missing"},
		"root names a missing delta": {func(s *sim) string {
			k := s.open().Root().Deltas[0].Key
			require.NoError(t, s.store.Delete(context.Background(), k))
			return k
		}, "is named by the manifest but missing"},
		"delta from a newer format": {func(s *sim) string {
			k := s.open().Root().Deltas[0].Key
			require.NoError(t, s.store.Put(context.Background(), k, []byte(`{"version": 3, "generation": 1, "partitions": []}`)))
			return k
		}, "unsupported version 3"},
		"root from a newer format": {func(s *sim) string {
			k := s.layout.Manifest()
			require.NoError(t, s.store.Put(context.Background(), k, []byte(`{"version": 3, "backup": "ns/orders"}`)))
			return k
		}, "unsupported version 3"},
	} {
		t.Run(name, func(t *testing.T) {
			s := build(t)
			key := tc.damage(s)
			before := keys(t, s.store)
			check := func(err error) {
				require.Error(t, err)
				require.ErrorContains(t, err, key)
				require.ErrorContains(t, err, tc.want)
				var corrupt *backups.CorruptError
				require.ErrorAs(t, err, &corrupt, "classified as a corrupt backup, not retried as a storage error")
			}
			c, err := Open(context.Background(), s.store, s.layout)
			if err != nil {
				check(err)
				return
			}
			_, err = c.View(context.Background(), Filter{})
			check(err)
			check(c.Fold(context.Background(), s.now))
			_, err = c.Trim(context.Background(), s.now, func(archive.SegmentRef) bool { return true }, false, nil)
			check(err)
			require.Equal(t, before, keys(t, s.store), "nothing deleted or written")
		})
	}
}

func TestGroupSnapshotsAndRunsLiveOutsideTheRoot(t *testing.T) {
	s := newSim(t, map[string]int32{"orders": 1})
	ctx := context.Background()
	snap := func(i int) archive.GroupOffsetsSnapshot {
		return archive.GroupOffsetsSnapshot{Time: t0.Add(time.Duration(i) * time.Minute),
			Groups: []archive.GroupOffset{{Group: "billing", Topic: "orders", Partition: 0, Offset: int64(i / 2)}}}
	}
	// 300 discoveries; the offsets move every second one, so 150 distinct snapshots.
	for i := range 300 {
		_, err := s.open().Commit(ctx, "ns/orders", t0.Add(time.Duration(i)*time.Minute), func(m *archive.Manifest) error {
			m.GroupOffsets = append(m.GroupOffsets, snap(i))
			if i%100 == 99 {
				m.Runs = append(m.Runs, archive.Run{ID: fmt.Sprintf("run-%d", i/100), Outcome: "Succeeded",
					Upto: map[string]int64{"orders/0": int64(i)}})
			}
			m.Generation++
			return nil
		})
		require.NoError(t, err)
	}
	c := s.open()
	root := c.Root()
	require.Empty(t, root.GroupOffsets, "snapshots are not inline")
	require.Len(t, root.GroupSnapshots, MaxGroupSnapshots, "the newest 100 distinct snapshots")
	require.Equal(t, snap(298).Time, root.GroupSnapshots[99].Time, "the first of the last pair: the second changed nothing")
	require.Len(t, root.Runs, 3)
	for _, r := range root.Runs {
		require.Empty(t, r.Upto)
		require.NotEmpty(t, r.UptoKey)
	}

	v, err := c.View(ctx, Filter{LatestGroups: true, GroupsAt: t0.Add(250 * time.Minute), Runs: func(id string) bool { return id == "run-1" }})
	require.NoError(t, err)
	require.Equal(t, []archive.GroupOffsetsSnapshot{snap(250)}, v.GroupOffsets)
	require.Nil(t, v.Runs[0].Upto)
	require.Equal(t, map[string]int64{"orders/0": 199}, v.Runs[1].Upto)
	all, err := c.View(ctx, Filter{})
	require.NoError(t, err)
	require.Len(t, all.GroupOffsets, MaxGroupSnapshots)
	require.Equal(t, snap(100), all.GroupOffsets[0])

	// Dropping a run retires its object; after the grace nothing unnamed is left.
	_, err = c.Trim(ctx, t0.Add(400*time.Minute), func(archive.SegmentRef) bool { return false }, true, func(m *archive.Manifest) {
		m.Runs = m.Runs[1:]
	})
	require.NoError(t, err)
	require.NoError(t, s.open().Fold(ctx, t0.Add(400*time.Minute+2*RetiredGrace)))
	named := map[string]bool{s.layout.Manifest(): true}
	c = s.open()
	require.NoError(t, c.Nodes(ctx, func(k string) error { named[k] = true; return nil }))
	for _, r := range c.Root().Retired {
		named[r.Key] = true
	}
	for _, k := range keys(t, s.store) {
		require.True(t, named[k], "%s is neither named nor retired", k)
	}
	require.Len(t, c.Root().Runs, 2)
}

// Compaction while folding: 10,000 small segments of one partition end up as at most 100, every
// offset named exactly once, the merged segments' records counted, and the sources retired.
func TestFoldCompactsSmallSegments(t *testing.T) {
	s := newSim(t, map[string]int32{"orders": 1})
	ctx := context.Background()
	var merges int
	comp := &Compactor{MinBytes: 120_000, TargetBytes: 128_000,
		Merge: func(_ context.Context, topic string, p int32, src []archive.SegmentRef) (archive.SegmentRef, error) {
			merges++
			out := src[0]
			key, err := s.layout.Segment(topic, p, src[0].FirstOffset, src[len(src)-1].LastOffset)
			require.NoError(t, err)
			out.Key, out.LastOffset, out.Count, out.StoredBytes, out.PayloadBytes = key, src[len(src)-1].LastOffset, 0, 0, 0
			for _, x := range src {
				out.Count += x.Count
				out.StoredBytes += x.StoredBytes
				out.PayloadBytes += x.PayloadBytes
				out.MinTimestamp, out.MaxTimestamp = min(out.MinTimestamp, x.MinTimestamp), max(out.MaxTimestamp, x.MaxTimestamp)
			}
			return out, nil
		}}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 10_000 {
		c := s.open()
		cyc := s.cycle(1, 10, nil)
		cyc[0].segs[0].StoredBytes = 1_000
		if i%5000 == 4999 {
			cyc[0].segs[0].StoredBytes = 500_000 // a big one now and then: never merged, and a run ends there
		}
		if i%2500 == 1234 {
			first := cyc[0].segs[0].FirstOffset
			cyc[0].gaps = []archive.Gap{{From: first, To: first, Reason: archive.GapCompacted}}
			cyc[0].segs[0].FirstOffset++ // a gap of one offset before it: runs do not span gaps
			cyc[0].segs[0].Count--
		}
		s.commit(c, cyc)
		s.now = s.now.Add(time.Duration(1+rng.IntN(5)) * time.Minute)
		if c.PendingDeltas() >= FoldAfter {
			require.NoError(t, c.FoldCompacting(ctx, s.now, comp))
		}
	}
	require.NoError(t, s.open().FoldCompacting(ctx, s.now, comp))
	v, err := s.open().View(ctx, Filter{})
	require.NoError(t, err)
	p := v.Topics[0].Data[0]
	require.LessOrEqual(t, len(p.Segments), 100, "10,000 small segments compact to at most 1 %%")
	require.Empty(t, p.Holes(), "every offset in a segment or a gap")
	var records int64
	for _, seg := range p.Segments {
		records += seg.Count
	}
	want := int64(0)
	for _, seg := range s.oracle.Topics[0].Data[0].Segments {
		want += seg.Count
	}
	require.Equal(t, want, records, "records counted once each")
	require.Equal(t, s.oracle.Topics[0].Data[0].Gaps, p.Gaps)
	require.Greater(t, merges, 80)
	t.Logf("%d segments after compaction, %d merges", len(p.Segments), merges)
}

// A source that cannot be read is left as it is: the fold goes on without merging its run.
func TestCompactionLeavesADamagedRunAlone(t *testing.T) {
	s := newSim(t, map[string]int32{"orders": 1})
	ctx := context.Background()
	comp := &Compactor{MinBytes: 1 << 20, TargetBytes: 4 << 20,
		Merge: func(_ context.Context, _ string, _ int32, src []archive.SegmentRef) (archive.SegmentRef, error) {
			return archive.SegmentRef{}, &archive.CorruptError{Object: src[0].Key, Reason: "checksum mismatch"}
		}}
	for range FoldAfter {
		s.commit(s.open(), s.cycle(1, 10, nil))
	}
	require.NoError(t, s.open().FoldCompacting(ctx, s.now, comp))
	s.check(s.open()) // every segment still there, unmerged
	comp.Merge = func(context.Context, string, int32, []archive.SegmentRef) (archive.SegmentRef, error) {
		return archive.SegmentRef{}, errors.New("storage unavailable")
	}
	s.commit(s.open(), s.cycle(1, 10, nil))
	require.ErrorContains(t, s.open().FoldCompacting(ctx, s.now, comp), "storage unavailable", "other failures fail the fold, to be retried")
}
