package kafka

import (
	"testing"

	"github.com/stretchr/testify/require"

	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/workflows/kafkabackup"
)

// The catalog keeps a capture's leader epoch only when it describes the record before the
// committed next offset: an epoch of an older record could end before that offset in a log
// that was never truncated (a clean leader change since), and stop a sound backup.
func TestCommitKeepsALeaderEpochOnlyForTheCommittedOffset(t *testing.T) {
	m := &archive.Manifest{Topics: []archive.Topic{{Name: "orders", Partitions: 1, Data: []archive.Partition{{Partition: 0, StartOffset: 0, NextOffset: 100}}}}}
	epochOf := func() *int32 { return m.Topics[0].Data[0].LeaderEpoch }
	commit := func(start, next int64, mark *kafkabackup.EpochMark) {
		t.Helper()
		c := kafkabackup.CaptureResult{Topic: "orders", Partition: 0, Epoch: mark,
			CaptureProgress: kafkabackup.CaptureProgress{Start: start, Next: next}}
		require.NoError(t, mergeCommit(m, kafkabackup.CommitInput{Captures: []kafkabackup.CaptureResult{c}}))
	}

	commit(100, 200, &kafkabackup.EpochMark{Next: 200, Epoch: 3})
	require.NotNil(t, epochOf())
	require.Equal(t, int32(3), *epochOf())

	commit(100, 200, &kafkabackup.EpochMark{Next: 200, Epoch: 7}) // a retried commit changes nothing
	require.Equal(t, int32(3), *epochOf())

	commit(200, 300, &kafkabackup.EpochMark{Next: 250, Epoch: 4}) // read before the capture's end
	require.Nil(t, epochOf())

	commit(300, 400, &kafkabackup.EpochMark{Next: 400, Epoch: 0})
	require.NotNil(t, epochOf(), "epoch 0 is an epoch")
	require.Equal(t, int32(0), *epochOf())

	commit(400, 500, nil) // the capture could not tell
	require.Nil(t, epochOf())
}
