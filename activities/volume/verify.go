package volume

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"

	"arkive.io/arkive/internal/archive"
)

// VerifyResult counts what a verification checked.
type VerifyResult struct {
	Entries int   `json:"entries"`
	Files   int   `json:"files"`
	Chunks  int   `json:"chunks"`
	Packs   int   `json:"packs"`
	Bytes   int64 `json:"bytes"`
}

// Verify checks a snapshot: its tree documents against the manifest, every file's chunks
// against the index and its content hash, and with deep every pack it needs read whole and
// hashed against its name, and every chunk it needs authenticated and re-hashed against its id.
func (r *Repo) Verify(ctx context.Context, ref *archive.VolumeSnapshotRef, deep bool) (*VerifyResult, error) {
	res := &VerifyResult{}
	need := map[archive.ChunkID]bool{}
	err := r.Walk(ctx, ref, func(e *archive.VEntry) error {
		res.Entries++
		if e.Type != archive.VFile {
			return nil
		}
		res.Files++
		var n int64
		for _, ch := range e.Chunks {
			if _, _, ok := r.where(ch.ID); !ok {
				return fmt.Errorf("%s: chunk %s is in no pack", e.Path, ch.ID)
			}
			n += int64(ch.Len)
			need[ch.ID] = true
		}
		data := e.Size
		if e.Extents != nil {
			data = 0
			for _, x := range e.Extents {
				data += x[1]
			}
		}
		if n != data {
			return fmt.Errorf("%s: chunks hold %d bytes, the file has %d", e.Path, n, data)
		}
		if e.Chunks != nil && (e.Hash == nil || *e.Hash != archive.ContentHash(e.Chunks)) {
			return fmt.Errorf("%s: content hash does not match its chunks", e.Path)
		}
		res.Bytes += n
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Chunks = len(need)
	if !deep {
		return res, nil
	}
	byPack := map[string][]loc{}
	for id := range need {
		name, l, _ := r.where(id)
		byPack[name] = append(byPack[name], l)
	}
	names := make([]string, 0, len(byPack))
	for n := range byPack {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf []byte
	for _, n := range names {
		key := r.layout.Pack(n)
		obj, err := r.store.ReadAll(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", key, err)
		}
		// The name is the pack's SHA-256: any damaged byte, in a blob or in the pack's own
		// table, shows here.
		if sum := sha256.Sum256(obj); hex.EncodeToString(sum[:]) != n {
			return nil, &archive.CorruptError{Object: key, Reason: "SHA-256 of the pack differs from its name"}
		}
		pr, err := archive.OpenPack(key, obj, r.key, r.dec)
		if err != nil {
			return nil, err
		}
		for _, l := range byPack[n] {
			if buf, err = pr.Blob(int(l.seq), l.blob, buf); err != nil {
				return nil, err
			}
		}
		res.Packs++
	}
	return res, nil
}

// Walk calls fn with every entry of a snapshot's tree, in order.
func (r *Repo) Walk(ctx context.Context, ref *archive.VolumeSnapshotRef, fn func(*archive.VEntry) error) error {
	for _, c := range ref.Tree {
		name := ref.Prefix + c.Name
		obj, err := r.store.ReadAll(ctx, name)
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		entries, err := archive.DecodeVolumeTree(name, obj, c, r.key)
		if err != nil {
			return err
		}
		for i := range entries {
			if err := fn(&entries[i]); err != nil {
				return err
			}
		}
	}
	return nil
}
