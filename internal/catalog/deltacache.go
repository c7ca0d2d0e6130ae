package catalog

import (
	"container/list"
	"context"
	"sync"

	"arkive.io/arkive/internal/archive"
)

// DeltaCache shares decoded deltas between the views of one root within a process. A restore
// runs a stream per partition, and each stream views the restore's root for its own
// partitions; every pending delta lists every partition, so without the cache each stream
// decoded all of them whole. In the 2,000-partition scale test that was 86 % of the restoring
// workers' CPU (docs/benchmarks.md, Kafka catalog).
//
// A root names its deltas for good: a delta's key is its generation's, and the delta is
// written before the root that names it. So a root, told apart by its manifest's key,
// generation and commit time, and a delta's key name one content, and a backup deleted and
// written again under the same name (its commit times differ) does not meet the old entries.
// Each entry is decoded once however many views ask for it at the same time; entries are
// kept least recently used first out within a bound on their stored (JSON) size, and are
// read-only: View copies what it takes from them.
type DeltaCache struct {
	limit int64

	mu      sync.Mutex
	size    int64 // stored bytes of the entries in lru
	entries map[deltaID]*cachedDelta
	lru     *list.List // of *cachedDelta, most recently used first
}

type deltaID struct {
	manifest    string
	generation  int64
	committedAt int64
	key         string
}

type cachedDelta struct {
	id    deltaID
	ready chan struct{} // closed once d or err is set
	d     *archive.Delta
	err   error
	size  int64
	elem  *list.Element // nil until kept (a delta larger than the limit never is)
}

// NewDeltaCache keeps decoded deltas whose stored sizes add up to at most limit bytes.
func NewDeltaCache(limit int64) *DeltaCache {
	return &DeltaCache{limit: limit, entries: map[deltaID]*cachedDelta{}, lru: list.New()}
}

// ShareDeltas makes c read its deltas through cache; nil reads each one itself.
func (c *Catalog) ShareDeltas(cache *DeltaCache) { c.deltas = cache }

// Size is the stored size of the deltas the cache holds.
func (dc *DeltaCache) Size() int64 {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	return dc.size
}

// get returns the delta id names, from the cache or from load (its stored size with it). A
// failed load is not kept: whoever waited for it loads again itself, under its own context.
func (dc *DeltaCache) get(ctx context.Context, id deltaID, load func() (*archive.Delta, int64, error)) (*archive.Delta, error) {
	for {
		dc.mu.Lock()
		e := dc.entries[id]
		if e == nil {
			e = &cachedDelta{id: id, ready: make(chan struct{})}
			dc.entries[id] = e
			dc.mu.Unlock()
			e.d, e.size, e.err = load()
			dc.keep(e)
			close(e.ready)
			return e.d, e.err
		}
		if e.elem != nil {
			dc.lru.MoveToFront(e.elem)
		}
		dc.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err == nil {
			return e.d, nil
		}
	}
}

// keep files a loaded entry, or forgets it when it failed or is larger than the whole cache,
// and drops the least recently used entries past the limit.
func (dc *DeltaCache) keep(e *cachedDelta) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if e.err != nil || e.size > dc.limit {
		delete(dc.entries, e.id)
		return
	}
	e.elem = dc.lru.PushFront(e)
	dc.size += e.size
	for dc.size > dc.limit {
		old := dc.lru.Remove(dc.lru.Back()).(*cachedDelta)
		delete(dc.entries, old.id)
		dc.size -= old.size
	}
}
