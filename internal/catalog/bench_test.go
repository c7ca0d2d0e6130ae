package catalog

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"arkive.io/arkive/internal/archive"
)

// year simulates a continuous backup of partitions partitions that each roll one segment every
// 5 minutes for days days, committing every 5 minutes and folding when a commit says so, as the
// backup workflow does. The first and the last day are committed one cycle at a time and
// measured; the days between are committed a day per commit (the trees come out the same:
// they only append) to keep the simulation fast.
type yearFigures struct {
	firstDayCommit, lastDayCommit int64 // most bytes one commit wrote (delta and root)
	firstDayFold, lastDayFold     int64 // most bytes one fold wrote
	planLargest, planTotal        int64 // what a plan of the last hour read: largest object, all
	planReads                     int
	segments                      int64
	v1Estimate                    int64 // the version 1 manifest's size for the same backup
}

func simulateYear(t testing.TB, partitions int32, days int) yearFigures {
	s := newSim(t, map[string]int32{"orders": partitions})
	var f yearFigures
	day := func(commit, fold *int64) {
		for range 24 * 12 {
			c := s.open()
			*commit = max(*commit, s.commit(c, s.cycle(1, 100, nil)))
			s.now = s.now.Add(5 * time.Minute)
			if c.PendingDeltas() >= FoldAfter {
				before := c.IO.WriteBytes
				require.NoError(t, c.Fold(context.Background(), s.now))
				*fold = max(*fold, c.IO.WriteBytes-before)
			}
		}
	}
	day(&f.firstDayCommit, &f.firstDayFold)
	for range days - 2 {
		c := s.open()
		cyc := s.cycle(24*12, 100, nil)
		// Timestamps as the 5-minute cycles would have had them.
		for i := range cyc {
			for j := range cyc[i].segs {
				ts := s.now.Add(time.Duration(j) * 5 * time.Minute).UnixMilli()
				cyc[i].segs[j].MinTimestamp, cyc[i].segs[j].MaxTimestamp = ts-1000, ts
			}
		}
		s.commit(c, cyc)
		s.now = s.now.Add(24 * time.Hour)
		require.NoError(t, c.Fold(context.Background(), s.now))
		s.oracle.Topics[0].Data = s.oracle.Topics[0].Data[:0:0] // the oracle is not checked here; keep memory flat
		for p := range partitions {
			s.oracle.Topics[0].Data = append(s.oracle.Topics[0].Data, archive.Partition{Partition: p, NextOffset: c.Root().Topics[0].Data[p].NextOffset})
		}
	}
	day(&f.lastDayCommit, &f.lastDayFold)

	// A point-in-time restore of the last hour plans with this filter (activities/kafka).
	from := s.now.Add(-time.Hour).UnixMilli()
	c := s.open()
	v, err := c.View(context.Background(), Filter{Overlaps: func(seg archive.SegmentRef) bool { return seg.MaxTimestamp >= from }})
	require.NoError(t, err)
	for _, p := range v.Topics[0].Data {
		require.Len(t, p.Segments, 12, "partition %d: the last hour's segments", p.Partition)
	}
	f.planLargest, f.planTotal, f.planReads = c.IO.LargestRead, c.IO.ReadBytes, c.IO.Reads
	for _, p := range c.Root().Topics[0].Data {
		f.segments += p.Index.Segments
	}
	// Measured: a version 1 manifest costs about 308 bytes per segment reference.
	f.v1Estimate = f.segments * 308
	return f
}

// Bounds the catalog keeps whatever the backup's age (see docs/benchmarks.md).
const (
	maxCommitBytes   = 96 << 10 // 100 partitions: the delta (~30 KB) and the root (~45 KB)
	maxFoldBytes     = 8 << 20  // 100 partitions × at most three rewritten nodes
	maxPlanReadBytes = 64 << 10 // the largest single object a plan of the last hour reads
	maxPlanTotal     = 4 << 20  // everything it reads, for 100 partitions: a path each
)

func checkYear(t testing.TB, f yearFigures) {
	require.LessOrEqual(t, f.firstDayCommit, int64(maxCommitBytes), "commit bytes on the first day")
	require.LessOrEqual(t, f.lastDayCommit, int64(maxCommitBytes), "commit bytes on the last day")
	require.LessOrEqual(t, f.firstDayFold, int64(maxFoldBytes), "fold bytes on the first day")
	require.LessOrEqual(t, f.lastDayFold, int64(maxFoldBytes), "fold bytes on the last day")
	require.LessOrEqual(t, f.planLargest, int64(maxPlanReadBytes), "largest object a plan of the last hour reads")
	require.LessOrEqual(t, f.planTotal, int64(maxPlanTotal), "bytes a plan of the last hour reads")
	// The cost of a commit does not grow with age: the last day's within 10 % of the first's.
	require.InEpsilon(t, float64(f.firstDayCommit), float64(f.lastDayCommit), 0.1, "commit bytes, first day vs last")
}

// TestCommitCostDoesNotGrowWithAge is the simulated year at a month and 20 partitions, so the
// suite checks the bounds on every run; BenchmarkCatalogYear runs the full year.
func TestCommitCostDoesNotGrowWithAge(t *testing.T) {
	f := simulateYear(t, 20, 30)
	t.Logf("%+v", f)
	checkYear(t, f)
}

// BenchmarkCatalogYear: 100 partitions, one segment per partition per 5 minutes, 365 days.
//
//	go test -run '^$' -bench BenchmarkCatalogYear -benchtime 1x ./internal/catalog/
func BenchmarkCatalogYear(b *testing.B) {
	for b.Loop() {
		f := simulateYear(b, 100, 365)
		fmt.Fprintf(b.Output(), "year: %+v\n", f)
		checkYear(b, f)
		b.ReportMetric(float64(max(f.firstDayCommit, f.lastDayCommit)), "commit-bytes")
		b.ReportMetric(float64(f.lastDayCommit)/float64(f.firstDayCommit), "commit-last/first")
		b.ReportMetric(float64(max(f.firstDayFold, f.lastDayFold)), "fold-bytes")
		b.ReportMetric(float64(f.planLargest), "plan-read-bytes")
		b.ReportMetric(float64(f.planTotal), "plan-total-bytes")
		b.ReportMetric(float64(f.segments), "segments")
		b.ReportMetric(float64(f.v1Estimate), "v1-manifest-bytes")
	}
}

// BenchmarkRestoreStreamViews: a restore's streams each open the restore's pin of a backup of
// 2,000 partitions with FoldAfter deltas pending (each delta names every partition) and view
// their own partition, as a worker's streams do: each decoding the pin and the deltas itself
// (unshared), decoding the pin itself and sharing the deltas (as session 40 left it,
// deltas-shared), and sharing both through a ViewCache (shared). Reports the milliseconds per
// stream's open and view each way, the ratios to unshared, and the stored bytes of a delta per
// partition it names.
//
//	go test -run '^$' -bench BenchmarkRestoreStreamViews -benchtime 3x ./internal/catalog/
func BenchmarkRestoreStreamViews(b *testing.B) {
	const partitions, streams = 2000, 100
	ctx := context.Background()
	s := newSim(b, map[string]int32{"orders": partitions})
	for range FoldAfter {
		s.commit(s.open(), s.cycle(1, 100, nil))
		s.now = s.now.Add(5 * time.Minute)
	}
	root := s.open().Root()
	require.Len(b, root.Deltas, FoldAfter)
	require.NoError(b, s.open().Pin(ctx, "restore/r", s.now))
	attrs, err := s.store.Attributes(ctx, root.Deltas[0].Key)
	require.NoError(b, err)
	views := func(cache *ViewCache, sharePin bool) time.Duration {
		start := time.Now()
		for i := range int32(streams) {
			var c *Catalog
			var found bool
			var err error
			if sharePin {
				c, found, err = cache.OpenPinned(ctx, s.store, s.layout, "restore/r", s.now)
			} else {
				c, found, err = OpenPinned(ctx, s.store, s.layout, "restore/r", s.now)
				if cache != nil {
					c.ShareDeltas(cache)
				}
			}
			require.NoError(b, err)
			require.True(b, found)
			v, err := c.View(ctx, onePartition(i*(partitions/streams)))
			require.NoError(b, err)
			require.Len(b, v.Topics[0].Data[i*(partitions/streams)].Segments, FoldAfter)
		}
		return time.Since(start)
	}
	var unshared, deltas, shared time.Duration
	for b.Loop() {
		unshared += views(nil, false)
		deltas += views(NewViewCache(32<<20), false) // a new cache each time: its first view decodes
		shared += views(NewViewCache(32<<20), true)
	}
	n := float64(b.N * streams)
	b.ReportMetric(float64(unshared.Microseconds())/1000/n, "unshared-ms-per-view")
	b.ReportMetric(float64(deltas.Microseconds())/1000/n, "deltas-shared-ms-per-view")
	b.ReportMetric(float64(shared.Microseconds())/1000/n, "shared-ms-per-view")
	b.ReportMetric(float64(unshared)/float64(deltas), "x-unshared-deltas")
	b.ReportMetric(float64(unshared)/float64(shared), "x-unshared")
	b.ReportMetric(float64(attrs.Size)/partitions, "delta-bytes-per-partition")
}

// BenchmarkCopyManifest: the copy View makes of a root of 2,000 partitions, by hand
// (copyManifest) against the JSON round trip it replaced (cloneRoot). Reports both in
// microseconds and their ratio (x-json).
//
//	go test -run '^$' -bench BenchmarkCopyManifest ./internal/catalog/
func BenchmarkCopyManifest(b *testing.B) {
	s := newSim(b, map[string]int32{"orders": 1000, "payments": 1000})
	s.commit(s.open(), s.cycle(1, 100, nil))
	require.NoError(b, s.open().Fold(context.Background(), s.now))
	root := s.open().Root()
	require.NotNil(b, root.Topics[0].Data[0].Index, "a folded root")
	var byHand, viaJSON time.Duration
	for b.Loop() {
		start := time.Now()
		_ = copyManifest(root)
		byHand += time.Since(start)
		start = time.Now()
		_ = cloneRoot(root)
		viaJSON += time.Since(start)
	}
	b.ReportMetric(float64(byHand.Microseconds())/float64(b.N), "copy-us")
	b.ReportMetric(float64(viaJSON.Microseconds())/float64(b.N), "json-us")
	b.ReportMetric(float64(viaJSON)/float64(byHand), "x-json")
}
