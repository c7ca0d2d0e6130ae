package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDropsNeverTheNewest(t *testing.T) {
	now := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	snaps := []SnapshotInfo{{"a", now.Add(-72 * time.Hour)}, {"b", now.Add(-48 * time.Hour)}, {"c", now.Add(-1 * time.Hour)}}
	require.Equal(t, []string{"a"}, Drops(snaps, 2, 0, now))
	require.Equal(t, []string{"a", "b"}, Drops(snaps, 0, 24*time.Hour, now))
	require.Equal(t, []string{"a", "b"}, Drops(snaps, 5, time.Minute, now), "the newest stays even when too old")
	require.Empty(t, Drops(snaps[:1], 1, time.Minute, now))
}
