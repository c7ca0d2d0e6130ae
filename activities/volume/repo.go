// Package volume moves a volume's files to and from storage: a backup walks a directory,
// cuts files into content-defined chunks, stores each chunk once and writes the snapshot's
// tree; a restore writes a snapshot's tree into a directory. The format is
// internal/archive/volume.go; docs/format.md describes it.
package volume

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/blobstore"
)

// loc is where a stored chunk lives: a pack (index into Repo.packs) and its blob.
type loc struct {
	pack int32 // -1: claimed by a running backup, not stored yet
	seq  uint32
	blob archive.PackBlob
}

// Repo is an opened volume backup: what chunks it holds and where.
type Repo struct {
	store  *blobstore.Store
	layout blobstore.VolumeLayout
	key    []byte
	enc    *zstd.Encoder
	dec    *zstd.Decoder

	mu     sync.Mutex
	packs  []string
	chunks map[archive.ChunkID]loc
	// orphans are packs no index names: written by a backup that died. The next snapshot's
	// index adopts them, so their chunks are not stored again.
	orphans []archive.IndexPack
}

// Open reads a volume backup's indexes, and the tables of packs no index names. key encrypts
// (nil: plain).
func Open(ctx context.Context, store *blobstore.Store, layout blobstore.VolumeLayout, key []byte) (*Repo, error) {
	r := &Repo{store: store, layout: layout, key: key, chunks: map[archive.ChunkID]loc{}}
	var err error
	// No frame checksum: a restore checks every chunk against the SHA-256 that is its id
	// (and its GCM tag when encrypted), so xxhash would check the same bytes twice.
	if r.enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(false)); err != nil {
		return nil, err
	}
	if r.dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0)); err != nil {
		return nil, err
	}
	indexes, err := r.list(ctx, layout.IndexPrefix())
	if err != nil {
		return nil, err
	}
	indexed := map[string]bool{}
	for _, o := range indexes {
		obj, err := store.ReadAll(ctx, o.Key)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", o.Key, err)
		}
		ix, err := archive.DecodeVolumeIndex(o.Key, obj, key)
		if err != nil {
			return nil, err
		}
		for _, p := range ix.Packs {
			indexed[p.Name] = true
			r.add(p)
		}
	}
	packs, err := r.list(ctx, layout.PacksPrefix())
	if err != nil {
		return nil, err
	}
	for _, o := range packs {
		name := packName(o.Key)
		if indexed[name] || !isPackName(name) {
			continue // indexed, or not a pack (a storage's temporary file left by a crash)
		}
		obj, err := store.ReadAll(ctx, o.Key)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", o.Key, err)
		}
		if sum := sha256.Sum256(obj); hex.EncodeToString(sum[:]) != name {
			continue // not what its name promises: never adopted, so never trusted
		}
		pr, err := archive.OpenPack(o.Key, obj, key, r.dec)
		if err != nil {
			return nil, err
		}
		blobs, err := pr.Table(key)
		if err != nil {
			return nil, err
		}
		p := archive.IndexPack{Name: name, Size: o.Size, Blobs: blobs}
		r.add(p)
		r.orphans = append(r.orphans, p)
	}
	return r, nil
}

// packName is the last segment of a pack's key.
func packName(key string) string { return key[strings.LastIndexByte(key, '/')+1:] }

// isPackName says whether name is a pack's: 64 lower-case hex digits.
func isPackName(name string) bool {
	if len(name) != 64 {
		return false
	}
	for _, c := range name {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Close releases the codecs.
func (r *Repo) Close() {
	_ = r.enc.Close()
	r.dec.Close()
}

// add makes a stored pack's chunks known. Call with mu held or before sharing r.
func (r *Repo) add(p archive.IndexPack) {
	n := int32(len(r.packs))
	r.packs = append(r.packs, p.Name)
	for i, b := range p.Blobs {
		if l, ok := r.chunks[b.ID]; !ok || l.pack < 0 {
			r.chunks[b.ID] = loc{pack: n, seq: uint32(i), blob: b}
		}
	}
}

// claim says whether the caller should store chunk id: true the first time anyone asks about
// an id not stored yet.
func (r *Repo) claim(id archive.ChunkID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.chunks[id]; ok {
		return false
	}
	r.chunks[id] = loc{pack: -1}
	return true
}

// where finds a stored chunk.
func (r *Repo) where(id archive.ChunkID) (string, loc, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.chunks[id]
	if !ok || l.pack < 0 {
		return "", loc{}, false
	}
	return r.packs[l.pack], l, true
}

func (r *Repo) readPack(ctx context.Context, name string) (*archive.PackReader, error) {
	key := r.layout.Pack(name)
	obj, err := r.store.ReadAll(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return archive.OpenPack(key, obj, r.key, r.dec)
}

// ReadManifest reads a volume backup's manifest without opening its repository (inspect);
// nil when there is none.
func ReadManifest(ctx context.Context, store *blobstore.Store, layout blobstore.VolumeLayout) (*archive.VolumeManifest, error) {
	b, err := store.ReadAll(ctx, layout.Manifest())
	if blobstore.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", layout.Manifest(), err)
	}
	return archive.UnmarshalVolumeManifest(layout.Manifest(), b)
}

// Manifest reads the backup's manifest; a backup with no snapshot yet has an empty one.
func (r *Repo) Manifest(ctx context.Context) (*archive.VolumeManifest, error) {
	b, err := r.store.ReadAll(ctx, r.layout.Manifest())
	if blobstore.IsNotFound(err) {
		return archive.NewVolumeManifest(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", r.layout.Manifest(), err)
	}
	return archive.UnmarshalVolumeManifest(r.layout.Manifest(), b)
}

// packCache holds the most recently read packs whole, so a restore reads each pack once
// while it restores the files whose chunks it holds.
type packCache struct {
	r    *Repo
	max  int
	mu   sync.Mutex
	tick int
	m    map[string]*cachedPack
}

type cachedPack struct {
	ready chan struct{}
	pr    *archive.PackReader
	err   error
	used  int
}

func newPackCache(r *Repo, max int) *packCache {
	return &packCache{r: r, max: max, m: map[string]*cachedPack{}}
}

func (c *packCache) get(ctx context.Context, name string) (*archive.PackReader, error) {
	c.mu.Lock()
	c.tick++
	p, ok := c.m[name]
	if ok {
		p.used = c.tick
		c.mu.Unlock()
		<-p.ready
		return p.pr, p.err
	}
	for len(c.m) >= c.max {
		oldest := ""
		for n, q := range c.m {
			if oldest == "" || q.used < c.m[oldest].used {
				oldest = n
			}
		}
		delete(c.m, oldest)
	}
	p = &cachedPack{ready: make(chan struct{}), used: c.tick}
	c.m[name] = p
	c.mu.Unlock()
	p.pr, p.err = c.r.readPack(ctx, name)
	close(p.ready)
	if p.err != nil {
		c.mu.Lock()
		if c.m[name] == p {
			delete(c.m, name)
		}
		c.mu.Unlock()
	}
	return p.pr, p.err
}

// chunk reads one stored chunk into dst.
func (c *packCache) chunk(ctx context.Context, id archive.ChunkID, dst []byte) ([]byte, error) {
	name, l, ok := c.r.where(id)
	if !ok {
		return nil, fmt.Errorf("chunk %s is in no pack of %s (the backup is damaged)", id, c.r.layout.Root())
	}
	pr, err := c.get(ctx, name)
	if err != nil {
		return nil, err
	}
	return pr.Blob(int(l.seq), l.blob, dst)
}

// every calls f each period until the returned stop is called. Progress is reported on a
// clock, not per entry, because a worker may spend minutes on one large file.
func every(period time.Duration, f func()) (stop func()) {
	if period <= 0 {
		period = time.Second
	}
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				f()
			case <-done:
				return
			}
		}
	}()
	return func() { close(done) }
}
