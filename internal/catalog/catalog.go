// Package catalog reads and writes a Kafka backup's catalog: the manifest (a root, in format
// version 2), the deltas that commits append, and the per-partition index trees that folds
// build from them (see internal/archive/catalog.go for the shapes and docs/format.md for the
// rules). Every write follows the format's rule: data first, then the object that makes it
// visible; the root is written last, and objects it stops naming are retired, then deleted only
// after a grace period so that a reader holding an older root can finish.
//
// A version 1 manifest (every segment inline) is read as it is, and becomes a version 2 root on
// its first write; its segments are never rewritten.
package catalog

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/backups"
	"arkive.io/arkive/internal/blobstore"
)

const (
	// NodeCapacity is the most entries (segments and gaps, or children) one index node holds:
	// about 40 KB of JSON, so a fold rewrites at most that much per tree level and partition.
	NodeCapacity = 128
	// FoldAfter is how many pending deltas make the backup workflow fold them into the trees.
	FoldAfter = 12
	// RetiredGrace is how long an object outlives the last root that named it: longer than any
	// reader takes between reading a root and reading what it names.
	RetiredGrace = time.Hour
)

// Catalog is one Kafka backup's catalog as of the root it was opened at.
type Catalog struct {
	store  *blobstore.Store
	layout blobstore.KafkaLayout
	root   *archive.Manifest
	// pins is the oldest pinned generation, once OldestPin has listed the pins.
	pins *int64
	// deltas, when set, shares decoded deltas with the other views of the root (ShareDeltas).
	deltas *ViewCache
	// IO counts what this catalog read and wrote (for the benchmarks and the bounds tests).
	IO IO
}

// IO counts objects and bytes.
type IO struct {
	Reads, Writes         int
	ReadBytes, WriteBytes int64
	// LargestRead is the size of the largest object read, and LargestReadKey its key.
	LargestRead    int64
	LargestReadKey string
}

// Open reads the backup's manifest. A backup without one opens empty (Root is nil).
func Open(ctx context.Context, store *blobstore.Store, layout blobstore.KafkaLayout) (*Catalog, error) {
	c := &Catalog{store: store, layout: layout}
	data, err := c.get(ctx, layout.Manifest())
	if blobstore.IsNotFound(err) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", layout.Manifest(), err)
	}
	m, err := archive.UnmarshalManifest(layout.Manifest(), data)
	if err != nil {
		return nil, &backups.CorruptError{Err: err}
	}
	c.root = m
	return c, nil
}

// Root is the stored manifest (a version 2 root or a version 1 manifest); nil when the backup
// has none yet. Callers must not change it.
func (c *Catalog) Root() *archive.Manifest { return c.root }

// Layout is the backup's key space.
func (c *Catalog) Layout() blobstore.KafkaLayout { return c.layout }

func (c *Catalog) get(ctx context.Context, key string) ([]byte, error) {
	data, err := c.store.ReadAll(ctx, key)
	if err != nil {
		return nil, err
	}
	c.IO.Reads++
	c.IO.ReadBytes += int64(len(data))
	if int64(len(data)) > c.IO.LargestRead {
		c.IO.LargestRead, c.IO.LargestReadKey = int64(len(data)), key
	}
	return data, nil
}

func (c *Catalog) put(ctx context.Context, key string, data []byte) error {
	if err := c.store.Put(ctx, key, data); err != nil {
		return err
	}
	c.IO.Writes++
	c.IO.WriteBytes += int64(len(data))
	return nil
}

// missing turns a read error of an object the root names into the error readers see: a
// missing or unreadable catalog object is a corrupt backup, named by its key.
func missing(key string, err error) error {
	if blobstore.IsNotFound(err) {
		return &backups.CorruptError{Err: fmt.Errorf("catalog object %s is named by the manifest but missing", key)}
	}
	return fmt.Errorf("read %s: %w", key, err)
}

func (c *Catalog) readNode(ctx context.Context, topic string, partition int32, ref archive.NodeRef) (*archive.IndexNode, error) {
	data, err := c.get(ctx, ref.Key)
	if err != nil {
		return nil, missing(ref.Key, err)
	}
	n, err := archive.UnmarshalIndexNode(ref.Key, data)
	if err != nil {
		return nil, &backups.CorruptError{Err: err}
	}
	if n.Topic != topic || n.Partition != partition || n.Level != ref.Level {
		return nil, &backups.CorruptError{Err: fmt.Errorf("index node %s: holds %s/%d level %d where %s/%d level %d was expected", ref.Key, n.Topic, n.Partition, n.Level, topic, partition, ref.Level)}
	}
	if got := n.Summary(ref.Key); got != ref {
		return nil, &backups.CorruptError{Err: fmt.Errorf("index node %s: its content (%d segments, offsets %d–%d) does not match its parent's summary (%d segments, offsets %d–%d)",
			ref.Key, got.Segments, got.FirstOffset, got.LastOffset, ref.Segments, ref.FirstOffset, ref.LastOffset)}
	}
	return n, nil
}

// readDelta reads a delta the root names, through the shared cache when there is one: the
// delta must then be left as it is.
func (c *Catalog) readDelta(ctx context.Context, ref archive.DeltaRef) (*archive.Delta, error) {
	if c.deltas == nil {
		d, _, err := c.loadDelta(ctx, ref)
		return d, err
	}
	id := cacheID{manifest: c.layout.Manifest(), generation: c.root.Generation, committedAt: c.root.CommittedAt.UnixNano(), key: ref.Key}
	d, err := c.deltas.get(ctx, id, func() (any, int64, error) { return c.loadDelta(ctx, ref) })
	if err != nil {
		return nil, err
	}
	return d.(*archive.Delta), nil
}

func (c *Catalog) loadDelta(ctx context.Context, ref archive.DeltaRef) (*archive.Delta, int64, error) {
	data, err := c.get(ctx, ref.Key)
	if err != nil {
		return nil, 0, missing(ref.Key, err)
	}
	d, err := archive.UnmarshalDelta(ref.Key, data)
	if err != nil {
		return nil, 0, &backups.CorruptError{Err: err}
	}
	if d.Generation != ref.Generation {
		return nil, 0, &backups.CorruptError{Err: fmt.Errorf("delta %s: holds generation %d where the manifest names %d", ref.Key, d.Generation, ref.Generation)}
	}
	return d, int64(len(data)), nil
}

// Filter selects what a view holds. The zero Filter selects everything.
type Filter struct {
	// Partition selects partitions; nil selects all. Unselected partitions stay in the view
	// with their offsets but no segments or gaps.
	Partition func(topic string, partition int32) bool
	// Overlaps selects segments, and subtrees by their bounds; nil selects all. It must be an
	// overlap test (true for a span whenever it is true for a narrower span inside it), so that
	// skipping a subtree never skips a segment it would select.
	Overlaps func(archive.SegmentRef) bool
	// NoGroups leaves the consumer-group snapshots out; LatestGroups loads only the newest one
	// taken at or before GroupsAt (zero: the newest of all). Otherwise all are loaded.
	NoGroups     bool
	LatestGroups bool
	GroupsAt     time.Time
	// Runs selects the scheduled runs whose high watermarks (Upto) the view loads; nil loads
	// every run's.
	Runs func(id string) bool
}

func (f Filter) partition(topic string, p int32) bool {
	return f.Partition == nil || f.Partition(topic, p)
}

func (f Filter) overlaps(s archive.SegmentRef) bool { return f.Overlaps == nil || f.Overlaps(s) }

// None is a filter that selects no segments: a view of the root's offsets and metadata only.
var None = Filter{Partition: func(string, int32) bool { return false }}

// View reads the segments and gaps the filter selects into a manifest of the version 1 shape:
// every selected partition lists its selected segments inline, in offset order. Gaps come with
// the index leaves and deltas read. Only the index nodes whose bounds the filter selects are
// read, so a window of the last hour reads about an hour's worth whatever the backup's age.
func (c *Catalog) View(ctx context.Context, f Filter) (*archive.Manifest, error) {
	if c.root == nil {
		return nil, nil
	}
	v := copyManifest(c.root)
	byPartition := map[tp]*archive.Partition{}
	for ti := range v.Topics {
		t := &v.Topics[ti]
		for pi := range t.Data {
			p := &t.Data[pi]
			if !c.root.IsRoot() {
				// Version 1: everything is inline already.
				if !f.partition(t.Name, p.Partition) {
					p.Segments, p.Gaps = nil, nil
				} else if f.Overlaps != nil {
					p.Segments = slices.DeleteFunc(p.Segments, func(s archive.SegmentRef) bool { return !f.Overlaps(s) })
				}
				continue
			}
			if !f.partition(t.Name, p.Partition) {
				continue
			}
			byPartition[tp{t.Name, p.Partition}] = p
			if p.Index != nil && f.overlaps(p.Index.Span()) {
				if err := c.collect(ctx, t.Name, p, *p.Index, f); err != nil {
					return nil, err
				}
			}
		}
	}
	if c.root.IsRoot() {
		if err := c.loadHistory(ctx, v, f); err != nil {
			return nil, err
		}
	}
	for _, ref := range v.Deltas {
		if len(byPartition) == 0 {
			break
		}
		d, err := c.readDelta(ctx, ref)
		if err != nil {
			return nil, err
		}
		for _, dp := range d.Partitions {
			p := byPartition[tp{dp.Topic, dp.Partition}]
			if p == nil {
				continue
			}
			for _, s := range dp.Segments {
				if f.overlaps(s) {
					p.Segments = append(p.Segments, s)
				}
			}
			p.Gaps = append(p.Gaps, dp.Gaps...)
		}
	}
	if err := v.Validate(); err != nil {
		return nil, &backups.CorruptError{Err: fmt.Errorf("catalog of %s: %w", c.layout.Manifest(), err)}
	}
	return v, nil
}

// loadHistory fills in the group snapshots and runs' high watermarks the filter selects.
func (c *Catalog) loadHistory(ctx context.Context, v *archive.Manifest, f Filter) error {
	var refs []archive.GroupSnapshotRef
	switch {
	case f.NoGroups:
	case f.LatestGroups:
		for _, r := range v.GroupSnapshots {
			if f.GroupsAt.IsZero() || !r.Time.After(f.GroupsAt) {
				refs = []archive.GroupSnapshotRef{r}
			}
		}
	default:
		refs = v.GroupSnapshots
	}
	for _, r := range refs {
		var obj groupsObject
		if err := c.readJSON(ctx, r.Key, &obj); err != nil {
			return err
		}
		v.GroupOffsets = append(v.GroupOffsets, obj.Snapshot)
	}
	for i := range v.Runs {
		r := &v.Runs[i]
		if r.UptoKey == "" || (f.Runs != nil && !f.Runs(r.ID)) {
			continue
		}
		var obj uptoObject
		if err := c.readJSON(ctx, r.UptoKey, &obj); err != nil {
			return err
		}
		r.Upto = obj.Upto
	}
	return nil
}

// RunUpto reads the high watermarks a run recorded as its end ("topic/partition" keys); a run
// the root does not name is an error.
func (c *Catalog) RunUpto(ctx context.Context, id string) (map[string]int64, error) {
	for _, r := range c.root.Runs {
		if r.ID != id {
			continue
		}
		if r.UptoKey == "" {
			return r.Upto, nil
		}
		var obj uptoObject
		if err := c.readJSON(ctx, r.UptoKey, &obj); err != nil {
			return nil, err
		}
		return obj.Upto, nil
	}
	return nil, fmt.Errorf("the catalog names no run %s", id)
}

// groupsObject is one stored consumer-group snapshot.
type groupsObject struct {
	Version  int                          `json:"version"`
	Snapshot archive.GroupOffsetsSnapshot `json:"snapshot"`
}

// uptoObject is one scheduled run's high watermarks.
type uptoObject struct {
	Version int              `json:"version"`
	Upto    map[string]int64 `json:"upto"`
}

// readJSON reads a small catalog object the root names; what fails names the object.
func (c *Catalog) readJSON(ctx context.Context, key string, v any) error {
	data, err := c.get(ctx, key)
	if err != nil {
		return missing(key, err)
	}
	var head struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return &backups.CorruptError{Err: fmt.Errorf("catalog object %s: %w", key, err)}
	}
	if head.Version != archive.ManifestVersion {
		return &backups.CorruptError{Err: fmt.Errorf("catalog object %s: unsupported version %d (this build reads %d)", key, head.Version, archive.ManifestVersion)}
	}
	if err := json.Unmarshal(data, v); err != nil {
		return &backups.CorruptError{Err: fmt.Errorf("catalog object %s: %w", key, err)}
	}
	return nil
}

type tp struct {
	topic     string
	partition int32
}

// collect appends the selected segments and the gaps under ref to p.
func (c *Catalog) collect(ctx context.Context, topic string, p *archive.Partition, ref archive.NodeRef, f Filter) error {
	n, err := c.readNode(ctx, topic, p.Partition, ref)
	if err != nil {
		return err
	}
	for _, child := range n.Children {
		if f.overlaps(child.Span()) {
			if err := c.collect(ctx, topic, p, child, f); err != nil {
				return err
			}
		}
	}
	for _, s := range n.Segments {
		if f.overlaps(s) {
			p.Segments = append(p.Segments, s)
		}
	}
	p.Gaps = append(p.Gaps, n.Gaps...)
	return nil
}

// Nodes calls fn for every index node and delta the root names, in no particular order, for
// verification. It stops at the first error.
func (c *Catalog) Nodes(ctx context.Context, fn func(key string) error) error {
	if c.root == nil || !c.root.IsRoot() {
		return nil
	}
	var walk func(topic string, partition int32, ref archive.NodeRef) error
	walk = func(topic string, partition int32, ref archive.NodeRef) error {
		n, err := c.readNode(ctx, topic, partition, ref)
		if err != nil {
			return err
		}
		if err := fn(ref.Key); err != nil {
			return err
		}
		for _, child := range n.Children {
			if err := walk(topic, partition, child); err != nil {
				return err
			}
		}
		return nil
	}
	for _, t := range c.root.Topics {
		for _, p := range t.Data {
			if p.Index != nil {
				if err := walk(t.Name, p.Partition, *p.Index); err != nil {
					return err
				}
			}
		}
	}
	for _, d := range c.root.Deltas {
		if _, err := c.readDelta(ctx, d); err != nil {
			return err
		}
		if err := fn(d.Key); err != nil {
			return err
		}
	}
	for _, g := range c.root.GroupSnapshots {
		if err := c.readJSON(ctx, g.Key, &groupsObject{}); err != nil {
			return err
		}
		if err := fn(g.Key); err != nil {
			return err
		}
	}
	for _, r := range c.root.Runs {
		if r.UptoKey == "" {
			continue
		}
		if err := c.readJSON(ctx, r.UptoKey, &uptoObject{}); err != nil {
			return err
		}
		if err := fn(r.UptoKey); err != nil {
			return err
		}
	}
	return nil
}

// cloneRoot copies a manifest deeply enough that changing its topics, partitions, segment
// lists, deltas and retired lists leaves the original alone.
func cloneRoot(m *archive.Manifest) *archive.Manifest {
	data, err := json.Marshal(m)
	if err != nil {
		panic(err) // a manifest always marshals
	}
	var out archive.Manifest
	if err := json.Unmarshal(data, &out); err != nil {
		panic(err)
	}
	return &out
}

// copyManifest copies m with nothing shared: View changes its copy's segment and gap lists,
// group offsets and runs, and callers may change the rest, while the root may be shared by
// every stream of a restore (ViewCache). It does by hand what cloneRoot's JSON round trip
// does, at about a hundredth of the cost (BenchmarkCopyManifest): with 2,000 partitions that
// round trip was a fifth of a restoring worker's CPU (docs/benchmarks.md, Kafka catalog). TestCopyManifestSharesNothing
// fails when a field is added here without being copied.
func copyManifest(m *archive.Manifest) *archive.Manifest {
	v := *m
	v.Topics = slices.Clone(m.Topics)
	for i := range v.Topics {
		t := &v.Topics[i]
		t.Configs = maps.Clone(t.Configs)
		t.Data = slices.Clone(t.Data)
		for j := range t.Data {
			p := &t.Data[j]
			p.Segments, p.Gaps = slices.Clone(p.Segments), slices.Clone(p.Gaps)
			if p.Index != nil {
				ix := *p.Index
				p.Index = &ix
			}
			if p.LeaderEpoch != nil {
				e := *p.LeaderEpoch
				p.LeaderEpoch = &e
			}
		}
	}
	v.GroupOffsets = slices.Clone(m.GroupOffsets)
	for i := range v.GroupOffsets {
		v.GroupOffsets[i].Groups = slices.Clone(v.GroupOffsets[i].Groups)
	}
	v.Runs = slices.Clone(m.Runs)
	for i := range v.Runs {
		v.Runs[i].Upto = maps.Clone(v.Runs[i].Upto)
	}
	v.Deltas = slices.Clone(m.Deltas)
	v.GroupSnapshots = slices.Clone(m.GroupSnapshots)
	v.Retired = slices.Clone(m.Retired)
	return &v
}

// sortEntries puts segments and gaps in offset order.
func sortEntries(segs []archive.SegmentRef, gaps []archive.Gap) {
	slices.SortFunc(segs, func(a, b archive.SegmentRef) int { return cmp.Compare(a.FirstOffset, b.FirstOffset) })
	slices.SortFunc(gaps, func(a, b archive.Gap) int { return cmp.Compare(a.From, b.From) })
}

// Read opens the backup's catalog and reads all of it: nil when the backup has none yet.
func Read(ctx context.Context, store *blobstore.Store, layout blobstore.KafkaLayout) (*archive.Manifest, error) {
	c, err := Open(ctx, store, layout)
	if err != nil {
		return nil, err
	}
	return c.View(ctx, Filter{})
}
