package kafka

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gocloud.dev/blob"

	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/errgroup"

	"arkive.io/arkive/activities/backupstore"
	"arkive.io/arkive/activities/beat"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/backups"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/catalog"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkabackup"
)

// Commit merges capture results and topic metadata into the backup's manifest and writes it.
// The segments were uploaded before; this write is what makes them part of the backup. It is
// idempotent: a retry after a successful write finds the captures already covered and skips
// them.
func (a *Activities) Commit(ctx context.Context, in kafkabackup.CommitInput) (kafkabackup.CommitResult, error) {
	defer beat.Start(ctx, nil)() // a commit of thousands of partitions takes a while
	store, err := a.openBackup(ctx, in.Connection, false)
	if err != nil {
		return kafkabackup.CommitResult{}, err
	}
	defer store.Close()
	cat, err := openCatalog(ctx, store)
	if err != nil {
		return kafkabackup.CommitResult{}, err
	}
	// The shards' results are read several at a time, in their order: each is an object of its
	// own, and an object store answers in tens of milliseconds (16 shards read one after another
	// made most of a 2,000-partition commit's 1.3 s at 10 ms each way, docs/benchmarks.md).
	staged := make([][]kafkabackup.CaptureResult, len(in.Staged))
	reads, rctx := errgroup.WithContext(ctx)
	reads.SetLimit(stagedConcurrency)
	for i, key := range in.Staged {
		reads.Go(func() (err error) {
			staged[i], err = readStagedCaptures(rctx, store, key)
			return err
		})
	}
	if err := reads.Wait(); err != nil {
		return kafkabackup.CommitResult{}, err
	}
	for _, c := range staged {
		in.Captures = append(in.Captures, c...)
	}
	var inconsistent error
	m, err := cat.Commit(ctx, in.Backup, in.Time, func(m *archive.Manifest) error {
		inconsistent = mergeCommit(m, in)
		return inconsistent
	})
	if inconsistent != nil {
		return kafkabackup.CommitResult{}, temporal.NewNonRetryableApplicationError(inconsistent.Error(), kafkabackup.ErrInconsistentCommit, nil)
	}
	if err != nil {
		return kafkabackup.CommitResult{}, classify(err)
	}
	res := kafkabackup.CommitResult{Generation: m.Generation, FoldDue: cat.PendingDeltas() >= catalog.FoldAfter}
	if in.Sharded {
		// The staged objects are merged: they go now (one the commit cannot delete is swept
		// with the leftovers of failed shards).
		var deletes errgroup.Group
		deletes.SetLimit(stagedConcurrency)
		for _, key := range in.Staged {
			deletes.Go(func() error { _ = store.Delete(ctx, key); return nil })
		}
		_ = deletes.Wait()
		sweepStaging(ctx, store, in.Time)
		shardedSummary(&res, m, in.Captures)
		return res, nil
	}
	for _, t := range m.Topics {
		for _, p := range t.Data {
			res.Next = append(res.Next, kafkabackup.PartitionState{Topic: t.Name, Partition: p.Partition, Next: p.NextOffset})
		}
	}
	return res, nil
}

// stagedConcurrency is how many staged objects a commit reads or deletes at once.
const stagedConcurrency = 16

// readStagedCaptures reads a CaptureShard's stored results. A missing object was merged and
// deleted by an earlier attempt of this commit (the workflow names only objects a capture
// wrote), so it adds nothing.
func readStagedCaptures(ctx context.Context, store *backupstore.Backup[blobstore.KafkaLayout], key string) ([]kafkabackup.CaptureResult, error) {
	if !strings.HasPrefix(key, store.Layout.StagingPrefix()) {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("staged capture %s is not this backup's", key), kafkabackup.ErrInconsistentCommit, nil)
	}
	captures, _, err := loadStaged(ctx, store.Store, key)
	if errors.Is(err, errUnreadableStaged) {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), kafkabackup.ErrInconsistentCommit, nil)
	}
	return captures, err
}

// stagingMaxAge is how long a staged object no commit merged (its shard failed for good, or its
// workflow was terminated) stays before a commit sweeps it: far longer than any capture runs.
const stagingMaxAge = 24 * time.Hour

func sweepStaging(ctx context.Context, store *backupstore.Backup[blobstore.KafkaLayout], now time.Time) {
	it := store.List(&blob.ListOptions{Prefix: store.Layout.StagingPrefix()})
	for {
		obj, err := it.Next(ctx)
		if err != nil {
			return // io.EOF or a failure: the next commit tries again
		}
		if now.Sub(obj.ModTime) > stagingMaxAge {
			_ = store.Delete(ctx, obj.Key)
		}
	}
}

// shardedSummary fills a sharded commit's status figures from the merged captures: every
// partition's committed offset and lag behind the high watermark its capture read (the most
// lagging MaxStatusPartitions of them, in topic and partition order), their count and summed
// lag, the retention gaps they found, the topics deleted from the source and the partitions
// whose log was truncated below what the backup holds.
func shardedSummary(res *kafkabackup.CommitResult, m *archive.Manifest, captures []kafkabackup.CaptureResult) {
	next := map[string]int64{}
	for _, t := range m.Topics {
		for _, p := range t.Data {
			next[tpKey(t.Name, p.Partition)] = p.NextOffset
		}
	}
	for _, c := range captures {
		n := next[tpKey(c.Topic, c.Partition)]
		lag := max(0, c.HighWatermark-n)
		res.Lag += lag
		res.Partitions = append(res.Partitions, kafkabackup.PartitionStatus{Topic: c.Topic, Partition: c.Partition, Committed: n, Lag: lag})
		for _, g := range c.Gaps {
			if g.Reason == archive.GapRetention {
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s/%d: offsets %d-%d were deleted by the source before they were backed up", c.Topic, c.Partition, g.From, g.To))
			}
		}
		if c.Deleted && !slices.Contains(res.DeletedTopics, c.Topic) {
			res.DeletedTopics = append(res.DeletedTopics, c.Topic)
			res.Warnings = append(res.Warnings, fmt.Sprintf("topic %s was deleted from the source during the backup: what was backed up before stays in the backup", c.Topic))
		}
		if c.Truncated && len(res.Truncated) < maxCommitWarnings {
			res.Truncated = append(res.Truncated, c.Truncation())
		}
	}
	res.PartitionCount = len(res.Partitions)
	if len(res.Partitions) > kafkabackup.MaxStatusPartitions {
		slices.SortStableFunc(res.Partitions, func(a, b kafkabackup.PartitionStatus) int { return cmp.Compare(b.Lag, a.Lag) })
		res.Partitions = res.Partitions[:kafkabackup.MaxStatusPartitions]
	}
	slices.SortFunc(res.Partitions, func(a, b kafkabackup.PartitionStatus) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	if n := len(res.Warnings); n > maxCommitWarnings {
		res.Warnings = res.Warnings[n-maxCommitWarnings:]
	}
}

// maxCommitWarnings bounds the warnings one commit returns (the manifest keeps every gap).
const maxCommitWarnings = 20

// FoldCatalog merges the commits' pending deltas into the partitions' indexes, so that the
// next commits and readers stay small; the workflow calls it when a commit says it is due.
// With compaction on, runs of small adjacent segments are merged into new segments as they are
// placed (the new segment is written before the catalog names it; the small ones are retired
// and deleted after the catalog's grace period, so a restore that read the older catalog
// finishes).
func (a *Activities) FoldCatalog(ctx context.Context, in kafkabackup.FoldInput) error {
	defer beat.Start(ctx, nil)() // merging reads and writes segments
	store, err := a.openBackup(ctx, in.Connection, in.Compaction.Enabled)
	if err != nil {
		return err
	}
	defer store.Close()
	cat, err := openCatalog(ctx, store)
	if err != nil {
		return err
	}
	var comp *catalog.Compactor
	if in.Compaction.Enabled && in.Compaction.MinSegmentBytes > 0 && in.MaxSegmentBytes > 0 {
		codec, err := archive.ParseCodec(in.Compression.Codec)
		if err != nil {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("spec.compression.codec: %v", err), kafkabackup.ErrInconsistentCommit, nil)
		}
		m := merger{store: store, comp: archive.Compression{Codec: codec, Level: in.Compression.Level}}
		comp = &catalog.Compactor{MinBytes: in.Compaction.MinSegmentBytes, TargetBytes: in.MaxSegmentBytes, Merge: m.merge}
	}
	return classify(cat.FoldCompacting(ctx, in.Time, comp))
}

// merger writes one segment from the records of several.
type merger struct {
	store *backupstore.Backup[blobstore.KafkaLayout]
	comp  archive.Compression
}

func (m merger) merge(ctx context.Context, topic string, partition int32, sources []archive.SegmentRef) (archive.SegmentRef, error) {
	first, last := sources[0], sources[len(sources)-1]
	key, err := m.store.Layout.Segment(topic, partition, first.FirstOffset, last.LastOffset)
	if err != nil {
		return archive.SegmentRef{}, err
	}
	out, err := m.store.NewWriter(ctx, key, nil)
	if err != nil {
		return archive.SegmentRef{}, fmt.Errorf("write %s: %w", key, err)
	}
	defer out.Abort() // a merge that fails part-way stores nothing; after Close, nothing
	sw, err := archive.NewSegmentWriter(out, archive.WriterOptions{Compression: m.comp, Key: m.store.Key})
	if err != nil {
		return archive.SegmentRef{}, err
	}
	defer sw.Discard() // after Close, nothing
	var maxRecord int64
	for _, src := range sources {
		err := backups.Segment(ctx, m.store.Store, src, m.store.Key, func(r *archive.Record) error {
			maxRecord = max(maxRecord, r.Size())
			return sw.Append(r)
		})
		if err != nil {
			return archive.SegmentRef{}, err
		}
	}
	footer, err := sw.Close()
	if err != nil {
		return archive.SegmentRef{}, err
	}
	stored := sw.StoredBytes()
	if err := out.Close(); err != nil {
		return archive.SegmentRef{}, fmt.Errorf("write %s: %w", key, err)
	}
	ref := archive.SegmentRef{Key: key, FirstOffset: first.FirstOffset, LastOffset: last.LastOffset, Count: footer.Count,
		MinTimestamp: footer.MinTimestamp, MaxTimestamp: footer.MaxTimestamp, StoredBytes: stored, PayloadBytes: footer.PayloadBytes,
		MaxRecordBytes: maxRecord, ContentCRC: footer.ContentCRC, Codec: m.comp.Codec.String(), Encrypted: m.store.Key != nil, Run: first.Run}
	if ref.Missing = ref.Absent(); ref.Missing > 0 {
		// The sources' reason (one topic, one policy); none when they predate recording it.
		for _, src := range sources {
			ref.MissingReason = cmp.Or(ref.MissingReason, src.MissingReason)
		}
	}
	var want int64
	for _, src := range sources {
		want += src.Count
	}
	if ref.Count != want {
		return archive.SegmentRef{}, fmt.Errorf("merged segment %s holds %d records where its sources hold %d", key, ref.Count, want)
	}
	return ref, nil
}

// openBackup opens a backup's storage (withKey: and its encryption key, for what reads or
// writes records).
func (a *Activities) openBackup(ctx context.Context, conn workflows.KafkaConnection, withKey bool) (*backupstore.Backup[blobstore.KafkaLayout], error) {
	return backupstore.Open(ctx, conn.Storage, conn.Backup, blobstore.Kafka, a.Secrets(conn.Namespace), withKey)
}

// openCatalog opens the backup's catalog, classified.
func openCatalog(ctx context.Context, store *backupstore.Backup[blobstore.KafkaLayout]) (*catalog.Catalog, error) {
	c, err := catalog.Open(ctx, store.Store, store.Layout)
	return c, classify(err)
}

func mergeCommit(m *archive.Manifest, in kafkabackup.CommitInput) error {
	var names []string
	for _, info := range in.Topics {
		names = append(names, info.Name)
	}
	for _, c := range in.Captures {
		names = append(names, c.Topic)
	}
	index := manifestTopics(m, names)
	for _, info := range in.Topics {
		t := &m.Topics[index[info.Name]]
		t.Partitions = max(t.Partitions, int32(len(info.Partitions)))
		if info.Configs != nil {
			t.Configs = info.Configs
		}
	}
	for _, c := range in.Captures {
		t := &m.Topics[index[c.Topic]]
		i, found := slices.BinarySearchFunc(t.Data, archive.Partition{Partition: c.Partition}, byPartition)
		if !found {
			t.Data = slices.Insert(t.Data, i, archive.Partition{Partition: c.Partition, StartOffset: c.Start, NextOffset: c.Start})
		}
		p := &t.Data[i]
		switch {
		case c.Next <= p.NextOffset:
			continue // already committed: this is a retry
		case c.Start != p.NextOffset:
			return fmt.Errorf("capture of %s/%d starts at %d but the backup continues at %d", c.Topic, c.Partition, c.Start, p.NextOffset)
		}
		for _, seg := range c.Segments {
			if in.Run != nil {
				seg.Run = in.Run.ID // retention drops data by run
			}
			p.Segments = append(p.Segments, seg)
		}
		p.Gaps = append(p.Gaps, c.Gaps...)
		p.NextOffset = c.Next
		p.LeaderEpoch = nil // describes the record before the old next offset
		if c.Epoch != nil && c.Epoch.Next == c.Next {
			epoch := c.Epoch.Epoch
			p.LeaderEpoch = &epoch
		}
	}
	if in.Run != nil {
		if i := slices.IndexFunc(m.Runs, func(r archive.Run) bool { return r.ID == in.Run.ID }); i >= 0 {
			m.Runs[i] = *in.Run
		} else {
			m.Runs = append(m.Runs, *in.Run)
		}
	}
	if in.Groups != nil {
		mergeGroups(m, in.Groups)
	}
	m.Generation++
	m.CommittedAt = in.Time
	return nil
}

// mergeGroups adds a consumer-group snapshot, only when something moved, so an idle backup
// keeps its history short (the catalog compares with its newest stored snapshot, which a root
// does not hold).
func mergeGroups(m *archive.Manifest, g *archive.GroupOffsetsSnapshot) {
	if n := len(m.GroupOffsets); (n == 0 && len(g.Groups) > 0) || (n > 0 && !slices.Equal(m.GroupOffsets[n-1].Groups, g.Groups)) {
		m.GroupOffsets = append(m.GroupOffsets, *g)
		if len(m.GroupOffsets) > catalog.MaxGroupSnapshots {
			m.GroupOffsets = slices.Delete(m.GroupOffsets, 0, len(m.GroupOffsets)-catalog.MaxGroupSnapshots)
		}
	}
}

// manifestTopics adds the named topics the manifest lacks, keeping its topics sorted by name
// and each topic's partitions sorted by number, and returns every topic's index. One index
// for a whole commit: looking each topic up by a scan, and sorting the list again for each
// new one, took 0.5-1.2 s a commit of 5,000 topics.
func manifestTopics(m *archive.Manifest, names []string) map[string]int {
	index := topicIndex(m.Topics)
	added := false
	for _, name := range names {
		if _, ok := index[name]; !ok {
			index[name] = -1 // added once
			m.Topics = append(m.Topics, archive.Topic{Name: name})
			added = true
		}
	}
	if added {
		slices.SortStableFunc(m.Topics, func(a, b archive.Topic) int { return strings.Compare(a.Name, b.Name) })
		index = topicIndex(m.Topics)
	}
	checked := make(map[string]bool)
	for _, name := range names {
		if t := &m.Topics[index[name]]; !checked[name] && !slices.IsSortedFunc(t.Data, byPartition) {
			slices.SortFunc(t.Data, byPartition) // lookups search them
		}
		checked[name] = true
	}
	return index
}

// topicIndex is each topic's index by name (the first, as a scan would find it).
func topicIndex(topics []archive.Topic) map[string]int {
	index := make(map[string]int, len(topics))
	for i, t := range topics {
		if _, ok := index[t.Name]; !ok {
			index[t.Name] = i
		}
	}
	return index
}

func byPartition(a, b archive.Partition) int { return cmp.Compare(a.Partition, b.Partition) }
