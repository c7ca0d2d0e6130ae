package catalog

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"arkive.io/arkive/internal/archive"
)

// onePartition is the filter of a restore stream of orders/p.
func onePartition(p int32) Filter {
	return Filter{Partition: func(topic string, q int32) bool { return topic == "orders" && q == p }, NoGroups: true}
}

// openShared opens the catalog as a restore stream does, reading its deltas through cache.
func (s *sim) openShared(cache *ViewCache) *Catalog {
	c := s.open()
	c.ShareDeltas(cache)
	return c
}

// Streams viewing one root at the same time decode each delta once between them, and each sees
// what a catalog reading everything itself sees.
func TestSharedDeltasAreReadOncePerRoot(t *testing.T) {
	const partitions = 64
	s := newSim(t, map[string]int32{"orders": partitions})
	for range 3 {
		s.commit(s.open(), s.cycle(1, 10, nil))
		s.now = s.now.Add(time.Minute)
	}
	require.Equal(t, 3, s.open().PendingDeltas())

	cache := NewViewCache(64 << 20)
	views := make([]*archive.Manifest, partitions)
	reads := make([]int, partitions)
	var wg sync.WaitGroup
	for p := range int32(partitions) {
		wg.Go(func() {
			c := s.openShared(cache)
			v, err := c.View(context.Background(), onePartition(p))
			require.NoError(t, err)
			views[p], reads[p] = v, c.IO.Reads-1 // the root's read is each stream's own
		})
	}
	wg.Wait()
	total := 0
	for p := range int32(partitions) {
		total += reads[p]
		own, err := s.open().View(context.Background(), onePartition(p))
		require.NoError(t, err)
		require.Equal(t, own, views[p], "partition %d", p)
		require.Len(t, views[p].Topics[0].Data[p].Segments, 3, "partition %d: a segment from each delta", p)
	}
	require.Equal(t, 3, total, "the three deltas read once for %d streams", partitions)
}

// The cache never answers for another root: a new commit's view holds its new delta, and a
// backup deleted and written again under the same name (the same generations and delta keys,
// other content) is read afresh.
func TestSharedDeltasFollowTheRoot(t *testing.T) {
	cache := NewViewCache(64 << 20)
	s := newSim(t, map[string]int32{"orders": 4})
	s.commit(s.open(), s.cycle(1, 10, nil))
	before, err := s.openShared(cache).View(context.Background(), Filter{})
	require.NoError(t, err)
	require.Len(t, before.Topics[0].Data[0].Segments, 1)

	s.now = s.now.Add(time.Minute)
	s.commit(s.open(), s.cycle(1, 10, nil))
	s.check(s.openShared(cache))

	// The same backup again from nothing: generation 1 and its delta's key come back.
	for _, k := range keys(t, s.store) {
		require.NoError(t, s.store.Delete(context.Background(), k))
	}
	again := newSim(t, map[string]int32{"orders": 4})
	again.store, again.now = s.store, s.now.Add(time.Hour)
	again.commit(again.open(), again.cycle(1, 25, nil))
	c := again.openShared(cache)
	require.Equal(t, int64(1), c.Root().Generation)
	require.Equal(t, before.Deltas[0].Key, c.Root().Deltas[0].Key, "the same delta key as the first backup's")
	again.check(c)
}

// The cache holds at most its limit; a delta larger than the limit is read but not kept, and a
// delta that could not be read is read again by the next view.
func TestViewCacheLimitAndFailedReads(t *testing.T) {
	s := newSim(t, map[string]int32{"orders": 32})
	for range 3 {
		s.commit(s.open(), s.cycle(1, 10, nil))
		s.now = s.now.Add(time.Minute)
	}
	root := s.open().Root()
	var largest int64
	for _, d := range root.Deltas {
		attrs, err := s.store.Attributes(context.Background(), d.Key)
		require.NoError(t, err)
		largest = max(largest, attrs.Size)
	}

	small := NewViewCache(largest + largest/2) // room for one delta, not two
	s.check(s.openShared(small))
	require.Positive(t, small.Size())
	require.LessOrEqual(t, small.Size(), largest+largest/2)

	tiny := NewViewCache(largest / 4)
	s.check(s.openShared(tiny))
	require.Zero(t, tiny.Size(), "no delta fits")

	cache := NewViewCache(64 << 20)
	key := root.Deltas[1].Key
	data, err := s.store.ReadAll(context.Background(), key)
	require.NoError(t, err)
	require.NoError(t, s.store.Delete(context.Background(), key))
	_, err = s.openShared(cache).View(context.Background(), Filter{})
	require.ErrorContains(t, err, key)
	require.NoError(t, s.store.Put(context.Background(), key, data))
	s.check(s.openShared(cache))
}

// Streams opening a restore's pin through the cache share one decoded root, views of it equal
// those of a catalog that decoded the pin itself and leave it unchanged, and a renewed or
// expired pin is not answered from the old entry.
func TestSharedPinIsDecodedOnce(t *testing.T) {
	ctx := context.Background()
	const partitions = 16
	s := newSim(t, map[string]int32{"orders": partitions})
	s.commit(s.open(), s.cycle(1, 10, nil))
	s.now = s.now.Add(time.Minute)
	s.commit(s.open(), s.cycle(1, 10, nil))
	pinned := s.now
	require.NoError(t, s.open().Pin(ctx, "restore/r1", pinned))
	// A commit after the pin: the pinned views must not see it.
	s.commit(s.open(), s.cycle(1, 10, nil))

	cache := NewViewCache(64 << 20)
	roots := make([]*archive.Manifest, partitions)
	views := make([]*archive.Manifest, partitions)
	var wg sync.WaitGroup
	for p := range int32(partitions) {
		wg.Go(func() {
			c, found, err := cache.OpenPinned(ctx, s.store, s.layout, "restore/r1", pinned.Add(time.Second))
			require.NoError(t, err)
			require.True(t, found)
			roots[p] = c.Root()
			v, err := c.View(ctx, onePartition(p))
			require.NoError(t, err)
			v.Topics[0].Data[p].Segments[0].Key = "changed by the stream" // a view is its own
			views[p] = v
		})
	}
	wg.Wait()
	own, _, err := OpenPinned(ctx, s.store, s.layout, "restore/r1", pinned.Add(time.Second))
	require.NoError(t, err)
	for p := range int32(partitions) {
		require.Same(t, roots[0], roots[p], "stream %d decoded the pin again", p)
		want, err := own.View(ctx, onePartition(p))
		require.NoError(t, err)
		require.Len(t, want.Topics[0].Data[p].Segments, 2, "the pinned generation's two segments")
		want.Topics[0].Data[p].Segments[0].Key = "changed by the stream"
		require.Equal(t, want, views[p], "partition %d", p)
	}
	require.Equal(t, own.Root(), roots[0], "the shared root is left as it was read")

	// An hour on, the first open renews the pin (new bytes): the next decodes the new pin.
	renewed, found, err := cache.OpenPinned(ctx, s.store, s.layout, "restore/r1", pinned.Add(PinRenewAfter))
	require.NoError(t, err)
	require.True(t, found)
	require.Same(t, roots[0], renewed.Root(), "the renewing open read the old pin")
	after, found, err := cache.OpenPinned(ctx, s.store, s.layout, "restore/r1", pinned.Add(PinRenewAfter+time.Second))
	require.NoError(t, err)
	require.True(t, found)
	require.NotSame(t, roots[0], after.Root())
	require.Equal(t, roots[0].Generation, after.Root().Generation)

	// Expired, the cached pin does not open.
	_, found, err = cache.OpenPinned(ctx, s.store, s.layout, "restore/r1", pinned.Add(PinRenewAfter+PinFor))
	require.NoError(t, err)
	require.False(t, found)
}
