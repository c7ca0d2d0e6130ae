package backupstore

import (
	"context"
	"fmt"
	"io"
	"slices"

	"gocloud.dev/blob"

	"arkive.io/arkive/internal/blobstore"
)

// PruneSnapshots removes the snapshots named in drop from a backup that takes whole snapshots
// (resources, ZooKeeper trees): first from the manifest (write saves it), then their objects
// under the layout's snapshot prefix. A crash in between leaves objects no manifest names, never
// a manifest naming missing objects; a retry deletes what is left. The newest snapshot is never
// removed. It returns how many snapshots left the manifest.
func PruneSnapshots[R any](ctx context.Context, st *Backup[blobstore.SnapshotLayout], snapshots *[]R, id func(R) string,
	drop []string, write func() error) (int, error) {
	var keep []R
	dropped := 0
	for i, s := range *snapshots {
		if slices.Contains(drop, id(s)) && i != len(*snapshots)-1 {
			dropped++
		} else {
			keep = append(keep, s)
		}
	}
	if dropped > 0 {
		*snapshots = keep
		if err := write(); err != nil {
			return 0, err
		}
	}
	for _, d := range drop {
		if slices.ContainsFunc(*snapshots, func(s R) bool { return id(s) == d }) {
			continue
		}
		prefix, err := st.Layout.Snapshot(d)
		if err != nil {
			continue
		}
		if err := DeletePrefix(ctx, st.Store, prefix); err != nil {
			return dropped, err
		}
	}
	return dropped, nil
}

// DeletePrefix deletes every object under prefix.
func DeletePrefix(ctx context.Context, st *blobstore.Store, prefix string) error {
	it := st.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		if err := st.Delete(ctx, obj.Key); err != nil && !blobstore.IsNotFound(err) {
			return fmt.Errorf("delete %s: %w", obj.Key, err)
		}
	}
}
