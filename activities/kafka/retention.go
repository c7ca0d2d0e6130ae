package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"gocloud.dev/blob"

	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/workflows/kafkabackup"
)

// ApplyRetention drops the oldest data the policy no longer keeps. It writes the trimmed
// catalog first and deletes segments after, so a reader never finds the catalog naming a
// deleted segment; while a restore pins an older generation, it deletes nothing. Deletion
// covers every segment object below a partition's new start offset, which also removes what
// killed captures left there, and makes a retry finish the job.
func (a *Activities) ApplyRetention(ctx context.Context, in kafkabackup.RetentionInput) (kafkabackup.RetentionResult, error) {
	var res kafkabackup.RetentionResult
	store, err := a.openBackup(ctx, in.Connection, false)
	if err != nil {
		return res, err
	}
	defer store.Close()
	layout := store.Layout
	cat, err := openCatalog(ctx, store)
	if err != nil || cat.Root() == nil {
		return res, err
	}
	drop := func(s archive.SegmentRef) bool {
		if in.Protect != "" && s.Run == in.Protect {
			return false
		}
		if in.KeepRuns != nil && s.Run != "" && !slices.Contains(in.KeepRuns, s.Run) {
			return true
		}
		return !in.Before.IsZero() && s.MaxTimestamp < in.Before.UnixMilli()
	}
	// Age alone never empties a partition: its newest segment stays.
	m, err := cat.Trim(ctx, in.Time, drop, in.KeepRuns == nil, func(m *archive.Manifest) {
		if in.KeepRuns != nil {
			m.Runs = slices.DeleteFunc(m.Runs, func(r archive.Run) bool { return !slices.Contains(in.KeepRuns, r.ID) && r.ID != in.Protect })
		}
	})
	if err != nil {
		return res, classify(err)
	}
	// A restore that pinned an older generation may still read what the trim dropped: leave
	// it stored; every later retention deletes all below the start again, so the deletion
	// happens once the pin is gone (the restore ended, or its pin expired).
	if res.PinnedGeneration, err = cat.OldestPin(ctx, in.Time); err != nil {
		return res, classify(err)
	}
	if res.PinnedGeneration != 0 && res.PinnedGeneration < m.Generation {
		return res, nil
	}
	res.PinnedGeneration = 0
	for _, t := range m.Topics {
		for _, p := range t.Data {
			prefix, err := layout.PartitionPrefix(t.Name, p.Partition)
			if err != nil {
				return res, err
			}
			n, bytes, err := deleteBelow(ctx, store.Store, layout, prefix, p.StartOffset)
			res.DeletedSegments += n
			res.DeletedBytes += bytes
			if err != nil {
				return res, classify(err)
			}
		}
	}
	return res, nil
}

// deleteBelow deletes the segment objects under prefix that end before offset.
func deleteBelow(ctx context.Context, store *blobstore.Store, layout blobstore.KafkaLayout, prefix string, offset int64) (int, int64, error) {
	n, total := 0, int64(0)
	it := store.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return n, total, nil
		}
		if err != nil {
			return n, total, fmt.Errorf("list %s: %w", prefix, err)
		}
		k, ok := layout.ParseSegment(obj.Key)
		if !ok || k.Last >= offset {
			continue
		}
		if err := store.Delete(ctx, obj.Key); err != nil && !blobstore.IsNotFound(err) {
			return n, total, fmt.Errorf("delete %s: %w", obj.Key, err)
		}
		n++
		total += obj.Size
	}
}
