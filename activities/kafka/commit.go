package kafka

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"

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
	store, err := a.openBackup(ctx, in.Connection, false)
	if err != nil {
		return kafkabackup.CommitResult{}, err
	}
	defer store.Close()
	cat, err := openCatalog(ctx, store)
	if err != nil {
		return kafkabackup.CommitResult{}, err
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
	for _, t := range m.Topics {
		for _, p := range t.Data {
			res.Next = append(res.Next, kafkabackup.PartitionState{Topic: t.Name, Partition: p.Partition, Next: p.NextOffset})
		}
	}
	return res, nil
}

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
	sw, err := archive.NewSegmentWriter(out, archive.WriterOptions{Compression: m.comp, Key: m.store.Key})
	if err != nil {
		_ = out.Close()
		return archive.SegmentRef{}, err
	}
	var maxRecord int64
	for _, src := range sources {
		err := backups.Segment(ctx, m.store.Store, src, m.store.Key, func(r *archive.Record) error {
			maxRecord = max(maxRecord, r.Size())
			return sw.Append(r)
		})
		if err != nil {
			_ = out.Close()
			return archive.SegmentRef{}, err
		}
	}
	footer, err := sw.Close()
	if err != nil {
		_ = out.Close()
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
	for _, info := range in.Topics {
		t := manifestTopic(m, info.Name)
		t.Partitions = max(t.Partitions, int32(len(info.Partitions)))
		if info.Configs != nil {
			t.Configs = info.Configs
		}
	}
	for _, c := range in.Captures {
		t := manifestTopic(m, c.Topic)
		i := slices.IndexFunc(t.Data, func(p archive.Partition) bool { return p.Partition == c.Partition })
		if i < 0 {
			t.Data = append(t.Data, archive.Partition{Partition: c.Partition, StartOffset: c.Start, NextOffset: c.Start})
			slices.SortFunc(t.Data, func(a, b archive.Partition) int { return cmp.Compare(a.Partition, b.Partition) })
			i = slices.IndexFunc(t.Data, func(p archive.Partition) bool { return p.Partition == c.Partition })
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
	}
	if in.Run != nil {
		if i := slices.IndexFunc(m.Runs, func(r archive.Run) bool { return r.ID == in.Run.ID }); i >= 0 {
			m.Runs[i] = *in.Run
		} else {
			m.Runs = append(m.Runs, *in.Run)
		}
	}
	if g := in.Groups; g != nil {
		// A new snapshot only when something moved, so an idle backup keeps its history short
		// (the catalog compares with its newest stored snapshot, which a root does not hold).
		if n := len(m.GroupOffsets); (n == 0 && len(g.Groups) > 0) || (n > 0 && !slices.Equal(m.GroupOffsets[n-1].Groups, g.Groups)) {
			m.GroupOffsets = append(m.GroupOffsets, *g)
			if len(m.GroupOffsets) > catalog.MaxGroupSnapshots {
				m.GroupOffsets = slices.Delete(m.GroupOffsets, 0, len(m.GroupOffsets)-catalog.MaxGroupSnapshots)
			}
		}
	}
	m.Generation++
	m.CommittedAt = in.Time
	return nil
}

func manifestTopic(m *archive.Manifest, name string) *archive.Topic {
	i := slices.IndexFunc(m.Topics, func(t archive.Topic) bool { return t.Name == name })
	if i < 0 {
		m.Topics = append(m.Topics, archive.Topic{Name: name})
		slices.SortFunc(m.Topics, func(a, b archive.Topic) int { return strings.Compare(a.Name, b.Name) })
		i = slices.IndexFunc(m.Topics, func(t archive.Topic) bool { return t.Name == name })
	}
	return &m.Topics[i]
}
