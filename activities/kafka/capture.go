package kafka

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"gocloud.dev/blob"

	"arkive.io/arkive/activities/backupstore"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/metrics"
	"arkive.io/arkive/workflows/kafkabackup"
)

// Capture streams one partition into segments on storage, from in.From until in.Until is
// covered or in.MaxRunTime has passed, and returns the segments it uploaded.
//
// A segment's bytes are spooled to a local file while it fills (its key names its last offset,
// which is known only when it rolls), then uploaded under its final key. After each upload the
// activity heartbeats its durable progress; a retry resumes from there. A segment uploaded after
// the last heartbeat reached the server is an orphan that no manifest names: the retry writes
// those offsets again, so nothing is lost and the manifest never lists an offset twice.
func (a *Activities) Capture(ctx context.Context, in kafkabackup.CaptureInput) (kafkabackup.CaptureResult, error) {
	defer a.countCapture(1)()
	c, err := a.newCapture(ctx, in)
	if err != nil {
		return kafkabackup.CaptureResult{}, err
	}
	defer c.close()
	// A worker shutting down (SIGTERM) ends the capture as its run time would: the open segment
	// is uploaded and the workflow has the progress at once, rather than the capture running on
	// until the worker's stop timeout cancels it mid-segment.
	c.stop = workerStopping(ctx)
	return c.run(ctx)
}

type capture struct {
	in       kafkabackup.CaptureInput
	comp     archive.Compression
	key      []byte // encryption key, nil when storage is not encrypted
	tsType   archive.TimestampType
	compacts bool // cleanup.policy compacts: offsets without a record were compacted away
	layout   blobstore.KafkaLayout
	store    *blobstore.Store
	client   sarama.Client
	// consumer, when set, is a shard's consumer that this capture shares with the shard's
	// other partitions; shared captures close neither it, the client nor the store.
	consumer sarama.Consumer
	shared   bool
	// stop, when closed, ends the capture as its run time would: the open segment is
	// uploaded first, so a shard handed back by a stopping worker keeps what it read.
	stop <-chan struct{}
	// known, when set, is the partition's log start offset and high watermark as its shard
	// read them for all its partitions in a few requests.
	known     *[2]int64
	spoolDir  string
	blockSize int // of the segments' blocks; 0: archive.DefaultBlockSize
	// catchUp, when set, lets a retried shard's capture read past its run time, for at most
	// catchUp in all, until it reaches the high watermark it found at its start (see caughtUp).
	catchUp time.Duration
	// deleted says its shard found the topic deleted from the source before it began.
	deleted bool
	// diverged is where its shard found the log cut back below the capture's start, by the
	// leader epochs (markDiverged); nil when it was not.
	diverged  *int64
	heartbeat func(ctx context.Context, p kafkabackup.CaptureProgress)
	// stored, when set, is told the records and their key, value and header bytes of every
	// segment stored, before the heartbeat that names it.
	stored func(records, bytes int64)

	durable  kafkabackup.CaptureProgress // uploaded segments and the offset after them
	pos      int64                       // offset after the last record read
	result   kafkabackup.CaptureResult
	seg      *openSegment
	hdrs     []archive.Header
	throttle *throttle
}

type openSegment struct {
	file    *os.File
	buf     *bufio.Writer
	w       *archive.SegmentWriter
	first   int64 // first offset the segment covers (where reading started), ≤ its first record
	last    int64 // offset of its last record
	bytes   int64 // record bytes appended
	opened  time.Time
	records int64
	// maxRecord is the largest record's key, value and header bytes: a restore checks it
	// against the target's max.message.bytes before writing anything.
	maxRecord int64
}

func (a *Activities) newCapture(ctx context.Context, in kafkabackup.CaptureInput) (*capture, error) {
	invalid := func(format string, args ...any) error {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), kafkabackup.ErrInvalidSpec, nil)
	}
	var kspec arkivev1.KafkaClusterSpec
	if err := json.Unmarshal(in.Kafka, &kspec); err != nil {
		return nil, invalid("kafka cluster spec: %v", err)
	}
	comp, err := segmentSettings(in.Compression, in.MaxSegmentBytes, in.MaxSegmentInterval)
	if err != nil {
		return nil, err
	}
	if in.From < 0 {
		return nil, invalid("capture of %s/%d: start offset %d is negative", in.Topic, in.Partition, in.From)
	}
	sr := a.Secrets(in.Namespace)
	store, err := backupstore.Open(ctx, in.Storage, in.Backup, blobstore.Kafka, sr, true)
	if err != nil {
		return nil, err
	}
	if _, err := store.Layout.PartitionPrefix(in.Topic, in.Partition); err != nil {
		store.Close()
		return nil, invalid("%v", err)
	}
	store.CleanSpool(time.Hour + 2*in.MaxSegmentInterval)

	c := &capture{in: in, comp: comp, store: store.Store, key: store.Key, layout: store.Layout, spoolDir: a.SpoolDir, heartbeat: recordHeartbeat,
		throttle: newThrottle(in.RateLimit, in.MaxSegmentBytes)}
	c.durable = kafkabackup.CaptureProgress{Start: in.From, Next: in.From}
	if activity.HasHeartbeatDetails(ctx) {
		var p kafkabackup.CaptureProgress
		if err := activity.GetHeartbeatDetails(ctx, &p); err == nil && p.Start == in.From && p.Next >= in.From {
			c.durable = p
		}
	}
	c.pos = c.durable.Next

	cfg, err := Config(ctx, kspec, sr)
	if err != nil {
		c.close()
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), kafkabackup.ErrInvalidSpec, nil)
	}
	// read_committed: records of aborted transactions and control records are not backed up.
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cfg.Consumer.Return.Errors = true
	setCaptureFetch(cfg, 1, int(a.capturing.Load()))
	if c.client, err = sarama.NewClient(kspec.BootstrapServers, cfg); err != nil {
		c.close()
		return nil, classify(fmt.Errorf("connect to %v: %w", kspec.BootstrapServers, err))
	}
	if c.tsType, c.compacts, err = topicTraits(c.client, in.Topic); err != nil {
		c.close()
		return nil, classify(err)
	}
	return c, nil
}

// segmentSettings checks the spec's segment settings and returns its compression.
func segmentSettings(c kafkabackup.Compression, maxBytes int64, maxInterval time.Duration) (archive.Compression, error) {
	invalid := func(format string, args ...any) error {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), kafkabackup.ErrInvalidSpec, nil)
	}
	codec, err := archive.ParseCodec(c.Codec)
	if err != nil {
		return archive.Compression{}, invalid("spec.compression.codec: %v", err)
	}
	comp := archive.Compression{Codec: codec, Level: c.Level}
	if err := comp.Validate(); err != nil {
		return archive.Compression{}, invalid("spec.compression: %v", err)
	}
	if maxBytes <= 0 || maxInterval <= 0 {
		return archive.Compression{}, invalid("spec.maxSegmentBytes and spec.maxSegmentInterval must be positive")
	}
	return comp, nil
}

// setCaptureFetch sets the consumer's fetch sizes for a client that consumes partitions
// partitions while the worker captures capturing in all. 2 MiB per partition and fetch: half
// the broker's CPU of 1 MiB fetches; larger ones save little more and each partition's
// consumer holds about two fetches (docs/benchmarks.md). With many partitions the worker's
// captureFetchBudget is shared among all it captures, at least 16 KiB each: a consumer slower
// than its fetches otherwise holds what each partition was sent, decoded, and at 2,000
// partitions that was most of the data (docs/benchmarks.md, many partitions). A batch larger
// than a partition's share is not lost: the broker sends part of it, and sarama asks for its
// exact size next (one more request for that partition per such batch).
func setCaptureFetch(cfg *sarama.Config, partitions, capturing int) {
	cfg.Consumer.Fetch.Default = int32(min(2<<20, max(16<<10, captureFetchBudget/max(1, partitions, capturing))))
	cfg.Consumer.MaxWaitTime = 250 * time.Millisecond
	if partitions > manyPartitions {
		// Messages buffered per partition before the consumer stops fetching for it.
		cfg.ChannelBufferSize = 64
	}
}

// manyPartitions is the shard size past which a shard's partitions buffer fewer messages and
// write smaller blocks, since it holds both for each of them at once.
const manyPartitions = 16

// manyPartitionsBlock is the block size of the segments of a shard of more than manyPartitions
// partitions. Each partition being captured holds its block being filled and a spool buffer of
// half a block; at 2,000 partitions 128 KiB blocks held 290 MiB. A block costs 12 bytes of
// count, length and CRC whatever its size, and readers take any size.
const manyPartitionsBlock = 32 << 10

// captureFetchBudget is what the fetches of a worker's captures hold together (compressed, as
// the broker sends them).
const captureFetchBudget = 32 << 20

func recordHeartbeat(ctx context.Context, p kafkabackup.CaptureProgress) {
	activity.RecordHeartbeat(ctx, p)
}

// topicTraits reads message.timestamp.type (Kafka fixes the timestamp type per topic, and the
// consumer protocol as sarama exposes it carries only the timestamp) and whether cleanup.policy
// compacts (which says why offsets inside a segment's range hold no record).
func topicTraits(client sarama.Client, topic string) (ts archive.TimestampType, compacts bool, err error) {
	configs, errs, err := describeTopics(client, []string{topic}, []string{"message.timestamp.type", "cleanup.policy"})
	if err == nil {
		err = errs[topic]
	}
	if err != nil {
		return 0, false, fmt.Errorf("describe topic %s: %w", topic, err)
	}
	ts, compacts = traitsOf(configs[topic])
	return ts, compacts, nil
}

func (c *capture) close() {
	c.discardSegment()
	if c.shared {
		return
	}
	if c.client != nil {
		_ = c.client.Close()
	}
	if c.store != nil {
		_ = c.store.Close()
	}
}

func (c *capture) done() bool { return c.in.Until >= 0 && c.pos >= c.in.Until }

// run captures the partition. A topic deleted from the source since it was discovered ends
// the capture, not the backup: what was read is uploaded and kept, and the result says the
// topic is gone (one deleted topic used to fail every partition of the backup until a person
// resumed it).
func (c *capture) run(ctx context.Context) (kafkabackup.CaptureResult, error) {
	c.result.Topic, c.result.Partition = c.in.Topic, c.in.Partition
	if c.deleted {
		return c.finishDeleted(), nil
	}
	if c.diverged != nil {
		c.result.Truncated, c.result.LogEnd = true, *c.diverged
		return c.finish(true), nil
	}
	res, err := c.read(ctx)
	var truncated *truncatedLog
	switch {
	case errors.As(err, &truncated):
		// What was read is uploaded: records the source no longer has are kept here.
		if err := c.roll(ctx); err != nil {
			return c.result, err
		}
		c.result.Truncated, c.result.LogEnd = true, truncated.end
		return c.finish(true), nil
	case err == nil || !topicDeleted(c.client, c.in.Topic, err):
		return res, err
	}
	if err := c.roll(ctx); err != nil {
		return c.result, err
	}
	return c.finishDeleted(), nil
}

// truncatedLog is read's answer when the partition's log ends below the offset the capture
// reads from: offsets the backup holds records under were removed from the source's log (an
// unclean leader election, a broker restored from an older disk; a topic created again is
// told by its id before). Reading on once the log has grown back there would skip, without a
// word, the records the source writes under those offsets.
type truncatedLog struct{ end int64 }

func (t *truncatedLog) Error() string { return fmt.Sprintf("the log ends at offset %d", t.end) }

// outOfRange makes sense of an offset-out-of-range answer (from the start of a read or a
// fetch): a truncated log when the log now ends below the capture's position, err as it was
// otherwise (retried: records deleted by retention meanwhile, found as a gap by the retry).
func (c *capture) outOfRange(ctx context.Context, err error) error {
	if !errors.Is(err, sarama.ErrOffsetOutOfRange) {
		return err
	}
	if t := c.truncation(ctx); t != nil {
		return t
	}
	return err
}

// truncation asks for the log end now: a truncatedLog when it lies below the capture's
// position, nil otherwise (or without an answer). Asked at once: the source is taking new
// records under the removed offsets already, and once its log has grown past the position
// offsets alone cannot tell.
func (c *capture) truncation(ctx context.Context) *truncatedLog {
	end, err := offsetOnceServed(ctx, c.client, c.in.Topic, c.in.Partition, sarama.OffsetNewest)
	if err != nil || end >= c.pos {
		return nil
	}
	return &truncatedLog{end: end}
}

// finishDeleted is the result of a capture whose topic was deleted: done, with what it uploaded.
func (c *capture) finishDeleted() kafkabackup.CaptureResult {
	c.result.Deleted = true
	return c.finish(true)
}

func (c *capture) read(ctx context.Context) (kafkabackup.CaptureResult, error) {
	in := c.in
	oldest, hwm, err := c.bounds(ctx)
	if err != nil {
		return c.result, classify(err)
	}
	c.result.HighWatermark = hwm
	if c.pos > hwm {
		// Asked again on its own, so one stale answer of the shard's requests stops nothing.
		if t := c.truncation(ctx); t != nil {
			return c.result, t
		}
	}
	if c.pos < oldest {
		// The source deleted offsets before they were backed up: say so, never hide it.
		c.durable.Gaps = append(c.durable.Gaps, archive.Gap{From: c.pos, To: oldest - 1, Reason: archive.GapRetention})
		c.pos, c.durable.Next = oldest, oldest
	}
	if c.done() {
		return c.finish(true), nil
	}

	consumer := c.consumer
	if consumer == nil {
		if consumer, err = sarama.NewConsumerFromClient(c.client); err != nil {
			return c.result, classify(err)
		}
		defer consumer.Close()
	}
	pc, err := consumer.ConsumePartition(in.Topic, in.Partition, c.pos)
	if err != nil {
		return c.result, classify(c.outOfRange(ctx, fmt.Errorf("consume %s/%d from %d: %w", in.Topic, in.Partition, c.pos, err)))
	}
	defer pc.Close()

	started := time.Now()
	lastRecord := started
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastBeat := time.Time{}
	for {
		select {
		case <-ctx.Done():
			// Cancelled (the backup was paused or updated): report what is uploaded, so the
			// workflow commits it rather than capturing it again.
			return c.result, temporal.NewCanceledError(c.durable)
		case msg, ok := <-pc.Messages():
			if !ok {
				return c.result, fmt.Errorf("consumer of %s/%d stopped", in.Topic, in.Partition)
			}
			finished, err := c.consume(ctx, msg, pc.Messages())
			if err != nil {
				return c.result, err
			}
			if finished {
				return c.finish(true), nil
			}
			lastRecord = time.Now()
		case err := <-pc.Errors():
			return c.result, classify(c.outOfRange(ctx, err))
		case <-c.stop:
			// A failed upload stores nothing: the next attempt reads those offsets again, as
			// after a kill.
			_ = c.roll(ctx)
			return c.finish(false), nil
		case now := <-tick.C:
			if c.seg != nil && now.Sub(c.seg.opened) >= in.MaxSegmentInterval {
				if err := c.roll(ctx); err != nil {
					return c.result, err
				}
			}
			// Under read_committed nothing comes for offsets that hold only control records or
			// aborted transactions. Once the broker's high watermark is past Until and nothing has
			// arrived for a while, the rest up to Until holds no committed record.
			if in.Until >= 0 && c.pos < in.Until && now.Sub(lastRecord) >= 2*time.Second && pc.HighWaterMarkOffset() >= in.Until {
				// Silence proves nothing by itself (see holdsRecords): read the range.
				held, err := c.holdsRecords(ctx, c.pos, in.Until)
				if err != nil {
					return c.result, classify(err)
				}
				if held {
					lastRecord = now
					break
				}
				if err := c.roll(ctx); err != nil {
					return c.result, err
				}
				c.durable.Gaps = append(c.durable.Gaps, archive.Gap{From: c.pos, To: in.Until - 1, Reason: archive.GapTransaction})
				c.pos, c.durable.Next = in.Until, in.Until
				return c.finish(true), nil
			}
			if in.MaxRunTime > 0 && now.Sub(started) >= in.MaxRunTime && c.caughtUp(now.Sub(started), now.Sub(lastRecord)) {
				if err := c.roll(ctx); err != nil {
					return c.result, err
				}
				return c.finish(false), nil
			}
			if now.Sub(lastBeat) >= time.Second {
				c.heartbeat(ctx, c.durable)
				lastBeat = now
			}
		}
	}
}

// caughtUp says whether a capture past its run time may end: always, but for a retry
// (catchUp) that has not yet read up to the high watermark it found at its start. A retry that
// started after its first attempt would have ended gets a second or so; without this, whatever
// it could not read again in that time (the dead attempt's open segment, under load) would be
// committed only a whole cycle later. Its end stays bounded: by catchUp, and by catchUpSilence
// without a record (offsets that hold only transaction markers are never read).
func (c *capture) caughtUp(running, silent time.Duration) bool {
	return c.catchUp <= 0 || c.pos >= c.result.HighWatermark || running >= c.catchUp || silent >= catchUpSilence
}

// catchUpSilence ends a retry's catching up when nothing has arrived for that long: ending
// early costs only latency (the rest is read in the next cycle), never records.
const catchUpSilence = 5 * time.Second

// bounds is the partition's log start offset and high watermark: those its shard asked for
// all its partitions at once when it did, the broker's answers to two requests otherwise.
func (c *capture) bounds(ctx context.Context) (oldest, hwm int64, err error) {
	if c.known != nil {
		return c.known[0], c.known[1], nil
	}
	return partitionBounds(ctx, c.client, c.in.Topic, c.in.Partition)
}

// partitionBounds asks the broker for one partition's log start offset and high watermark,
// waiting for a leader that is moving or being set up (a topic created a moment ago answers
// UnknownTopicOrPartition for a while, which classify would take for a deleted topic and fail
// the backup for good).
func partitionBounds(ctx context.Context, client sarama.Client, topic string, partition int32) (oldest, hwm int64, err error) {
	if oldest, err = offsetOnceServed(ctx, client, topic, partition, sarama.OffsetOldest); err != nil {
		return 0, 0, fmt.Errorf("log start offset of %s/%d: %w", topic, partition, err)
	}
	if hwm, err = offsetOnceServed(ctx, client, topic, partition, sarama.OffsetNewest); err != nil {
		return 0, 0, fmt.Errorf("high watermark of %s/%d: %w", topic, partition, err)
	}
	return oldest, hwm, nil
}

// holdsRecords reports whether a committed data record lies in [from, until), reading the
// partition with fetch requests of its own, read_committed, and skipping control batches and
// aborted transactions as a consumer does. Silence of the capture's consumer proves nothing by
// itself: a shard's shared consumer fetches only as fast as its slowest partition, and a busy
// broker can be slow. Only batches actually read past until make the answer no.
func (c *capture) holdsRecords(ctx context.Context, from, until int64) (bool, error) {
	for off := from; off < until; {
		if ctx.Err() != nil {
			return true, nil // cancelled: record no gap on a guess
		}
		// At most one batch an answer: the first committed data record ends the search, and
		// in a shard slower than the silence this runs often, so reading megabytes here would
		// double the fetching.
		block, err := fetchOneBatch(c.client, c.in.Topic, c.in.Partition, off)
		if err != nil {
			return false, err
		}
		aborted := slices.Clone(block.AbortedTransactions)
		slices.SortFunc(aborted, func(a, b *sarama.AbortedTransaction) int { return cmp.Compare(a.FirstOffset, b.FirstOffset) })
		abortedBy := map[int64]bool{}
		moved := false
		for _, recs := range block.RecordsSet {
			batch := recs.RecordBatch
			if batch == nil {
				return true, nil // a legacy message set: no transactions, so records
			}
			next := batch.FirstOffset + int64(batch.LastOffsetDelta) + 1
			if next <= off {
				continue
			}
			for len(aborted) > 0 && aborted[0].FirstOffset <= next-1 {
				abortedBy[aborted[0].ProducerID] = true
				aborted = aborted[1:]
			}
			switch {
			case batch.Control:
				delete(abortedBy, batch.ProducerID)
			case batch.IsTransactional && abortedBy[batch.ProducerID]:
			default:
				for _, r := range batch.Records {
					if o := batch.FirstOffset + r.OffsetDelta; o >= off && o < until {
						return true, nil
					}
				}
			}
			off, moved = next, true
		}
		if !moved {
			// Nothing readable at off yet (an undecided transaction, or a slow broker): not
			// proof of a gap.
			return true, nil
		}
	}
	return false, nil
}

// consumeBatch bounds how many records consume takes before run's select looks at the
// cancellation, the errors and the clock again.
const consumeBatch = 1024

// throttledBatch bounds how long a rate-limited capture's consume keeps taking records: run's
// ticker looks every 250 ms.
const throttledBatch = 250 * time.Millisecond

// consume appends msg and then the records the consumer has already buffered, up to
// consumeBatch, rolling segments as they fill; finished is true once Until is covered. Going
// back through run's four-way select and reading the clock for every record cost about a third
// of a capture's own CPU; a receive that does not block is far cheaper.
func (c *capture) consume(ctx context.Context, msg *sarama.ConsumerMessage, more <-chan *sarama.ConsumerMessage) (finished bool, err error) {
	var began time.Time
	if c.throttle != nil {
		began = time.Now()
	}
	for n := 1; ; n++ {
		// A rate-limited capture slows its own reading; the consumer's buffers fill and
		// fetching pauses, so the broker sees the limit too.
		if err := c.throttle.wait(ctx, int64(len(msg.Key)+len(msg.Value))); err != nil {
			return false, nil // cancelled: run's ctx.Done case reports the progress
		}
		if err := c.append(msg); err != nil {
			return false, err
		}
		if c.seg.bytes >= c.in.MaxSegmentBytes || c.done() {
			if err := c.roll(ctx); err != nil {
				return false, err
			}
		}
		if c.done() {
			return true, nil
		}
		// A rate-limited capture's batch is bounded in time too: at 20 records a second,
		// 1,024 records would keep run from its clock, a stop and the segment interval for 50 s.
		if n == consumeBatch || (c.throttle != nil && time.Since(began) >= throttledBatch) {
			return false, nil
		}
		var ok bool
		select {
		case msg, ok = <-more:
			if !ok {
				return false, nil // run's select sees the closed channel and says so
			}
		default:
			return false, nil
		}
	}
}

func (c *capture) finish(done bool) kafkabackup.CaptureResult {
	c.result.CaptureProgress = c.durable
	c.result.Done = done
	return c.result
}

func (c *capture) append(msg *sarama.ConsumerMessage) error {
	if c.seg == nil {
		if err := c.openSegment(); err != nil {
			return err
		}
	}
	c.hdrs = c.hdrs[:0]
	size := int64(len(msg.Key) + len(msg.Value))
	for _, h := range msg.Headers {
		c.hdrs = append(c.hdrs, archive.Header{Key: string(h.Key), Value: h.Value})
		size += int64(len(h.Key) + len(h.Value))
	}
	rec := archive.Record{Offset: msg.Offset, Timestamp: msg.Timestamp.UnixMilli(), TimestampType: c.tsType,
		Key: msg.Key, Value: msg.Value, Headers: c.hdrs}
	if len(c.hdrs) == 0 {
		rec.Headers = nil
	}
	if err := c.seg.w.Append(&rec); err != nil {
		return fmt.Errorf("spool segment of %s/%d: %w", c.in.Topic, c.in.Partition, err)
	}
	c.seg.last = msg.Offset
	c.seg.bytes += size
	c.seg.maxRecord = max(c.seg.maxRecord, size)
	c.seg.records++
	c.result.Records++
	c.result.Bytes += size
	c.pos = msg.Offset + 1
	return nil
}

func (c *capture) openSegment() error {
	dir := c.spoolDir
	if local, err := c.store.SpoolDir(); err != nil {
		return classify(err)
	} else if local != "" {
		dir = local // volume storage: fill the segment where a rename makes it the object
	}
	f, err := os.CreateTemp(dir, "arkive-segment-*.seg")
	if err != nil {
		return fmt.Errorf("spool segment: %w", err)
	}
	// Half a segment block, so an uncompressed segment's blocks, which the writer hands over
	// whole, go to the file without a copy through the buffer; compressed output still reaches
	// the file in batches.
	block := c.blockSize
	if block <= 0 {
		block = archive.DefaultBlockSize
	}
	buf := bufio.NewWriterSize(f, block/2)
	w, err := archive.NewSegmentWriter(buf, archive.WriterOptions{Compression: c.comp, Key: c.key, BlockSize: block})
	if err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return temporal.NewNonRetryableApplicationError(err.Error(), kafkabackup.ErrInvalidSpec, nil)
	}
	c.seg = &openSegment{file: f, buf: buf, w: w, first: c.pos, opened: time.Now()}
	return nil
}

func (c *capture) discardSegment() {
	if c.seg != nil {
		c.seg.w.Discard() // after roll's Close, nothing; else gives back its compressor
		_ = c.seg.file.Close()
		_ = os.Remove(c.seg.file.Name())
		c.seg = nil
	}
}

// roll finishes the open segment, uploads it under its final key, and heartbeats the new
// durable position. Without an open segment it does nothing.
func (c *capture) roll(ctx context.Context) error {
	s := c.seg
	if s == nil {
		return nil
	}
	defer c.discardSegment()
	footer, err := s.w.Close()
	if err == nil {
		err = s.buf.Flush()
	}
	if err != nil {
		return fmt.Errorf("finish segment of %s/%d: %w", c.in.Topic, c.in.Partition, err)
	}
	key, err := c.layout.Segment(c.in.Topic, c.in.Partition, s.first, s.last)
	if err != nil {
		return err
	}
	if adopted, err := c.store.Adopt(ctx, s.file, key); adopted || err != nil {
		if err != nil {
			return classify(err)
		}
		return c.recordSegment(ctx, s, footer, key)
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind spooled segment %s: %w", key, err)
	}
	w, err := c.store.NewWriter(ctx, key, &blob.WriterOptions{ContentType: "application/vnd.arkive.segment"})
	if err != nil {
		return classify(err)
	}
	// Keep heartbeating while a large segment uploads, so a slow upload is not taken for a
	// dead worker.
	if _, err := io.Copy(w, &beatingReader{r: s.file, beat: func() { c.heartbeat(ctx, c.durable) }}); err != nil {
		w.Abort() // a partial segment under its final key would read as damaged
		return classify(fmt.Errorf("upload %s: %w", key, err))
	}
	if err := w.Close(); err != nil {
		return classify(err)
	}
	return c.recordSegment(ctx, s, footer, key)
}

// recordSegment adds a stored segment to the durable progress and heartbeats it.
func (c *capture) recordSegment(ctx context.Context, s *openSegment, footer archive.Footer, key string) error {
	c.durable.Segments = append(c.durable.Segments, archive.SegmentRef{
		Key: key, FirstOffset: s.first, LastOffset: s.last, Count: footer.Count,
		MinTimestamp: footer.MinTimestamp, MaxTimestamp: footer.MaxTimestamp,
		StoredBytes: s.w.StoredBytes(), PayloadBytes: footer.PayloadBytes, ContentCRC: footer.ContentCRC, MaxRecordBytes: s.maxRecord,
		Codec: c.comp.Codec.String(), Encrypted: c.key != nil,
	})
	ref := &c.durable.Segments[len(c.durable.Segments)-1]
	if ref.Missing = ref.Absent(); ref.Missing > 0 {
		// Under read_committed the consumer skips control records and aborted records; in a
		// compacted topic the log no longer holds what the cleaner removed. Which one a given
		// offset was is not visible to a consumer: a compacted topic's are counted as compacted.
		ref.MissingReason = archive.GapTransaction
		if c.compacts {
			ref.MissingReason = archive.GapCompacted
		}
	}
	c.durable.Next = s.last + 1
	if c.stored != nil {
		c.stored(s.records, s.bytes)
	}
	metrics.Moved(ctx, metrics.Captured, footer.Count, footer.PayloadBytes)
	metrics.PartitionLag(ctx, c.in.Topic, c.in.Partition, max(0, c.result.HighWatermark-c.durable.Next))
	c.heartbeat(ctx, c.durable)
	return nil
}

// classify turns a failure into what the workflow should do with it: permanent causes stop
// retrying with a stable type the status can show; everything else is retried.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return err
	}
	// The same answers from sarama (reads, captures) and franz-go (the restore's producer).
	switch {
	case errors.Is(err, sarama.ErrUnknownTopicOrPartition), errors.Is(err, kerr.UnknownTopicOrPartition):
		return temporal.NewNonRetryableApplicationError(err.Error(), kafkabackup.ErrTopicNotFound, err)
	case errors.Is(err, sarama.ErrSASLAuthenticationFailed), errors.Is(err, sarama.ErrTopicAuthorizationFailed),
		errors.Is(err, sarama.ErrClusterAuthorizationFailed), errors.Is(err, kerr.SaslAuthenticationFailed),
		errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.ClusterAuthorizationFailed):
		return temporal.NewNonRetryableApplicationError(err.Error(), kafkabackup.ErrAuthentication, err)
	}
	return backupstore.Classify(err) // storage refusals, corrupt manifests
}

// beatingReader calls beat at most once a second while it is read.
type beatingReader struct {
	r    io.Reader
	beat func()
	last time.Time
}

func (b *beatingReader) Read(p []byte) (int, error) {
	if now := time.Now(); now.Sub(b.last) >= time.Second {
		b.beat()
		b.last = now
	}
	return b.r.Read(p)
}
