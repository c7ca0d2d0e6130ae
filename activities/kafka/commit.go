package kafka

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/workflows/kafkabackup"
)

// Commit merges capture results and topic metadata into the backup's manifest and writes it.
// The segments were uploaded before; this write is what makes them part of the backup. It is
// idempotent: a retry after a successful write finds the captures already covered and skips
// them.
func (a *Activities) Commit(ctx context.Context, in kafkabackup.CommitInput) (kafkabackup.CommitResult, error) {
	var sspec arkivev1.StorageSpec
	if err := json.Unmarshal(in.Storage, &sspec); err != nil {
		return kafkabackup.CommitResult{}, temporal.NewNonRetryableApplicationError("storage spec: "+err.Error(), kafkabackup.ErrInvalidSpec, nil)
	}
	layout, err := blobstore.Kafka(in.Backup)
	if err != nil {
		return kafkabackup.CommitResult{}, temporal.NewNonRetryableApplicationError(err.Error(), kafkabackup.ErrInvalidSpec, nil)
	}
	store, err := blobstore.Open(ctx, sspec, a.Secrets(in.Namespace))
	if err != nil {
		return kafkabackup.CommitResult{}, classify(err)
	}
	defer store.Close()
	m, err := ReadManifest(ctx, store, layout)
	if err != nil {
		return kafkabackup.CommitResult{}, err
	}
	if m == nil {
		m = &archive.Manifest{Version: archive.ManifestVersion, Backup: in.Backup}
	}
	if err := mergeCommit(m, in); err != nil {
		return kafkabackup.CommitResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "InconsistentCommit", nil)
	}
	data, err := archive.MarshalManifest(m)
	if err != nil {
		return kafkabackup.CommitResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "InconsistentCommit", nil)
	}
	if err := store.Put(ctx, layout.Manifest(), data); err != nil {
		return kafkabackup.CommitResult{}, classify(err)
	}
	res := kafkabackup.CommitResult{Generation: m.Generation}
	for _, t := range m.Topics {
		for _, p := range t.Data {
			res.Next = append(res.Next, kafkabackup.PartitionState{Topic: t.Name, Partition: p.Partition, Next: p.NextOffset})
		}
	}
	return res, nil
}

// ReadManifest reads a backup's manifest; nil when the backup has none yet.
func ReadManifest(ctx context.Context, store *blobstore.Store, layout blobstore.KafkaLayout) (*archive.Manifest, error) {
	data, err := store.ReadAll(ctx, layout.Manifest())
	if blobstore.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, classify(fmt.Errorf("read %s: %w", layout.Manifest(), err))
	}
	m, err := archive.UnmarshalManifest(layout.Manifest(), data)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), "CorruptManifest", nil)
	}
	return m, nil
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
		// A new snapshot only when something moved, so an idle backup keeps its history short.
		if n := len(m.GroupOffsets); (n == 0 && len(g.Groups) > 0) || (n > 0 && !slices.Equal(m.GroupOffsets[n-1].Groups, g.Groups)) {
			m.GroupOffsets = append(m.GroupOffsets, *g)
			if len(m.GroupOffsets) > maxGroupSnapshots {
				m.GroupOffsets = slices.Delete(m.GroupOffsets, 0, len(m.GroupOffsets)-maxGroupSnapshots)
			}
		}
	}
	m.Generation++
	m.CommittedAt = in.Time
	return nil
}

// maxGroupSnapshots bounds the consumer-group history a manifest keeps: enough for a
// point-in-time restore to find the offsets near its time over days of discovery intervals.
const maxGroupSnapshots = 100

func manifestTopic(m *archive.Manifest, name string) *archive.Topic {
	i := slices.IndexFunc(m.Topics, func(t archive.Topic) bool { return t.Name == name })
	if i < 0 {
		m.Topics = append(m.Topics, archive.Topic{Name: name})
		slices.SortFunc(m.Topics, func(a, b archive.Topic) int { return strings.Compare(a.Name, b.Name) })
		i = slices.IndexFunc(m.Topics, func(t archive.Topic) bool { return t.Name == name })
	}
	return &m.Topics[i]
}
