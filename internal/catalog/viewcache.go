package catalog

import (
	"container/list"
	"context"
	"sync"
)

// ViewCache shares what the views of one root decode within a process: the pinned root
// itself and its deltas. A restore of thousands of partitions runs hundreds or thousands of
// streams, and each opens the restore's pinned root and views it for its own partitions; the
// root and every pending delta list every partition, so without the cache each stream decoded
// all of them whole. In the
// 2,000-partition scale test the deltas were 86 % of the restoring workers' CPU, and once they
// were shared, decoding the pinned root was a fifth of what was left (docs/benchmarks.md,
// Kafka catalog).
//
// A root names its deltas for good: a delta's key is its generation's, and the delta is
// written before the root that names it. So a root, told apart by its manifest's key,
// generation and commit time, and a delta's key name one content, and a backup deleted and
// written again under the same name (its commit times differ) does not meet the old entries.
// A pin is told apart by the hash of its stored bytes. Each entry is decoded once however many
// views ask for it at the same time; entries are kept least recently used first out within a
// bound on their stored (JSON) size, and are read-only: View copies what it takes from them.
type ViewCache struct {
	limit int64

	mu      sync.Mutex
	size    int64 // stored bytes of the entries in lru
	entries map[cacheID]*cached
	lru     *list.List // of *cached, most recently used first
}

// cacheID names a delta of a root (key is the delta's) or a pin (key is "pin " and the hash
// of its bytes, the rest zero).
type cacheID struct {
	manifest    string
	generation  int64
	committedAt int64
	key         string
}

type cached struct {
	id    cacheID
	ready chan struct{} // closed once v or err is set
	v     any           // *archive.Delta or *pin
	err   error
	size  int64
	elem  *list.Element // nil until kept (an entry larger than the limit never is)
}

// NewViewCache keeps decoded entries whose stored sizes add up to at most limit bytes.
func NewViewCache(limit int64) *ViewCache {
	return &ViewCache{limit: limit, entries: map[cacheID]*cached{}, lru: list.New()}
}

// ShareDeltas makes c read its deltas through cache; nil reads each one itself.
func (c *Catalog) ShareDeltas(cache *ViewCache) { c.deltas = cache }

// Size is the stored size of the entries the cache holds.
func (dc *ViewCache) Size() int64 {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	return dc.size
}

// get returns the entry id names, from the cache or from load (its stored size with it). A
// failed load is not kept: whoever waited for it loads again itself, under its own context.
func (dc *ViewCache) get(ctx context.Context, id cacheID, load func() (any, int64, error)) (any, error) {
	for {
		dc.mu.Lock()
		e := dc.entries[id]
		if e == nil {
			e = &cached{id: id, ready: make(chan struct{})}
			dc.entries[id] = e
			dc.mu.Unlock()
			e.v, e.size, e.err = load()
			dc.keep(e)
			close(e.ready)
			return e.v, e.err
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
			return e.v, nil
		}
	}
}

// keep files a loaded entry, or forgets it when it failed or is larger than the whole cache,
// and drops the least recently used entries past the limit.
func (dc *ViewCache) keep(e *cached) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if e.err != nil || e.size > dc.limit {
		delete(dc.entries, e.id)
		return
	}
	e.elem = dc.lru.PushFront(e)
	dc.size += e.size
	for dc.size > dc.limit {
		old := dc.lru.Remove(dc.lru.Back()).(*cached)
		delete(dc.entries, old.id)
		dc.size -= old.size
	}
}
