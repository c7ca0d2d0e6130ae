package kafka

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/semaphore"

	"arkive.io/arkive/activities/beat"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/backups"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/catalog"
	"arkive.io/arkive/internal/metrics"
	"arkive.io/arkive/workflows/kafkabackup"
	"arkive.io/arkive/workflows/kafkarestore"
)

// Origin header names, added when a restore asks for them.
const (
	HeaderOriginTopic     = "arkive.origin.topic"
	HeaderOriginPartition = "arkive.origin.partition"
	HeaderOriginOffset    = "arkive.origin.offset"
	HeaderOriginTimestamp = "arkive.origin.timestamp"
)

// maxOffsetRanges bounds the offset map a stream returns (it travels in workflow history).
const maxOffsetRanges = 10_000

// Restore writes one stream into the target cluster, exactly once across any number of
// crashes and retries.
//
// The stream is a fixed sequence (source partitions in order, each in offset order, filtered by
// the window), and every target partition has this stream as its only writer, so what a target
// partition holds past the checkpoint is a prefix of the records this stream routes to it. On
// start the activity therefore compares each target partition's end with the checkpoint: the
// records beyond it were written by an attempt that died before checkpointing them; they are
// read back, checked against the records they must be, and skipped instead of written again.
// Within an attempt an idempotent producer keeps retries from duplicating.
//
// The checkpoint (Progress) only ever advances over records the target acknowledged, in stream
// order, and is heartbeated every second; a retried attempt starts from the last heartbeat, a new
// activity from the progress the workflow holds.
func (a *Activities) Restore(ctx context.Context, in kafkarestore.RestoreInput) (kafkarestore.Progress, error) {
	if in.TargetsPage != "" { // a restore of thousands of topics: the targets are in a page
		t, err := a.pagedTarget(ctx, in)
		if err != nil {
			return kafkarestore.Progress{}, err
		}
		in.Target = t
	}
	r, err := a.newRestorer(ctx, in)
	if err != nil {
		return kafkarestore.Progress{}, err
	}
	defer r.close()
	return r.run(ctx)
}

type restorer struct {
	in       kafkarestore.RestoreInput
	store    *blobstore.Store
	key      []byte
	topic    archive.Topic
	client   sarama.Client // metadata, offsets and reading back
	producer *kgo.Client   // writes (producer.go)
	consumer sarama.Consumer
	throttle *throttle
	deadline time.Time       // the activity stops at a checkpoint after this (zero: never)
	stopping atomic.Bool     // the worker is shutting down: stop at a checkpoint now
	ids      map[int32]int32 // schema id map (spec.schemaRegistry), nil when ids are kept

	index int64   // stream index of the next record routed
	tail  []int64 // per target partition: records found beyond the checkpoint, not yet matched
	// gone: of those, how many the target's retention already deleted (the first ones): they
	// were written, so they count as written, but cannot be read back. next is the target
	// offset of the next tail record.
	gone, next []int64
	verifiers  map[int32]sarama.PartitionConsumer // read those records back

	mu       sync.Mutex
	cond     *sync.Cond
	progress kafkarestore.Progress
	inflight []*pending // routed records in stream order, not yet folded into progress
	groups   []archive.GroupOffset
	failed   error
	failedCh chan struct{}

	// unacked is the cost (recordCost) of the records handed to the producer and not yet
	// acknowledged (guarded by mu); it stays below maxUnacked, and the worker's share (memory)
	// is held for it.
	unacked, maxUnacked int64
	memory              *semaphore.Weighted
	onWait              func() // tests: called when admit is about to wait for room
}

// pending is one routed record on its way to the target.
type pending struct {
	part      int
	partition int32
	offset    int64
	index     int64
	tp        int32
	target    int64
	bytes     int64
	cost      int64 // what it holds of the in-flight caps until acknowledged (0: never sent)
	verified  bool
	done      bool
	msg       kgo.Record // what goes to the producer, allocated with the entry: one allocation a record
}

// inFlightOverhead is what a record in flight costs beside its bytes: its pending entry with
// the message (232 bytes) and the producer's bookkeeping. It makes the byte caps bound small
// records too.
const inFlightOverhead = 256

// recordCost counts a record's bytes twice: until the target acknowledges it, its bytes in the
// segment block the message points into and the producer's encoding of it in a request buffer
// are both alive (franz-go encodes a request into one buffer; in a heap profile of
// BenchmarkRestoreMemory16 those buffers were as large as the records). The caps then bound
// the memory records hold, not half of it.
func recordCost(p *pending) int64 { return 2*p.bytes + inFlightOverhead }

func (a *Activities) newRestorer(ctx context.Context, in kafkarestore.RestoreInput) (*restorer, error) {
	if in.Target.Partitions < 1 || len(in.Target.Baseline) != int(in.Target.Partitions) {
		return nil, invalidRestore("target topic %s: %d partitions with %d baseline offsets", in.Target.Name, in.Target.Partitions, len(in.Target.Baseline))
	}
	r := &restorer{in: in, verifiers: map[int32]sarama.PartitionConsumer{}, failedCh: make(chan struct{}),
		maxUnacked: cmp.Or(in.MaxInFlightBytes, DefaultStreamInFlightBytes), memory: a.restoreMemory()}
	r.cond = sync.NewCond(&r.mu)
	r.progress = kafkarestore.Progress{Target: slices.Clone(in.Target.Baseline)}
	if in.Resume != nil {
		r.progress = *in.Resume
	}
	if activity.HasHeartbeatDetails(ctx) {
		var p kafkarestore.Progress
		if err := activity.GetHeartbeatDetails(ctx, &p); err == nil && len(p.Target) == len(in.Target.Baseline) && p.Records >= r.progress.Records {
			r.progress = p
		}
	}
	if len(r.progress.Target) != int(in.Target.Partitions) {
		return nil, invalidRestore("resume of %s: checkpoint has %d target partitions, the target %d", in.Target.Name, len(r.progress.Target), in.Target.Partitions)
	}
	r.index = r.progress.Index
	if in.MaxRunTime > 0 {
		r.deadline = time.Now().Add(in.MaxRunTime)
	}
	for _, g := range in.Groups {
		if !slices.ContainsFunc(r.progress.Groups, func(t kafkarestore.TranslatedGroup) bool {
			return t.Group == g.Group && t.SourcePartition == g.Partition
		}) {
			r.groups = append(r.groups, g)
		}
	}
	r.throttle = newThrottle(in.RateLimit, in.Target.MaxMessageBytes)

	store, m, _, err := a.openRestore(ctx, in.Connection, catalog.Filter{
		Partition: func(topic string, p int32) bool {
			return topic == in.Stream.Source && slices.ContainsFunc(in.Stream.Partitions, func(sp kafkarestore.StreamPartition) bool { return sp.Partition == p })
		},
		Overlaps: in.Window.Overlaps,
		NoGroups: true,
		Runs:     func(string) bool { return false },
	}, readPinned)
	if err != nil {
		return nil, err
	}
	r.store, r.key = store.Store, store.Key
	if m.Generation < in.Generation {
		r.close()
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("backup %s: manifest generation %d is older than the planned %d", in.Backup, m.Generation, in.Generation), kafkarestore.ErrCorruptManifest, nil)
	}
	ti := slices.IndexFunc(m.Topics, func(t archive.Topic) bool { return t.Name == in.Stream.Source })
	if ti < 0 {
		r.close()
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("topic %s is no longer in backup %s", in.Stream.Source, in.Backup), kafkarestore.ErrBackupNotFound, nil)
	}
	r.topic = m.Topics[ti]
	if r.ids, err = loadIDs(ctx, r.store, in.Remap); err != nil {
		r.close()
		return nil, err
	}

	cfg, kspec, err := a.targetConfig(ctx, in.Connection)
	if err != nil {
		r.close()
		return nil, err
	}
	cfg.Consumer.Return.Errors = true
	// A stream reads the metadata of its own target topic only, when it first asks for its
	// offsets: with sarama's default each of a restore's thousands of streams fetched the whole
	// cluster's (a tenth of a restoring worker's CPU at 2,000 partitions).
	cfg.Metadata.Full = false
	if r.client, err = sarama.NewClient(kspec.BootstrapServers, cfg); err != nil {
		r.close()
		return nil, classify(fmt.Errorf("connect to %v: %w", kspec.BootstrapServers, err))
	}
	// No heartbeat goes out before run starts beating, and waiting for a moving leader may
	// take longer than the heartbeat timeout; the details stay the checkpoint resumed from.
	stopBeat := beat.Start(ctx, func() any { return r.progress })
	err = r.checkTarget(ctx)
	stopBeat()
	if err != nil {
		r.close()
		return nil, err
	}
	batch := cmp.Or(in.Target.BatchBytes, in.Target.MaxMessageBytes)
	if r.producer, err = newProducer(cfg, kspec.BootstrapServers, int32(min(batch, 1<<30))); err != nil {
		r.close()
		return nil, classify(fmt.Errorf("producer for %v: %w", kspec.BootstrapServers, err))
	}
	return r, nil
}

// checkTarget compares every target partition's end with the checkpoint and opens a reader on
// the records past it, which an earlier attempt wrote.
func (r *restorer) checkTarget(ctx context.Context) error {
	r.tail = make([]int64, r.in.Target.Partitions)
	r.gone, r.next = make([]int64, r.in.Target.Partitions), make([]int64, r.in.Target.Partitions)
	// Every written partition's start and end in two requests per leader, not one request per
	// partition after another: a stream of 16 packed partitions, or a KeyHash stream writing
	// to 100, made as many round trips at every start, each 50 ms or more to a target in
	// another region. A partition the answers leave out (a leader not yet there) is asked alone.
	written := kafkabackup.ShardTopic{Topic: r.in.Target.Name}
	for tp := range r.in.Target.Partitions {
		if r.writes(tp) {
			written.Partitions = append(written.Partitions, tp)
		}
	}
	bounds := shardBounds(r.client, kafkabackup.Shard{Topics: []kafkabackup.ShardTopic{written}})
	for _, tp := range written.Partitions {
		b, known := bounds[tpKey(r.in.Target.Name, tp)]
		end := b[1]
		if !known {
			var err error
			if end, err = offsetOnceServed(ctx, r.client, r.in.Target.Name, tp, sarama.OffsetNewest); err != nil {
				return classify(fmt.Errorf("end offset of target %s/%d: %w", r.in.Target.Name, tp, err))
			}
		}
		tail := end - r.progress.Target[tp]
		if tail < 0 {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("target %s/%d ends at offset %d, before the %d this restore had written up to: records were deleted",
				r.in.Target.Name, tp, end, r.progress.Target[tp]), kafkarestore.ErrTargetChanged, nil)
		}
		r.tail[tp] = tail
		if tail == 0 {
			continue
		}
		// Restoring old records into a topic with a shorter retention: the broker may already
		// have deleted some of what a dead attempt wrote past the checkpoint. Those offsets
		// were written by this restore (nothing else may write there), so they are skipped,
		// and the records that are still there are read back and compared as usual.
		oldest := b[0]
		if !known {
			var err error
			if oldest, err = offsetOnceServed(ctx, r.client, r.in.Target.Name, tp, sarama.OffsetOldest); err != nil {
				return classify(fmt.Errorf("start offset of target %s/%d: %w", r.in.Target.Name, tp, err))
			}
		}
		r.next[tp] = r.progress.Target[tp]
		if oldest > r.progress.Target[tp] {
			r.gone[tp] = min(oldest, end) - r.progress.Target[tp]
		}
		if r.gone[tp] == tail {
			continue // nothing left to read back
		}
		if r.consumer == nil {
			var err error
			if r.consumer, err = sarama.NewConsumerFromClient(r.client); err != nil {
				return classify(err)
			}
		}
		pc, err := r.consumer.ConsumePartition(r.in.Target.Name, tp, r.progress.Target[tp]+r.gone[tp])
		if err != nil {
			return classify(fmt.Errorf("read back target %s/%d: %w", r.in.Target.Name, tp, err))
		}
		r.verifiers[tp] = pc
	}
	return nil
}

func (r *restorer) close() {
	for _, pc := range r.verifiers {
		_ = pc.Close()
	}
	if r.consumer != nil {
		_ = r.consumer.Close()
	}
	if r.producer != nil {
		r.producer.Close() // fails what it still buffers, through the records' promises
	}
	// Whatever the producer never answered for (it fails every buffered record on close;
	// this is the guard) goes back to the worker's cap.
	r.mu.Lock()
	for _, p := range r.inflight {
		r.release(p)
	}
	r.mu.Unlock()
	if r.client != nil {
		_ = r.client.Close()
	}
	if r.store != nil {
		_ = r.store.Close()
	}
}

func (r *restorer) run(ctx context.Context) (kafkarestore.Progress, error) {
	stop := make(chan struct{})
	beating := make(chan struct{})
	var counted moved
	counted.records, counted.bytes = r.moved() // a retried attempt starts from its checkpoint: counted before
	go func() { defer close(beating); r.heartbeat(ctx, stop, &counted) }()
	// A worker shutting down (SIGTERM) hands the stream back at once: it stops reading, lets
	// what is in flight land and returns that checkpoint, as at its run time, so the workflow
	// starts the next activity on another worker from there. Otherwise it would run on until
	// the worker's stop timeout cancelled it and be retried only after its heartbeat timeout.
	go func() {
		select {
		case <-workerStopping(ctx):
			r.stopping.Store(true)
		case <-stop:
		}
	}()
	defer func() {
		close(stop)
		<-beating // no heartbeat after the activity returned
		r.count(ctx, &counted)
	}()

	err := r.stream(ctx)
	var damaged *damageError
	var unknown *unknownIDError
	if isDamaged := errors.As(err, &damaged); isDamaged || errors.As(err, &unknown) {
		// Let the records before the damage (or the unknown id) land, so they are written and
		// accounted for; the failure carries that progress to the workflow.
		if werr := r.waitInflight(ctx.Done()); werr != nil {
			return r.snapshot(), classifyRestore(werr)
		}
		p, kind := r.snapshot(), kafkarestore.ErrDamagedBackup
		if !isDamaged {
			kind = kafkarestore.ErrUnknownSchemaID
		}
		return p, temporal.NewNonRetryableApplicationError(err.Error(), kind, nil, p)
	}
	atCheckpoint := errors.Is(err, errCheckpoint)
	if err == nil || atCheckpoint {
		err = r.waitInflight(ctx.Done())
	}
	if err == nil && atCheckpoint {
		p := r.snapshot() // a checkpoint: the workflow starts the next activity from it
		p.HandedBack = r.stopping.Load()
		return p, nil
	}
	if err == nil {
		err = r.finish()
	}
	if err == nil {
		return r.snapshot(), nil
	}
	if ctx.Err() != nil {
		// Paused or timed out: let what is in flight land, so the progress handed back is as far
		// as the target really is (a later attempt would find the rest anyway).
		wait := make(chan struct{})
		timer := time.AfterFunc(10*time.Second, func() { close(wait) })
		_ = r.waitInflight(wait)
		timer.Stop()
		return r.snapshot(), temporal.NewCanceledError(r.snapshot())
	}
	return r.snapshot(), classifyRestore(err)
}

// damageError is a segment the restore cannot read, and the offsets it therefore did not restore.
type damageError struct{ kafkarestore.SkippedRange }

func (e *damageError) Error() string {
	return fmt.Sprintf("segment %s cannot be read (%s): %s/%d is restored up to offset %d; offset %d and later were not restored (spec.onDamage: SkipBlock skips them)",
		e.Object, e.Reason, e.Topic, e.Partition, e.From-1, e.From)
}

// isDamage says whether a segment read failed on the backup itself (damaged, truncated or
// missing object), which no retry cures, rather than on the way to it.
func isDamage(err error) bool {
	var corrupt *archive.CorruptError
	return errors.As(err, &corrupt) || blobstore.IsNotFound(err)
}

func damageReason(err error) string {
	var corrupt *archive.CorruptError
	switch {
	case errors.As(err, &corrupt):
		if corrupt.Pos > 0 {
			return fmt.Sprintf("%s at byte %d", corrupt.Reason, corrupt.Pos)
		}
		return corrupt.Reason
	case blobstore.IsNotFound(err):
		return "the object is missing from the storage"
	}
	return err.Error()
}

// skip records a range skipped as unreadable, once (a retried attempt meets it again).
func (r *restorer) skip(s kafkarestore.SkippedRange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.ContainsFunc(r.progress.Skipped, func(o kafkarestore.SkippedRange) bool { return o.Partition == s.Partition && o.From == s.From }) {
		r.progress.Skipped = append(r.progress.Skipped, s)
	}
}

func classifyRestore(err error) error {
	if errors.Is(err, kerr.MessageTooLarge) {
		return temporal.NewNonRetryableApplicationError(err.Error(), kafkarestore.ErrPreflight, err)
	}
	return classify(err)
}

// stream reads the stream's records from the checkpoint on and routes each to the target.
func (r *restorer) stream(ctx context.Context) error {
	w := r.in.Window
	for pi := r.progress.Part; pi < len(r.in.Stream.Partitions); pi++ {
		sp := r.in.Stream.Partitions[pi]
		var from int64
		if pi == r.progress.Part {
			from = r.progress.Next
		}
		di := slices.IndexFunc(r.topic.Data, func(p archive.Partition) bool { return p.Partition == sp.Partition })
		if err := r.stillHeld(sp, from, di); err != nil {
			return err
		}
		if di < 0 {
			continue
		}
		var segs []archive.SegmentRef
		for _, seg := range r.topic.Data[di].Segments {
			if seg.LastOffset < from || seg.FirstOffset >= sp.Upto || !w.Overlaps(seg) {
				continue
			}
			segs = append(segs, seg)
		}
		if err := r.readSegments(ctx, pi, sp, from, segs); err != nil {
			return err
		}
	}
	return nil
}

// readSegments restores a partition's records from segs on, from offset from, opening each
// segment while the one before it is read: a continuous backup leaves a partition many small
// segments, and waiting for the store's first answer for each, one after another, halved a
// restore from an object store 10 ms away (BenchmarkRestoreStorageDistant).
func (r *restorer) readSegments(ctx context.Context, pi int, sp kafkarestore.StreamPartition, from int64, segs []archive.SegmentRef) error {
	w := r.in.Window
	var next *backups.Opening
	defer func() {
		if next != nil {
			next.Close()
		}
	}()
	if len(segs) > 0 {
		next = backups.OpenSegment(ctx, r.store, segs[0])
	}
	for k, seg := range segs {
		cur := next
		next = nil
		if k+1 < len(segs) {
			next = backups.OpenSegment(ctx, r.store, segs[k+1])
		}
		last := int64(-1) // the last offset read from the segment
		var sendErr error
		err := cur.ReadOwned(r.key, func(rec *archive.Record) error {
			last = rec.Offset
			if rec.Offset < from || rec.Offset >= sp.Upto || !w.Contains(rec.Offset, rec.Timestamp) {
				return nil
			}
			sendErr = r.send(ctx, pi, sp.Partition, rec)
			return sendErr
		})
		if err == nil || sendErr != nil || !isDamage(err) {
			if err != nil {
				return err
			}
			continue
		}
		// Every record read before the damage is good (a block is checked before any of its
		// records is handed out); what follows in this segment cannot be read.
		skipped := kafkarestore.SkippedRange{Topic: r.in.Stream.Source, Partition: sp.Partition,
			From: max(seg.FirstOffset, from, last+1), To: min(seg.LastOffset, sp.Upto-1), Object: seg.Key, Reason: damageReason(err)}
		if skipped.From > skipped.To {
			continue // the damage lies past what this restore reads
		}
		if r.in.OnDamage != kafkarestore.OnDamageSkipBlock {
			return &damageError{skipped}
		}
		r.skip(skipped)
	}
	return nil
}

// stillHeld fails when the backup's retention has removed records the plan selected and this
// stream has not written yet: restoring fewer records than planned must not end as Done.
func (r *restorer) stillHeld(sp kafkarestore.StreamPartition, from int64, di int) error {
	if sp.First == nil {
		return nil // planned before plans recorded it
	}
	want := max(from, *sp.First)
	if want >= sp.Upto {
		return nil
	}
	start := sp.Upto // the partition is gone from the backup
	if di >= 0 {
		start = r.topic.Data[di].StartOffset
	}
	if start <= want {
		return nil
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
		"%s/%d: offsets %d-%d were planned but backup %s no longer holds them (its retention removed them after the plan); restore again to restore what it holds now",
		r.in.Stream.Source, sp.Partition, want, min(start, sp.Upto)-1, r.in.Backup), kafkarestore.ErrRemovedByRetention, nil)
}

// writes reports whether this stream writes to target partition tp: with Same mapping only its
// own partitions, otherwise all of them.
func (r *restorer) writes(tp int32) bool {
	if r.in.Mapping != kafkarestore.MappingSame {
		return true
	}
	return slices.ContainsFunc(r.in.Stream.Partitions, func(p kafkarestore.StreamPartition) bool { return p.Partition == tp })
}

// route picks the target partition of the stream's next record.
func (r *restorer) route(partition int32, key []byte) int32 {
	n := r.in.Target.Partitions
	switch {
	case r.in.Mapping == kafkarestore.MappingSame:
		return partition
	case r.in.Mapping == kafkarestore.MappingKeyHash && key != nil:
		return KeyPartition(key, n)
	default: // RoundRobin, and KeyHash records without a key (the Java client's choice for those is not reproducible)
		return int32(r.index % int64(n))
	}
}

// errCheckpoint ends an activity's stream at a checkpoint: at its MaxRunTime, or when its
// worker is shutting down.
var errCheckpoint = errors.New("the stream stops at a checkpoint")

func (r *restorer) send(ctx context.Context, part int, partition int32, rec *archive.Record) error {
	if r.stopping.Load() || (!r.deadline.IsZero() && time.Now().After(r.deadline)) {
		return errCheckpoint
	}
	p := &pending{part: part, partition: partition, offset: rec.Offset, index: r.index, bytes: recordBytes(rec)}
	if err := r.prepare(p, rec); err != nil {
		return err
	}
	tp, msg := p.tp, &p.msg
	r.index++
	if r.gone[tp] > 0 {
		r.gone[tp]--
		r.tail[tp]--
		p.target, p.verified, p.done = r.next[tp], true, true
		r.next[tp]++
		r.mu.Lock()
		r.inflight = append(r.inflight, p)
		r.fold()
		r.mu.Unlock()
		return nil
	}
	if r.tail[tp] > 0 {
		got, err := r.readBack(ctx, tp)
		if err != nil {
			return err
		}
		if !sameRecord(msg, got) {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"target %s/%d offset %d is not the record this restore wrote there (source %s/%d offset %d): another producer wrote to the target",
				r.in.Target.Name, tp, got.Offset, r.in.Stream.Source, partition, rec.Offset), kafkarestore.ErrTargetChanged, nil)
		}
		r.tail[tp]--
		p.target, p.verified, p.done = got.Offset, true, true
		r.mu.Lock()
		r.inflight = append(r.inflight, p)
		r.fold()
		r.mu.Unlock()
		return nil
	}
	if err := r.throttle.wait(ctx, p.bytes); err != nil {
		return err
	}
	if err := r.admit(ctx, p); err != nil {
		return err
	}
	r.mu.Lock()
	r.inflight = append(r.inflight, p)
	r.mu.Unlock()
	// Produce waits only when franz-go's buffer (50,000 records) is full: never at the default
	// cap (at most 32,768 records of 256 bytes' cost); a failure, the context or the close end
	// the wait.
	r.producer.Produce(ctx, msg, func(rec *kgo.Record, err error) { r.acked(p, rec, err) })
	select {
	case <-r.failedCh:
		return r.failure()
	default:
		return ctx.Err()
	}
}

// prepare fills in p's message for rec and routes it. KeyHash hashes the key as the target
// will hold it, its schema id rewritten where keys are remapped: the partition a producer on
// the target picks for the same key, so a key's old and new records share a partition.
func (r *restorer) prepare(p *pending, rec *archive.Record) error {
	if err := r.message(&p.msg, rec, p.partition); err != nil {
		return err
	}
	p.tp = r.route(p.partition, p.msg.Key)
	p.msg.Partition = p.tp
	return nil
}

// message fills in the producer message for a record, all but its target partition. It takes
// the record's bytes as they are, without a copy: the restore reads segments into blocks of
// their own (backups.SegmentOwned), so a message may keep them, and a schema id is rewritten
// in place.
func (r *restorer) message(msg *kgo.Record, rec *archive.Record, partition int32) error {
	*msg = kgo.Record{Topic: r.in.Target.Name, Timestamp: time.UnixMilli(rec.Timestamp), Key: rec.Key, Value: rec.Value}
	if r.ids != nil {
		if rec.Key != nil && r.in.Remap.Keys {
			if err := r.rewriteID(msg.Key, "key", partition, rec.Offset); err != nil {
				return err
			}
		}
		if rec.Value != nil && r.in.Remap.Values {
			if err := r.rewriteID(msg.Value, "value", partition, rec.Offset); err != nil {
				return err
			}
		}
	}
	n := len(rec.Headers)
	if r.in.OriginHeaders {
		n += 4
	}
	if n > 0 {
		msg.Headers = make([]kgo.RecordHeader, 0, n)
		for _, h := range rec.Headers {
			msg.Headers = append(msg.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
	}
	if r.in.OriginHeaders {
		msg.Headers = append(msg.Headers,
			kgo.RecordHeader{Key: HeaderOriginTopic, Value: []byte(r.in.Stream.Source)},
			kgo.RecordHeader{Key: HeaderOriginPartition, Value: strconv.AppendInt(nil, int64(partition), 10)},
			kgo.RecordHeader{Key: HeaderOriginOffset, Value: strconv.AppendInt(nil, rec.Offset, 10)},
			kgo.RecordHeader{Key: HeaderOriginTimestamp, Value: strconv.AppendInt(nil, rec.Timestamp, 10)})
	}
	return nil
}

// sameRecord compares what a message would write with a record read from the target.
func sameRecord(msg *kgo.Record, got *sarama.ConsumerMessage) bool {
	if !bytes.Equal(msg.Key, got.Key) || !bytes.Equal(msg.Value, got.Value) || len(msg.Headers) != len(got.Headers) {
		return false
	}
	for i, h := range msg.Headers {
		if h.Key != string(got.Headers[i].Key) || !bytes.Equal(h.Value, got.Headers[i].Value) {
			return false
		}
	}
	return true
}

// readBack returns the next record an earlier attempt wrote to target partition tp.
func (r *restorer) readBack(ctx context.Context, tp int32) (*sarama.ConsumerMessage, error) {
	pc := r.verifiers[tp]
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case m := <-pc.Messages():
		return m, nil
	case err := <-pc.Errors():
		return nil, fmt.Errorf("read back target %s/%d: %w", r.in.Target.Name, tp, err)
	case <-timer.C:
		return nil, fmt.Errorf("read back target %s/%d: no record within 30s", r.in.Target.Name, tp)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// acked is a record's promise: franz-go calls it once, when the target acknowledged the record
// (at its offset) or the producer gave it up. Promises run one at a time, in order within a
// partition.
func (r *restorer) acked(p *pending, rec *kgo.Record, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.release(p)
	if err != nil {
		if r.failed == nil {
			r.failed = fmt.Errorf("write to %s/%d: %w", rec.Topic, rec.Partition, err)
			close(r.failedCh)
			r.cond.Broadcast()
		}
		return
	}
	p.target, p.done = rec.Offset, true
	r.fold()
}

// admit holds a record's cost of the stream's and the worker's in-flight caps before it goes
// to the producer, waiting for acknowledgements to make room: reading ahead of the target
// never queues more than the caps, however many streams run. A record larger than a cap waits
// for that cap to be empty and then goes alone.
func (r *restorer) admit(ctx context.Context, p *pending) error {
	cost := recordCost(p)
	r.mu.Lock()
	if r.unacked > 0 && r.unacked+cost > r.maxUnacked {
		r.waiting()
		stop := context.AfterFunc(ctx, func() {
			r.mu.Lock()
			r.cond.Broadcast()
			r.mu.Unlock()
		})
		for r.unacked > 0 && r.unacked+cost > r.maxUnacked && r.failed == nil && ctx.Err() == nil {
			r.cond.Wait()
		}
		stop()
	}
	if err := cmp.Or(r.failed, ctx.Err()); err != nil {
		r.mu.Unlock()
		return err
	}
	// The worker's share: taken at once in the common case, under the one lock; waited for
	// without holding it otherwise (only this stream's sender adds to unacked, so the stream's
	// cap still holds when it goes on).
	share := min(cost, restoreMemoryFloor)
	if !r.memory.TryAcquire(share) {
		r.mu.Unlock()
		r.waiting()
		if err := r.memory.Acquire(ctx, share); err != nil {
			return err
		}
		r.mu.Lock()
	}
	p.cost = cost
	r.unacked += cost
	r.mu.Unlock()
	return nil
}

func (r *restorer) waiting() {
	if r.onWait != nil {
		r.onWait()
	}
}

// release returns an acknowledged (or failed) record's cost. Called with mu held.
func (r *restorer) release(p *pending) {
	if p.cost == 0 {
		return
	}
	r.unacked -= p.cost
	r.memory.Release(min(p.cost, restoreMemoryFloor))
	p.cost = 0
	r.cond.Broadcast()
}

func (r *restorer) failure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// fold advances the checkpoint over the acknowledged prefix of the stream. Called with mu held.
func (r *restorer) fold() {
	n := 0
	for n < len(r.inflight) && r.inflight[n].done {
		p := r.inflight[n]
		pr := &r.progress
		pr.Part, pr.Next, pr.Index = p.part, p.offset+1, p.index+1
		pr.Target[p.tp] = p.target + 1
		pr.Records++
		pr.Bytes += p.bytes
		if p.verified {
			pr.Verified++
		}
		if k := len(pr.OffsetMap) - 1; k >= 0 && pr.OffsetMap[k].Partition == p.partition && pr.OffsetMap[k].TargetPartition == p.tp &&
			pr.OffsetMap[k].SourceFrom+pr.OffsetMap[k].Count == p.offset && pr.OffsetMap[k].TargetFrom+pr.OffsetMap[k].Count == p.target {
			pr.OffsetMap[k].Count++
		} else if len(pr.OffsetMap) < maxOffsetRanges {
			pr.OffsetMap = append(pr.OffsetMap, kafkarestore.OffsetRange{Partition: p.partition, SourceFrom: p.offset, TargetPartition: p.tp, TargetFrom: p.target, Count: 1})
		} else {
			pr.OffsetMapTruncated = true
		}
		// A group resumes at the first restored record it had not consumed on the source.
		r.groups = slices.DeleteFunc(r.groups, func(g archive.GroupOffset) bool {
			if g.Partition != p.partition || g.Offset > p.offset {
				return false
			}
			pr.Groups = append(pr.Groups, r.translated(g, p.tp, p.target))
			return true
		})
		n++
	}
	if n > 0 {
		// Drop the folded head without moving the rest (append reallocates as it grows).
		clear(r.inflight[:n])
		r.inflight = r.inflight[n:]
		r.cond.Broadcast()
	}
}

func (r *restorer) translated(g archive.GroupOffset, tp int32, offset int64) kafkarestore.TranslatedGroup {
	return kafkarestore.TranslatedGroup{Group: g.Group, SourcePartition: g.Partition, SourceOffset: g.Offset,
		Topic: r.in.Target.Name, Partition: tp, Offset: offset, Metadata: g.Metadata}
}

// waitInflight blocks until every routed record is acknowledged, a send failed, or stop closes.
func (r *restorer) waitInflight(stop <-chan struct{}) error {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-stop:
			r.mu.Lock()
			r.cond.Broadcast()
			r.mu.Unlock()
		case <-done:
		}
	}()
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.inflight) > 0 && r.failed == nil {
		select {
		case <-stop:
			return errors.New("stopped while records were in flight")
		default:
		}
		r.cond.Wait()
	}
	return r.failed
}

// finish checks nothing unexplained is left in the target and places the groups whose
// position lies past every restored record at the end of their partition.
func (r *restorer) finish() error {
	for tp, n := range r.tail {
		if n > 0 {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("target %s/%d holds %d records after the last one this restore wrote: another producer wrote to the target",
				r.in.Target.Name, tp, n), kafkarestore.ErrTargetChanged, nil)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.groups {
		r.progress.Groups = append(r.progress.Groups, r.translated(g, g.Partition, r.progress.Target[g.Partition]))
	}
	r.groups = nil
	r.progress.Part, r.progress.Next = len(r.in.Stream.Partitions), 0
	r.progress.Done = true
	return nil
}

func (r *restorer) snapshot() kafkarestore.Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.progress
	p.Target = slices.Clone(p.Target)
	p.OffsetMap = slices.Clone(p.OffsetMap)
	p.Groups = slices.Clone(p.Groups)
	p.Skipped = slices.Clone(p.Skipped)
	return p
}

// moved is what a restore attempt has counted into the worker's metrics.
type moved struct{ records, bytes int64 }

// moved reads the records and bytes acknowledged so far, without copying the checkpoint.
func (r *restorer) moved() (records, bytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.progress.Records, r.progress.Bytes
}

// count adds the records acknowledged since counted to the worker's metrics.
func (r *restorer) count(ctx context.Context, counted *moved) {
	records, bytes := r.moved()
	metrics.Moved(ctx, metrics.Restored, records-counted.records, bytes-counted.bytes)
	counted.records, counted.bytes = records, bytes
}

func (r *restorer) heartbeat(ctx context.Context, stop <-chan struct{}, counted *moved) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			activity.RecordHeartbeat(ctx, r.snapshot())
			r.count(ctx, counted)
		case <-stop:
			return
		case <-ctx.Done():
			return
		}
	}
}
