package kafka

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows/kafkarestore"
)

// newCapped is a restorer with only what admit and release use; waits signals each time admit
// is about to wait for room.
func newCapped(a *Activities, maxUnacked int64) (r *restorer, waits chan struct{}) {
	waits = make(chan struct{}, 1)
	r = &restorer{maxUnacked: maxUnacked, memory: a.restoreMemory(), failedCh: make(chan struct{}), onWait: func() { waits <- struct{}{} }}
	r.cond = sync.NewCond(&r.mu)
	return r, waits
}

// blocks admits p in the background and requires that it waits for room; the returned channel
// gives admit's result once room is made.
func blocks(t *testing.T, ctx context.Context, r *restorer, waits chan struct{}, p *pending, what string) chan error {
	t.Helper()
	admitted := make(chan error, 1)
	go func() { admitted <- r.admit(ctx, p) }()
	select {
	case <-waits:
	case err := <-admitted:
		t.Fatalf("%s: admitted without waiting (%v)", what, err)
	}
	return admitted
}

// costing is a record whose in-flight cost is n bytes (n - inFlightOverhead even): its bytes
// count twice, the segment block they are read into and the producer's encoding.
func costing(n int64) *pending { return &pending{bytes: (n - inFlightOverhead) / 2} }

func (r *restorer) ack(p *pending) {
	r.mu.Lock()
	r.release(p)
	r.mu.Unlock()
}

// A stream holds at most its cap of unacknowledged records, waiting for acknowledgements to
// make room; a record larger than the cap goes alone once the stream is empty; the worker's
// cap is shared by its streams; a cancelled wait returns at once.
func TestRestoreInFlightCaps(t *testing.T) {
	a := &Activities{RestoreMemory: 8 << 20}
	r, waits := newCapped(a, 1<<20)
	ctx := context.Background()
	small := func() *pending { return costing(512 << 10) }
	p1, p2, p3 := small(), small(), small()
	require.NoError(t, r.admit(ctx, p1))
	require.NoError(t, r.admit(ctx, p2))
	require.Equal(t, int64(1<<20), r.unacked)

	admitted := blocks(t, ctx, r, waits, p3, "a third record with the stream's cap full")
	r.ack(p1)
	require.NoError(t, <-admitted)
	require.Equal(t, int64(1<<20), r.unacked, "p2 and p3")

	// A record larger than the cap waits for an empty stream, then goes alone.
	big := costing(3 << 20)
	admitted = blocks(t, ctx, r, waits, big, "a record larger than the cap, with p2 and p3 in flight")
	r.ack(p2)
	r.ack(p3)
	require.NoError(t, <-admitted)
	require.Equal(t, int64(3<<20), r.unacked, "alone")

	// The worker's 8 MiB: another stream with room of its own still waits for it.
	other, otherWaits := newCapped(a, 64<<20)
	for range 3 { // 3 × ~1.3 MiB beside the big record's 3 MiB: 6.9 of the worker's 8 MiB
		require.NoError(t, other.admit(ctx, costing(1300<<10)))
	}
	cctx, cancel := context.WithCancel(ctx)
	admitted = blocks(t, cctx, other, otherWaits, costing(1500<<10), "a record with the worker's cap full")
	cancel()
	require.ErrorIs(t, <-admitted, context.Canceled)
	admitted = blocks(t, ctx, other, otherWaits, costing(1500<<10), "a record with the worker's cap full")
	r.ack(big)
	require.NoError(t, <-admitted, "room again once the big record is acknowledged")
}

// A restore's producer batches up to 1 MiB while every planned record needs at most half of it,
// whatever larger batches the target allows; a smaller max.message.bytes still bounds it, and
// larger records keep the target's limit (room for one record with all its header lengths).
func TestRestoreBatchBytes(t *testing.T) {
	for _, tc := range []struct {
		maxMessageBytes, need, want int64
	}{
		{16 << 20, 125, 1 << 20},           // the test broker's 16 MiB, small records
		{8 << 20, 512 << 10, 1 << 20},      // at the threshold
		{8 << 20, 512<<10 + 1, 8 << 20},    // past it: the target's limit, as before
		{10_000, 125, 10_000},              // a target allowing less than 1 MiB
		{1_048_588, 5 << 20, 1_048_588},    // preflight refuses this restore; never raised
		{64 << 20, 20<<20 + 125, 64 << 20}, // large records
	} {
		if got := batchBytes(tc.maxMessageBytes, tc.need); got != tc.want {
			t.Errorf("batchBytes(%d, %d) = %d, want %d", tc.maxMessageBytes, tc.need, got, tc.want)
		}
	}
}

// KeyHash routes a record by its key as restored: with keys remapped, the key's schema id is
// the target's, and so is the partition, as a producer on the target would pick it.
func TestRestoreKeyHashRoutesTheRewrittenKey(t *testing.T) {
	const partitions = 12
	in := kafkarestore.RestoreInput{Mapping: kafkarestore.MappingKeyHash, Remap: &kafkarestore.StreamRemap{Keys: true},
		Target: kafkarestore.TargetTopic{Name: "orders", Partitions: partitions}}
	r := &restorer{in: in, ids: map[int32]int32{7: 1007}}
	// A key in the Schema Registry wire format: magic byte, schema id 7, payload.
	var payload []byte
	for i := 0; ; i++ { // a payload whose partition changes with the id, so the test can tell
		payload = []byte(fmt.Sprintf("customer-%d", i))
		src := append([]byte{0, 0, 0, 0, 7}, payload...)
		dst := append([]byte{0, 0, 0, 0x03, 0xef}, payload...)
		if KeyPartition(src, partitions) != KeyPartition(dst, partitions) {
			break
		}
	}
	rec := &archive.Record{Offset: 5, Key: append([]byte{0, 0, 0, 0, 7}, payload...), Value: []byte("v")}
	p := &pending{partition: 3, offset: rec.Offset}
	require.NoError(t, r.prepare(p, rec))
	want := append([]byte{0, 0, 0, 0x03, 0xef}, payload...)
	require.Equal(t, want, p.msg.Key, "the key's schema id is the target's")
	require.Equal(t, KeyPartition(want, partitions), p.tp)
	require.Equal(t, p.tp, p.msg.Partition)

	// Without remapping the key goes as it is, and so does its hash.
	r = &restorer{in: in}
	r.in.Remap = nil
	rec.Key = append([]byte{0, 0, 0, 0, 7}, payload...)
	require.NoError(t, r.prepare(p, rec))
	require.Equal(t, KeyPartition(rec.Key, partitions), p.tp)
}

// A stream's start compares each target partition it writes with its checkpoint: records past
// the checkpoint were written by an earlier attempt and are read back from there; a partition
// that ends before the checkpoint lost records, which is refused; partitions of other streams
// are not looked at.
func TestRestoreCheckTargetFindsWhatAnEarlierAttemptWrote(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	topic := testenv.Topic(t, "restore-check-target", 4, nil)
	pcfg := testenv.ProducerConfig()
	pcfg.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer([]string{bootstrap}, pcfg)
	require.NoError(t, err)
	defer p.Close()
	for part, n := range []int{3, 0, 2, 5} {
		for i := range n {
			_, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: int32(part), Value: sarama.StringEncoder(fmt.Sprint(part, "-", i))})
			require.NoError(t, err)
		}
	}
	check := func(stream []int32, checkpoint []int64) (*restorer, error) {
		cfg := testenv.ProducerConfig()
		cfg.Metadata.Full = false
		client, err := sarama.NewClient([]string{bootstrap}, cfg)
		require.NoError(t, err)
		r := &restorer{client: client, verifiers: map[int32]sarama.PartitionConsumer{},
			progress: kafkarestore.Progress{Target: checkpoint}}
		r.in.Mapping = kafkarestore.MappingSame
		r.in.Target = kafkarestore.TargetTopic{Name: topic, Partitions: 4}
		for _, sp := range stream {
			r.in.Stream.Partitions = append(r.in.Stream.Partitions, kafkarestore.StreamPartition{Partition: sp})
		}
		t.Cleanup(r.close)
		return r, r.checkTarget(context.Background())
	}

	r, err := check([]int32{0, 1, 2}, []int64{1, 0, 2, 0})
	require.NoError(t, err)
	require.Equal(t, []int64{2, 0, 0, 0}, r.tail, "partition 0 holds two records past its checkpoint; 3 is another stream's")
	require.Equal(t, []int64{1, 0, 0, 0}, r.next)
	require.Len(t, r.verifiers, 1)
	msg := <-r.verifiers[0].Messages()
	require.Equal(t, int64(1), msg.Offset, "reading back starts at the checkpoint")
	require.Equal(t, "0-1", string(msg.Value))

	_, err = check([]int32{2, 3}, []int64{0, 0, 4, 5})
	requirePermanent(t, err, kafkarestore.ErrTargetChanged, "ends at offset 2, before the 4 this restore had written up to: records were deleted")
}
