package volume

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"gocloud.dev/blob"

	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/blobstore"
)

// OrphanGrace is how old a pack no index names must be before a prune deletes it: younger
// ones may belong to a backup that is still running (or will be retried and adopt them).
const OrphanGrace = 24 * time.Hour

// PruneResult counts what a prune removed and rewrote.
type PruneResult struct {
	Snapshots     int   `json:"snapshots"`
	DeletedPacks  int   `json:"deletedPacks"`
	RewrittenPack int   `json:"rewrittenPacks"`
	FreedBytes    int64 `json:"freedBytes"`
}

// Prune removes snapshots and then every chunk no remaining snapshot references (mark and
// sweep). The order keeps every step safe to crash after: the manifest stops naming the
// snapshots first; live chunks of partly dead packs are copied into new packs; one new index
// names every live pack; only then are the old indexes, the dead packs and the dropped trees
// deleted. It must not run beside a backup of the same repository (a backup may reuse a
// chunk the sweep deletes); the backup's workflow runs both, one after the other.
func (r *Repo) Prune(ctx context.Context, drop []string) (*PruneResult, error) {
	res := &PruneResult{}
	m, err := r.Manifest(ctx)
	if err != nil {
		return nil, err
	}
	var dropped []archive.VolumeSnapshotRef
	m.Snapshots = slices.DeleteFunc(m.Snapshots, func(s archive.VolumeSnapshotRef) bool {
		if slices.Contains(drop, s.ID) {
			dropped = append(dropped, s)
			return true
		}
		return false
	})
	if len(dropped) > 0 {
		b, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := r.store.Put(ctx, r.layout.Manifest(), b); err != nil {
			return nil, err
		}
	}
	res.Snapshots = len(dropped)

	// Mark.
	live := map[archive.ChunkID]bool{}
	for i := range m.Snapshots {
		err := r.Walk(ctx, &m.Snapshots[i], func(e *archive.VEntry) error {
			for _, ch := range e.Chunks {
				live[ch.ID] = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}

	// Sweep: every pack an index or the listing knows, by how many of its chunks live.
	indexes, err := r.list(ctx, r.layout.IndexPrefix())
	if err != nil {
		return nil, err
	}
	listed, err := r.list(ctx, r.layout.PacksPrefix())
	if err != nil {
		return nil, err
	}
	known := map[string]archive.IndexPack{}
	for _, o := range indexes {
		obj, err := r.store.ReadAll(ctx, o.Key)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", o.Key, err)
		}
		ix, err := archive.DecodeVolumeIndex(o.Key, obj, r.key)
		if err != nil {
			return nil, err
		}
		for _, p := range ix.Packs {
			known[p.Name] = p
		}
	}
	var keep []archive.IndexPack
	var deletePacks []string
	var rewrite *archive.PackWriter
	var newPacks []archive.IndexPack
	flush := func() error {
		if rewrite == nil || rewrite.Len() == 0 {
			return nil
		}
		obj, name, blobs, err := rewrite.Finish()
		if err != nil {
			return err
		}
		if err := r.store.Put(ctx, r.layout.Pack(name), obj); err != nil {
			return err
		}
		newPacks = append(newPacks, archive.IndexPack{Name: name, Size: int64(len(obj)), Blobs: blobs})
		rewrite = nil
		return nil
	}
	copied := map[archive.ChunkID]bool{}
	var buf, enc []byte
	names := make([]string, 0, len(known))
	for n := range known {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		p := known[n]
		alive := 0
		for _, b := range p.Blobs {
			if live[b.ID] {
				alive++
			}
		}
		switch {
		case alive == len(p.Blobs):
			keep = append(keep, p)
			continue
		case alive > 0:
			pr, err := r.readPack(ctx, n)
			if err != nil {
				return nil, err
			}
			for i, b := range p.Blobs {
				if !live[b.ID] || copied[b.ID] {
					continue
				}
				if buf, err = pr.Blob(i, b, buf); err != nil {
					return nil, err
				}
				enc = archive.EncodeBlob(enc, buf, r.enc)
				if rewrite != nil && rewrite.Size()+len(enc) > DefaultPackSize {
					if err := flush(); err != nil {
						return nil, err
					}
				}
				if rewrite == nil {
					if rewrite, err = archive.NewPackWriter(r.key, DefaultPackSize+packSlack); err != nil {
						return nil, err
					}
				}
				rewrite.Add(b.ID, len(buf), enc)
				copied[b.ID] = true
			}
			res.RewrittenPack++
		}
		deletePacks = append(deletePacks, n)
		res.FreedBytes += p.Size
	}
	if err := flush(); err != nil {
		return nil, err
	}
	// Live chunks in a kept pack may also sit in a rewritten one; the index lists both and
	// readers take either.
	for _, o := range listed {
		name := packName(o.Key)
		if _, ok := known[name]; ok || !isPackName(name) || time.Since(o.ModTime) < OrphanGrace {
			continue
		}
		deletePacks = append(deletePacks, name)
		res.FreedBytes += o.Size
	}
	ix := &archive.VolumeIndex{Format: archive.VolumeSnapshotFormat, Packs: append(keep, newPacks...)}
	doc, err := archive.EncodeVolumeIndex(ix, r.key)
	if err != nil {
		return nil, err
	}
	// The new index gets a name of its own, then the old ones go.
	newIndex := r.layout.Index(fmt.Sprintf("pruned-%d", time.Now().UnixNano()))
	if err := r.store.Put(ctx, newIndex, doc); err != nil {
		return nil, err
	}
	for _, o := range indexes {
		if err := r.delete(ctx, o.Key); err != nil {
			return nil, err
		}
	}
	for _, n := range deletePacks {
		if err := r.delete(ctx, r.layout.Pack(n)); err != nil {
			return nil, err
		}
	}
	res.DeletedPacks = len(deletePacks)
	for _, s := range dropped {
		for _, c := range s.Tree {
			if err := r.delete(ctx, s.Prefix+c.Name); err != nil {
				return nil, err
			}
		}
	}
	// The repository's view of where chunks are is now stale: reopen it to use it again.
	return res, nil
}

func (r *Repo) delete(ctx context.Context, key string) error {
	if err := r.store.Delete(ctx, key); err != nil && !blobstore.IsNotFound(err) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

func (r *Repo) list(ctx context.Context, prefix string) ([]*blob.ListObject, error) {
	var out []*blob.ListObject
	it := r.store.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, err)
		}
		out = append(out, o)
	}
}
