package backups

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"

	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/blobstore"
)

// CorruptError is a manifest that exists but cannot be read as one.
type CorruptError struct{ Err error }

func (e *CorruptError) Error() string { return e.Err.Error() }
func (e *CorruptError) Unwrap() error { return e.Err }

// SchemaManifest reads a Schema Registry backup's manifest; nil when the backup has none yet.
func SchemaManifest(ctx context.Context, store *blobstore.Store, layout blobstore.SchemaLayout) (*archive.SchemaManifest, error) {
	return manifest(ctx, store, layout.Manifest(), archive.UnmarshalSchemaManifest)
}

func manifest[M any](ctx context.Context, store *blobstore.Store, key string, unmarshal func(string, []byte) (*M, error)) (*M, error) {
	data, err := store.ReadAll(ctx, key)
	if blobstore.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	m, err := unmarshal(key, data)
	if err != nil {
		return nil, &CorruptError{err}
	}
	return m, nil
}

// Partition streams every record of a partition's committed segments, in offset order, to fn.
// The record is valid only during the call (Clone it to keep it). key decrypts encrypted
// segments.
func Partition(ctx context.Context, store *blobstore.Store, p archive.Partition, key []byte, fn func(*archive.Record) error) error {
	for _, ref := range p.Segments {
		if err := Segment(ctx, store, ref, key, fn); err != nil {
			return err
		}
	}
	return nil
}

// Segment streams the records of one committed segment to fn, checking each lies in the
// segment's range and the footer matches what the manifest says.
func Segment(ctx context.Context, store *blobstore.Store, ref archive.SegmentRef, key []byte, fn func(*archive.Record) error) error {
	return segment(ctx, store, ref, archive.ReaderOptions{Key: key}, fn)
}

// SegmentOwned is Segment with records whose byte slices fn may keep and change: every block
// is read into memory of its own (archive.ReaderOptions.OwnBlocks). The Record itself and its
// Headers slice are still reused.
func SegmentOwned(ctx context.Context, store *blobstore.Store, ref archive.SegmentRef, key []byte, fn func(*archive.Record) error) error {
	return segment(ctx, store, ref, archive.ReaderOptions{Key: key, OwnBlocks: true}, fn)
}

func segment(ctx context.Context, store *blobstore.Store, ref archive.SegmentRef, opts archive.ReaderOptions, fn func(*archive.Record) error) error {
	r, err := openSegment(ctx, store, ref)
	if err != nil {
		return err
	}
	return readSegment(r, ref, opts, fn)
}

func openSegment(ctx context.Context, store *blobstore.Store, ref archive.SegmentRef) (io.ReadCloser, error) {
	r, err := store.NewReader(ctx, ref.Key, nil)
	if err != nil {
		return nil, fmt.Errorf("open segment %s: %w", ref.Key, err)
	}
	return r, nil
}

// Opening is a segment's object being opened ahead of reading it: opening waits for the
// store's first answer, tens of milliseconds for an object store, which a reader going
// through many small segments would otherwise wait once per segment.
type Opening struct {
	ref  archive.SegmentRef
	done chan struct{}
	r    io.ReadCloser
	err  error
}

// OpenSegment starts opening ref's object; ReadOwned or Close must follow.
func OpenSegment(ctx context.Context, store *blobstore.Store, ref archive.SegmentRef) *Opening {
	o := &Opening{ref: ref, done: make(chan struct{})}
	go func() {
		defer close(o.done)
		o.r, o.err = openSegment(ctx, store, ref)
	}()
	return o
}

// ReadOwned is SegmentOwned on the opened object, which it closes.
func (o *Opening) ReadOwned(key []byte, fn func(*archive.Record) error) error {
	<-o.done
	if o.err != nil {
		return o.err
	}
	return readSegment(o.r, o.ref, archive.ReaderOptions{Key: key, OwnBlocks: true}, fn)
}

// Close closes an opened object that will not be read.
func (o *Opening) Close() {
	<-o.done
	if o.r != nil {
		o.r.Close()
	}
}

// readSegment reads the records of ref from r, which it closes.
func readSegment(r io.ReadCloser, ref archive.SegmentRef, opts archive.ReaderOptions, fn func(*archive.Record) error) error {
	defer r.Close()
	opts.Name = ref.Key
	sr, err := archive.NewSegmentReader(r, opts)
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
			return &archive.CorruptError{Object: ref.Key, Reason: fmt.Sprintf("record offset %d outside the segment's range %d-%d", rec.Offset, ref.FirstOffset, ref.LastOffset)}
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	if f := sr.Footer(); f.Count != ref.Count || f.ContentCRC != ref.ContentCRC {
		return &archive.CorruptError{Object: ref.Key, Reason: fmt.Sprintf("holds %d records (crc %08x) but the manifest says %d (crc %08x)", f.Count, f.ContentCRC, ref.Count, ref.ContentCRC)}
	}
	return nil
}

// ResourceManifest reads a resource backup's manifest; nil when the backup has none yet.
func ResourceManifest(ctx context.Context, store *blobstore.Store, layout blobstore.ResourceLayout) (*archive.ResourceManifest, error) {
	return manifest(ctx, store, layout.Manifest(), archive.UnmarshalResourceManifest)
}

// ResourceIndex reads the index of a snapshot.
func ResourceIndex(ctx context.Context, store *blobstore.Store, ref archive.ResourceSnapshotRef, key []byte) (*archive.ResourceIndex, error) {
	name := ref.Prefix + archive.IndexName
	data, err := store.ReadAll(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return archive.DecodeResourceIndex(name, data, key)
}

// ResourceObjects calls fn with every object of the snapshot that want selects (by its index
// position), in index order, reading each chunk that holds one once and checking every line
// against the hash the index records.
func ResourceObjects(ctx context.Context, store *blobstore.Store, ref archive.ResourceSnapshotRef, ix *archive.ResourceIndex, key []byte,
	want func(i int) bool, fn func(i int, line []byte) error) error {
	byChunk := make([][]int, ix.Chunks)
	for i, o := range ix.Objects {
		if want == nil || want(i) {
			byChunk[o.Chunk] = append(byChunk[o.Chunk], i)
		}
	}
	for c, objs := range byChunk {
		if len(objs) == 0 {
			continue
		}
		name := ref.Prefix + archive.ChunkName(c)
		data, err := store.ReadAll(ctx, name)
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		lines, err := archive.DecodeChunk(name, data, key)
		if err != nil {
			return err
		}
		for _, i := range objs {
			o := ix.Objects[i]
			if o.Line >= len(lines) {
				return &archive.CorruptError{Object: name, Reason: fmt.Sprintf("object %s/%s: line %d missing", o.Namespace, o.Name, o.Line)}
			}
			if archive.LineHash(lines[o.Line]) != o.Hash {
				return &archive.CorruptError{Object: name, Reason: fmt.Sprintf("object %s/%s: content does not match the index's hash", o.Namespace, o.Name)}
			}
			if err := fn(i, lines[o.Line]); err != nil {
				return err
			}
		}
	}
	return nil
}

// ZooKeeperManifest reads a ZooKeeper backup's manifest; nil when the backup has none yet.
func ZooKeeperManifest(ctx context.Context, store *blobstore.Store, layout blobstore.ZooKeeperLayout) (*archive.ZooKeeperManifest, error) {
	return manifest(ctx, store, layout.Manifest(), archive.UnmarshalZooKeeperManifest)
}

// ZNodes calls fn with the nodes of each chunk of a snapshot from chunk `from` on, in stored
// order (parents before children), checking each chunk against the manifest. Chunks are read
// and decoded ahead on up to zNodeDecoders goroutines while fn works on the current one (a
// restore's plan does little else, and its apply waits on the server), so memory holds at most
// zNodeDecoders + 1 chunks at a time.
func ZNodes(ctx context.Context, store *blobstore.Store, ref archive.ZooKeeperSnapshotRef, key []byte, from int,
	fn func(chunk int, nodes []archive.ZNode) error) error {
	type decoded struct {
		nodes []archive.ZNode
		err   error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Futures in chunk order: the queue's length bounds the chunks being decoded or waiting.
	queue := make(chan chan decoded, min(runtime.GOMAXPROCS(0), zNodeDecoders))
	go func() {
		defer close(queue)
		for c := from; c < len(ref.Chunks); c++ {
			f := make(chan decoded, 1)
			select {
			case queue <- f:
			case <-ctx.Done():
				return
			}
			go func() {
				name := ref.Prefix + ref.Chunks[c].Name
				data, err := store.ReadAll(ctx, name)
				var d decoded
				if err != nil {
					d.err = fmt.Errorf("read %s: %w", name, err)
				} else {
					d.nodes, d.err = archive.DecodeZNodeChunk(name, data, ref.Chunks[c], key)
				}
				f <- d
			}()
		}
	}()
	c := from
	for f := range queue {
		d := <-f
		if d.err != nil {
			return d.err
		}
		if err := fn(c, d.nodes); err != nil {
			return err
		}
		c++
	}
	return ctx.Err()
}

// zNodeDecoders bounds the chunks ZNodes decodes at once.
const zNodeDecoders = 4
