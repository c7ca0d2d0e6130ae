package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"

	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/blobstore"
)

// ReadPartition streams every record of a partition's committed segments, in offset order, to
// fn. The record is valid only during the call (Clone it to keep it). key decrypts encrypted
// segments. Restore, verify and export read backups through here.
func ReadPartition(ctx context.Context, store *blobstore.Store, p archive.Partition, key []byte, fn func(*archive.Record) error) error {
	for _, ref := range p.Segments {
		if err := readSegment(ctx, store, ref, key, fn); err != nil {
			return err
		}
	}
	return nil
}

func readSegment(ctx context.Context, store *blobstore.Store, ref archive.SegmentRef, key []byte, fn func(*archive.Record) error) error {
	r, err := store.NewReader(ctx, ref.Key, nil)
	if err != nil {
		return fmt.Errorf("open segment %s: %w", ref.Key, err)
	}
	defer r.Close()
	sr, err := archive.NewSegmentReader(r, archive.ReaderOptions{Name: ref.Key, Key: key})
	if err != nil {
		return err
	}
	defer sr.Close()
	for {
		rec, err := sr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if rec.Offset < ref.FirstOffset || rec.Offset > ref.LastOffset {
			return fmt.Errorf("segment %s: record offset %d outside its range %d-%d", ref.Key, rec.Offset, ref.FirstOffset, ref.LastOffset)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	if f := sr.Footer(); f.Count != ref.Count || f.ContentCRC != ref.ContentCRC {
		return fmt.Errorf("segment %s: holds %d records (crc %08x) but the manifest says %d (crc %08x)", ref.Key, f.Count, f.ContentCRC, ref.Count, ref.ContentCRC)
	}
	return nil
}
