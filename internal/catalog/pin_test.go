package catalog

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"arkive.io/arkive/internal/archive"
)

// A pinned generation stays readable while folds, compaction's retirements and trims run past
// the retired objects' grace; without a pin the same generation's objects are deleted, and once
// the pin expires (or is removed) they go too.
func TestPinKeepsAGenerationReadable(t *testing.T) {
	ctx := context.Background()
	run := func(pinned bool) (s *sim, old *archive.Manifest, want *archive.Manifest) {
		s = newSim(t, map[string]int32{"orders": 2})
		for range 30 {
			c := s.open()
			s.commit(c, s.cycle(2, 10, nil))
			if c.PendingDeltas() >= FoldAfter {
				require.NoError(t, c.Fold(ctx, s.now))
			}
			s.now = s.now.Add(time.Minute)
		}
		c := s.open()
		old = c.Root()
		var err error
		want, err = c.View(ctx, Filter{})
		require.NoError(t, err)
		if pinned {
			require.NoError(t, c.Pin(ctx, "restore/r1", s.now))
		}
		// Ten hours of commits and folds, and retention dropping the oldest half.
		for i := range 30 {
			s.now = s.now.Add(20 * time.Minute)
			c := s.open()
			s.commit(c, s.cycle(2, 10, nil))
			require.NoError(t, c.Fold(ctx, s.now))
			if i == 10 {
				cut := want.Topics[0].Data[0].Segments[len(want.Topics[0].Data[0].Segments)/2].FirstOffset
				_, err := s.open().Trim(ctx, s.now, func(seg archive.SegmentRef) bool { return seg.LastOffset < cut }, false, nil)
				require.NoError(t, err)
			}
		}
		return s, old, want
	}

	s, old, _ := run(false)
	_, err := (&Catalog{store: s.store, layout: s.layout, root: old}).View(ctx, Filter{})
	require.Error(t, err, "unpinned, the old generation's objects are deleted after their grace")

	s, old, want := run(true)
	c, found, err := OpenPinned(ctx, s.store, s.layout, "restore/r1", s.now)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, old.Generation, c.Root().Generation)
	got, err := c.View(ctx, Filter{})
	require.NoError(t, err, "pinned, every object the generation names is still there")
	require.Equal(t, want, got)
	oldest, err := s.open().OldestPin(ctx, s.now)
	require.NoError(t, err)
	require.Equal(t, old.Generation, oldest)
	_, found, err = OpenPinned(ctx, s.store, s.layout, "restore/other", s.now)
	require.NoError(t, err)
	require.False(t, found, "a pin is its holder's")

	// OpenPinned renewed the pin at s.now; a day and more later it has expired: the next
	// write deletes it and what only the pinned generation named.
	s.now = s.now.Add(PinFor + time.Minute)
	c = s.open()
	s.commit(c, s.cycle(1, 10, nil))
	require.NoError(t, c.Fold(ctx, s.now))
	_, found, err = OpenPinned(ctx, s.store, s.layout, "restore/r1", s.now)
	require.NoError(t, err)
	require.False(t, found)
	_, err = (&Catalog{store: s.store, layout: s.layout, root: old}).View(ctx, Filter{})
	require.Error(t, err, "after the pin, the old generation's objects go")
	for _, k := range keys(t, s.store) {
		require.NotContains(t, k, "/pins/", "the expired pin is deleted")
	}

	// Unpin removes a live pin at once.
	require.NoError(t, s.open().Pin(ctx, "restore/r2", s.now))
	require.NoError(t, Unpin(ctx, s.store, s.layout, "restore/r2"))
	_, found, err = OpenPinned(ctx, s.store, s.layout, "restore/r2", s.now)
	require.NoError(t, err)
	require.False(t, found)
}

// A restore's streams each open its pin as they start: the pin is rewritten (the root copied
// again) only once it is PinRenewAfter old, so thousands of streams starting within the hour
// write it once, and it always has most of a day left when one starts.
func TestOpenPinnedRenewsHourly(t *testing.T) {
	ctx := context.Background()
	s := newSim(t, map[string]int32{"orders": 4})
	s.commit(s.open(), s.cycle(1, 10, nil))
	pinned := s.now
	require.NoError(t, s.open().Pin(ctx, "restore/r1", pinned))
	expires := func() time.Time {
		data, err := s.store.ReadAll(ctx, pinKey(s.layout, "restore/r1"))
		require.NoError(t, err)
		var p pin
		require.NoError(t, json.Unmarshal(data, &p))
		return p.Expires
	}

	for _, after := range []time.Duration{time.Second, 30 * time.Minute, PinRenewAfter - time.Second} {
		c, found, err := OpenPinned(ctx, s.store, s.layout, "restore/r1", pinned.Add(after))
		require.NoError(t, err)
		require.True(t, found)
		require.Zero(t, c.IO.Writes, "%s after the pin: not rewritten", after)
		require.True(t, pinned.Add(PinFor).Equal(expires()), "still the first pin's expiry")
	}
	c, found, err := OpenPinned(ctx, s.store, s.layout, "restore/r1", pinned.Add(PinRenewAfter))
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, 1, c.IO.Writes, "an hour after the pin: renewed")
	require.True(t, pinned.Add(PinRenewAfter+PinFor).Equal(expires()), "a day from the renewal")
}
