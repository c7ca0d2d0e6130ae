package worker_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/catalog"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows/kafkabackup"
	"arkive.io/arkive/workflows/kafkarestore"
)

// Issue 22, point 13: a damaged archive under a restore. One segment has a flipped byte in its
// middle, one is truncated, one is deleted from the storage. A restore never writes a wrong
// record: by default it ends Failed naming the object and the first offset it could not read,
// with every record before it written and counted; with onDamage SkipBlock it skips what it
// cannot read, completes, and lists every skipped range in its status.
func TestKafkaRestoreOfADamagedBackup(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	topic := testenv.Topic(t, "damage", 1, nil)
	const n = 3000
	produceNumbered(t, bootstrap, topic, n, time.Now().Add(-time.Hour))
	c, queue := startWorker(t, secrets.Map{})
	dir := t.TempDir()
	storage := arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: dir}}
	backupOnce(t, c, queue, bootstrap, storage, "default/damage", topic, func(s *kafkabackup.Spec) { s.MaxSegmentBytes = 2048 })

	store, err := blobstore.Open(context.Background(), storage, nil)
	require.NoError(t, err)
	defer store.Close()
	layout, err := blobstore.Kafka("default/damage")
	require.NoError(t, err)
	m, err := catalog.Read(context.Background(), store, layout)
	require.NoError(t, err)
	segs := m.Topics[0].Data[0].Segments
	require.Greater(t, len(segs), 8, "small segments, so damage hits some of many")
	flipped, truncated, deleted := segs[2], segs[4], segs[6]
	path := func(s archive.SegmentRef) string { return filepath.Join(dir, filepath.FromSlash(s.Key)) }
	data, err := os.ReadFile(path(flipped))
	require.NoError(t, err)
	data[len(data)/2] ^= 0x5a
	require.NoError(t, os.WriteFile(path(flipped), data, 0o600))
	data, err = os.ReadFile(path(truncated))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path(truncated), data[:len(data)/2], 0o600))
	require.NoError(t, os.Remove(path(deleted)))

	// Default (Fail): the records before the damage, every one counted, and the failure names
	// the object and the first offset not restored.
	failTarget := topic + "-fail"
	wid := startRestore(t, c, queue, bootstrap, storage, "default/damage", kafkarestore.Spec{CreateTopics: true,
		Topics: []kafkarestore.TopicMapping{{Source: topic, Target: failTarget}}})
	s := restoreStatus(t, c, wid)
	require.Equal(t, kafkarestore.PhaseFailed, s.Phase)
	require.Equal(t, kafkarestore.ErrDamagedBackup, s.Reason, s.LastError)
	require.Contains(t, s.LastError, flipped.Key)
	first := regexp.MustCompile(`offset (\d+) and later were not restored`).FindStringSubmatch(s.LastError)
	require.NotNil(t, first, s.LastError)
	f, _ := strconv.Atoi(first[1])
	require.True(t, int64(f) >= flipped.FirstOffset && int64(f) <= flipped.LastOffset, "the first offset not restored (%d) lies in the damaged segment %d-%d", f, flipped.FirstOffset, flipped.LastOffset)
	require.Equal(t, numbered(0, f-1), values(t, bootstrap, failTarget), "exactly the records before the damage")
	require.EqualValues(t, f, s.Records, "and the status counts them")

	// SkipBlock: everything readable, in order, and the three ranges listed.
	skipTarget := topic + "-skip"
	wid = startRestore(t, c, queue, bootstrap, storage, "default/damage", kafkarestore.Spec{CreateTopics: true, OnDamage: kafkarestore.OnDamageSkipBlock,
		Topics: []kafkarestore.TopicMapping{{Source: topic, Target: skipTarget}}})
	s = restoreStatus(t, c, wid)
	require.Equal(t, kafkarestore.PhaseDone, s.Phase, s.LastError)
	require.Len(t, s.Skipped, 3, "%v", s.Skipped)
	var want []string
	skippedAt := func(o int64) bool {
		for _, r := range s.Skipped {
			if o >= r.From && o <= r.To {
				return true
			}
		}
		return false
	}
	for i := range n {
		if !skippedAt(int64(i)) {
			want = append(want, fmt.Sprintf("v%d", i))
		}
	}
	for i, seg := range []archive.SegmentRef{flipped, truncated, deleted} {
		r := s.Skipped[i]
		require.Equal(t, seg.Key, r.Object)
		require.Equal(t, seg.LastOffset, r.To, "the rest of segment %s is skipped", seg.Key)
		require.True(t, r.From >= seg.FirstOffset && r.From <= seg.LastOffset, "%+v", r)
	}
	require.Equal(t, deleted.FirstOffset, s.Skipped[2].From, "a missing segment is skipped whole")
	require.Contains(t, s.Skipped[2].Reason, "missing")
	require.Equal(t, want, values(t, bootstrap, skipTarget), "every readable record once, in order, and nothing else")
	require.EqualValues(t, len(want), s.Records)
}
