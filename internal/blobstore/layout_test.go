package blobstore_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"arkive.io/arkive/internal/blobstore"
)

func TestKafkaLayout(t *testing.T) {
	l, err := blobstore.Kafka("prod/orders-backup")
	require.NoError(t, err)
	require.Equal(t, "kafka/prod/orders-backup/manifest.json", l.Manifest())
	key, err := l.Segment("orders.v1", 3, 100, 199)
	require.NoError(t, err)
	require.Equal(t, "kafka/prod/orders-backup/topics/orders.v1/3/00000000000000000100-00000000000000000199.seg", key)
	parsed, ok := l.ParseSegment(key)
	require.True(t, ok)
	require.Equal(t, blobstore.SegmentKey{Topic: "orders.v1", Partition: 3, First: 100, Last: 199}, parsed)
	name, ok := blobstore.KafkaBackupFromManifestKey(l.Manifest())
	require.True(t, ok)
	require.Equal(t, "prod/orders-backup", name)

	for _, bad := range []string{"", "Prod/x", "a//b", "../x", "a/..", "x/"} {
		_, err := blobstore.Kafka(bad)
		require.Error(t, err, "backup name %q", bad)
	}
	for _, tc := range []struct {
		topic       string
		part        int32
		first, last int64
	}{{"a b", 0, 0, 1}, {"..", 0, 0, 1}, {"t", -1, 0, 1}, {"t", 0, 5, 4}, {"t", 0, -1, 4}} {
		_, err := l.Segment(tc.topic, tc.part, tc.first, tc.last)
		require.Error(t, err, "%+v", tc)
	}
	for _, notSeg := range []string{l.Manifest(), l.Root() + "topics/t/0/1-2.seg", l.Root() + "topics/t/x/00000000000000000001-00000000000000000002.seg"} {
		_, ok := l.ParseSegment(notSeg)
		require.False(t, ok, notSeg)
	}
}

func TestSchemaLayout(t *testing.T) {
	l, err := blobstore.Schemas("default/registry")
	require.NoError(t, err)
	key, err := l.Snapshot("20261121T101500Z-3f2a")
	require.NoError(t, err)
	require.Equal(t, "schemas/default/registry/snapshots/20261121T101500Z-3f2a.json.zst", key)
	_, err = l.Snapshot("../../etc")
	require.Error(t, err)
}
