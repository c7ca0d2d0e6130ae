package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/blobstore"
)

// Commit applies merge to the root and stores what it added: merge gets the root's partitions
// without segments and appends the new segments and gaps to them (and may change offsets, runs
// and group snapshots). What it appended is written as one delta, then the root naming it.
// merge must advance Generation by one. A version 1 manifest is migrated in the same write.
// Commit returns the root written.
func (c *Catalog) Commit(ctx context.Context, backup string, now time.Time, merge func(*archive.Manifest) error) (*archive.Manifest, error) {
	return c.edit(ctx, backup, now, func(w *writer, root *archive.Manifest) error {
		before := map[tp]int64{}
		for _, t := range root.Topics {
			for _, p := range t.Data {
				before[tp{t.Name, p.Partition}] = p.NextOffset
			}
		}
		gen := root.Generation
		if err := merge(root); err != nil {
			return err
		}
		if root.Generation != gen+1 {
			return fmt.Errorf("commit moved the generation from %d to %d", gen, root.Generation)
		}
		root.Generation = gen // edit advances it
		d := archive.Delta{Version: archive.ManifestVersion, Generation: w.gen}
		for ti := range root.Topics {
			t := &root.Topics[ti]
			for pi := range t.Data {
				p := &t.Data[pi]
				prev, known := before[tp{t.Name, p.Partition}]
				if len(p.Segments) == 0 && len(p.Gaps) == 0 && known && prev == p.NextOffset {
					continue
				}
				d.Partitions = append(d.Partitions, archive.DeltaPartition{Topic: t.Name, Partition: p.Partition, NextOffset: p.NextOffset, Segments: p.Segments, Gaps: p.Gaps})
				p.Segments, p.Gaps = nil, nil
			}
		}
		if len(d.Partitions) == 0 {
			return nil
		}
		data, err := archive.MarshalDelta(&d)
		if err != nil {
			return err
		}
		key := c.layout.Delta(w.gen)
		if err := c.put(ctx, key, data); err != nil {
			return err
		}
		root.Deltas = append(root.Deltas, archive.DeltaRef{Key: key, Generation: w.gen})
		return nil
	})
}

// Fold merges the pending deltas into the partitions' index trees, and deletes retired objects
// whose grace has passed. It writes nothing when there is nothing to do.
func (c *Catalog) Fold(ctx context.Context, now time.Time) error {
	return c.FoldCompacting(ctx, now, nil)
}

// Compactor merges small segments while a fold places them (nil: no compaction).
type Compactor struct {
	// MinBytes: a segment stored in fewer bytes is small. TargetBytes bounds a merged segment.
	MinBytes, TargetBytes int64
	// Merge writes one segment holding the records of sources (adjacent, in offset order) and
	// returns its reference: first and last offset those of the first and last source. It is
	// written before the root that names it; the sources are retired.
	Merge func(ctx context.Context, topic string, partition int32, sources []archive.SegmentRef) (archive.SegmentRef, error)
}

// FoldCompacting is Fold that also merges runs of small adjacent segments into segments of up
// to TargetBytes as it places them. It only touches what a fold rewrites anyway (the deltas and
// each tree's rightmost leaf), so its work is bounded like the fold's: a quiet partition's small
// segments merge before their leaf fills up.
func (c *Catalog) FoldCompacting(ctx context.Context, now time.Time, comp *Compactor) error {
	if c.root == nil || (c.root.IsRoot() && len(c.root.Deltas) == 0 && !c.expired(now)) {
		return nil
	}
	_, err := c.edit(ctx, c.root.Backup, now, func(w *writer, root *archive.Manifest) error {
		w.compactor = comp
		defer func() { w.compactor = nil }()
		return w.fold(ctx, root)
	})
	return err
}

// Trim drops each partition's oldest segments while drop says so (after folding the pending
// deltas), so what remains is one contiguous range: StartOffset moves to the first kept segment
// (to NextOffset when none is kept) and gaps below it go. keepNewest keeps each partition's
// newest segment whatever drop says. mutate, when set, edits the root's other fields (runs).
// It returns the root written; the caller deletes the dropped segments after.
func (c *Catalog) Trim(ctx context.Context, now time.Time, drop func(archive.SegmentRef) bool, keepNewest bool, mutate func(*archive.Manifest)) (*archive.Manifest, error) {
	if c.root == nil {
		return nil, nil
	}
	return c.edit(ctx, c.root.Backup, now, func(w *writer, root *archive.Manifest) error {
		if err := w.fold(ctx, root); err != nil {
			return err
		}
		for ti := range root.Topics {
			t := &root.Topics[ti]
			for pi := range t.Data {
				if err := w.trim(ctx, t.Name, &t.Data[pi], drop, keepNewest); err != nil {
					return err
				}
			}
		}
		if mutate != nil {
			mutate(root)
		}
		return nil
	})
}

// PendingDeltas is how many commits wait to be folded.
func (c *Catalog) PendingDeltas() int {
	if c.root == nil {
		return 0
	}
	return len(c.root.Deltas)
}

func (c *Catalog) expired(now time.Time) bool {
	return slices.ContainsFunc(c.root.Retired, func(r archive.Retired) bool { return pastGrace(r, now) })
}

// pastGrace reports whether a retired list may be deleted.
func pastGrace(r archive.Retired, now time.Time) bool { return !now.Before(r.Since.Add(RetiredGrace)) }

// edit is every write's frame: it migrates a version 1 manifest, lets fn change a copy of the
// root (writing new catalog objects through w), deletes retired objects past their grace,
// records what fn retired, and writes the root of the next generation. Nothing is deleted
// before every read has succeeded, and nothing the new root names is deleted at all.
func (c *Catalog) edit(ctx context.Context, backup string, now time.Time, fn func(*writer, *archive.Manifest) error) (*archive.Manifest, error) {
	var root *archive.Manifest
	if c.root == nil {
		root = &archive.Manifest{Version: archive.ManifestVersion, Backup: backup}
	} else {
		root = cloneRoot(c.root)
	}
	w := &writer{c: c, gen: root.Generation + 1}
	if !root.IsRoot() {
		if err := w.migrate(ctx, root); err != nil {
			return nil, err
		}
	}
	if err := fn(w, root); err != nil {
		return nil, err
	}
	if err := w.storeHistory(ctx, c.root, root); err != nil {
		return nil, err
	}
	kept := root.Retired[:0:0]
	var expired []archive.Retired
	for _, r := range root.Retired {
		if pastGrace(r, now) {
			expired = append(expired, r)
		} else {
			kept = append(kept, r)
		}
	}
	if len(expired) > 0 {
		// A pinned generation older than a list's retirement still names its objects.
		oldest, err := c.OldestPin(ctx, now)
		if err != nil {
			return nil, err
		}
		expired = slices.DeleteFunc(expired, func(r archive.Retired) bool {
			if oldest != 0 && oldest < retiredAt(r) {
				kept = append(kept, r)
				return true
			}
			return false
		})
	}
	if len(w.retired) > 0 {
		list := retiredList{Version: archive.ManifestVersion, Keys: w.retired}
		data, err := json.Marshal(list)
		if err != nil {
			return nil, err
		}
		key := c.layout.CatalogPrefix() + fmt.Sprintf("retired/%020d.json", w.gen)
		if err := c.put(ctx, key, data); err != nil {
			return nil, err
		}
		kept = append(kept, archive.Retired{Key: key, Since: now})
	}
	// Delete before the root stops listing them: a crash in between leaves them listed, and
	// the next write deletes them again (a missing object counts as deleted).
	for _, r := range expired {
		if err := c.deleteRetired(ctx, r); err != nil {
			return nil, err
		}
	}
	root.Retired = kept
	root.Generation = w.gen
	root.CommittedAt = now
	data, err := archive.MarshalManifest(root)
	if err != nil {
		return nil, err
	}
	if err := c.put(ctx, c.layout.Manifest(), data); err != nil {
		return nil, err
	}
	c.root = root
	return root, nil
}

// MaxGroupSnapshots bounds the consumer-group snapshots a backup keeps: enough for a
// point-in-time restore to find the offsets near its time over days of discovery intervals.
const MaxGroupSnapshots = 100

// storeHistory moves new consumer-group snapshots and runs' high watermarks out of the root into
// objects of their own (a snapshot only when it differs from the newest), keeps the newest
// MaxGroupSnapshots, and retires what the previous root named and the new one does not.
func (w *writer) storeHistory(ctx context.Context, old, root *archive.Manifest) error {
	for i, g := range root.GroupOffsets {
		sum, err := json.Marshal(g.Groups)
		if err != nil {
			return err
		}
		hash := fmt.Sprintf("%x", sha256.Sum256(sum))
		if n := len(root.GroupSnapshots); n > 0 && root.GroupSnapshots[n-1].Hash == hash {
			continue
		}
		key := w.c.layout.CatalogPrefix() + fmt.Sprintf("groups/%020d-%d.json", w.gen, i)
		if err := w.putJSON(ctx, key, groupsObject{Version: archive.ManifestVersion, Snapshot: g}); err != nil {
			return err
		}
		root.GroupSnapshots = append(root.GroupSnapshots, archive.GroupSnapshotRef{Key: key, Time: g.Time, Offsets: len(g.Groups), Hash: hash})
	}
	root.GroupOffsets = nil
	if n := len(root.GroupSnapshots); n > MaxGroupSnapshots {
		root.GroupSnapshots = slices.Delete(root.GroupSnapshots, 0, n-MaxGroupSnapshots)
	}
	for i := range root.Runs {
		r := &root.Runs[i]
		if len(r.Upto) == 0 {
			continue
		}
		key := w.c.layout.CatalogPrefix() + fmt.Sprintf("runs/%020d-%d.json", w.gen, i)
		if err := w.putJSON(ctx, key, uptoObject{Version: archive.ManifestVersion, Upto: r.Upto}); err != nil {
			return err
		}
		r.UptoKey, r.Upto = key, nil
	}
	if old == nil || !old.IsRoot() {
		return nil
	}
	named := map[string]bool{}
	for _, g := range root.GroupSnapshots {
		named[g.Key] = true
	}
	for _, r := range root.Runs {
		named[r.UptoKey] = true
	}
	for _, g := range old.GroupSnapshots {
		if !named[g.Key] {
			w.retire(g.Key)
		}
	}
	for _, r := range old.Runs {
		if r.UptoKey != "" && !named[r.UptoKey] {
			w.retire(r.UptoKey)
		}
	}
	return nil
}

func (w *writer) putJSON(ctx context.Context, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return w.c.put(ctx, key, data)
}

// retiredList is the object listing the keys one write retired.
type retiredList struct {
	Version int      `json:"version"`
	Keys    []string `json:"keys"`
}

func (c *Catalog) deleteRetired(ctx context.Context, r archive.Retired) error {
	data, err := c.get(ctx, r.Key)
	if blobstore.IsNotFound(err) {
		return nil // deleted by an earlier attempt that did not get to write its root
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", r.Key, err)
	}
	var list retiredList
	if err := json.Unmarshal(data, &list); err != nil {
		return fmt.Errorf("retired list %s: %w (nothing deleted)", r.Key, err)
	}
	for _, k := range list.Keys {
		if err := c.store.Delete(ctx, k); err != nil && !blobstore.IsNotFound(err) {
			return fmt.Errorf("delete %s: %w", k, err)
		}
	}
	if err := c.store.Delete(ctx, r.Key); err != nil && !blobstore.IsNotFound(err) {
		return fmt.Errorf("delete %s: %w", r.Key, err)
	}
	return nil
}

// writer writes the index nodes of one root generation and remembers what they replace.
type writer struct {
	c         *Catalog
	gen       int64
	seq       int
	retired   []string
	compactor *Compactor // set while a fold compacts
}

func (w *writer) retire(key string) { w.retired = append(w.retired, key) }

func (w *writer) writeNode(ctx context.Context, topic string, partition int32, n *archive.IndexNode) (archive.NodeRef, error) {
	n.Version, n.Topic, n.Partition = archive.ManifestVersion, topic, partition
	sum := n.Summary("")
	key, err := w.c.layout.IndexNode(topic, partition, n.Level, sum.FirstOffset, w.gen, w.seq)
	if err != nil {
		return archive.NodeRef{}, err
	}
	w.seq++
	data, err := archive.MarshalIndexNode(n)
	if err != nil {
		return archive.NodeRef{}, fmt.Errorf("index node %s: %w", key, err)
	}
	if err := w.c.put(ctx, key, data); err != nil {
		return archive.NodeRef{}, err
	}
	sum.Key = key
	return sum, nil
}

// migrate moves a version 1 manifest's inline segments into index trees.
func (w *writer) migrate(ctx context.Context, root *archive.Manifest) error {
	for ti := range root.Topics {
		t := &root.Topics[ti]
		for pi := range t.Data {
			p := &t.Data[pi]
			if len(p.Segments) == 0 && len(p.Gaps) == 0 {
				continue
			}
			ref, err := w.append(ctx, t.Name, p.Partition, nil, p.Segments, p.Gaps)
			if err != nil {
				return err
			}
			p.Index, p.Segments, p.Gaps = ref, nil, nil
		}
	}
	root.Version = archive.ManifestVersion
	return nil
}

// fold merges the root's pending deltas into the trees.
func (w *writer) fold(ctx context.Context, root *archive.Manifest) error {
	type added struct {
		segs []archive.SegmentRef
		gaps []archive.Gap
	}
	byPartition := map[tp]*added{}
	var order []tp
	for _, ref := range root.Deltas {
		d, err := w.c.readDelta(ctx, ref)
		if err != nil {
			return err
		}
		for _, dp := range d.Partitions {
			k := tp{dp.Topic, dp.Partition}
			a := byPartition[k]
			if a == nil {
				a = &added{}
				byPartition[k] = a
				order = append(order, k)
			}
			a.segs = append(a.segs, dp.Segments...)
			a.gaps = append(a.gaps, dp.Gaps...)
		}
		w.retire(ref.Key)
	}
	root.Deltas = nil
	for _, k := range order {
		a := byPartition[k]
		if len(a.segs) == 0 && len(a.gaps) == 0 {
			continue
		}
		p := partition(root, k)
		if p == nil {
			return fmt.Errorf("a delta names %s/%d, which the manifest does not", k.topic, k.partition)
		}
		ref, err := w.append(ctx, k.topic, k.partition, p.Index, a.segs, a.gaps)
		if err != nil {
			return err
		}
		p.Index = ref
	}
	return nil
}

func partition(root *archive.Manifest, k tp) *archive.Partition {
	for ti := range root.Topics {
		if root.Topics[ti].Name != k.topic {
			continue
		}
		for pi := range root.Topics[ti].Data {
			if root.Topics[ti].Data[pi].Partition == k.partition {
				return &root.Topics[ti].Data[pi]
			}
		}
	}
	return nil
}

// append adds segments and gaps (all after what the tree holds) to the tree under ref and
// returns the new tree's root. Only the rightmost path is rewritten: nodes left of it are full
// and stay as they are.
func (w *writer) append(ctx context.Context, topic string, partition int32, ref *archive.NodeRef, segs []archive.SegmentRef, gaps []archive.Gap) (*archive.NodeRef, error) {
	segs, gaps = slices.Clone(segs), slices.Clone(gaps)
	sortEntries(segs, gaps)
	// path[level] is the node being filled at that level; path[len-1] is the top.
	path := []*archive.IndexNode{{Level: 0}}
	if ref != nil {
		var top []*archive.IndexNode // top first
		r := *ref
		for {
			n, err := w.c.readNode(ctx, topic, partition, r)
			if err != nil {
				return nil, err
			}
			w.retire(r.Key)
			top = append(top, n)
			if n.Level == 0 {
				break
			}
			r = n.Children[len(n.Children)-1] // rewritten below, added back when written
			n.Children = n.Children[:len(n.Children)-1]
		}
		slices.Reverse(top)
		path = top
	}
	if w.compactor != nil {
		var err error
		if segs, err = w.compact(ctx, topic, partition, path[0], segs); err != nil {
			return nil, err
		}
	}
	b := &builder{w: w, topic: topic, partition: partition, path: path}
	for len(segs) > 0 || len(gaps) > 0 {
		if b.path[0].Entries() >= NodeCapacity {
			if err := b.seal(ctx, 0); err != nil {
				return nil, err
			}
		}
		leaf := b.path[0]
		if len(gaps) > 0 && (len(segs) == 0 || gaps[0].From < segs[0].FirstOffset) {
			leaf.Gaps, gaps = append(leaf.Gaps, gaps[0]), gaps[1:]
		} else {
			leaf.Segments, segs = append(leaf.Segments, segs[0]), segs[1:]
		}
	}
	return b.finish(ctx)
}

// compact takes the leaf's trailing run of small segments back out of it, merges runs of
// small adjacent segments among those and the new ones, and returns what to append. Gaps stay
// as they are: a run never spans one (its offsets are adjacent).
func (w *writer) compact(ctx context.Context, topic string, partition int32, leaf *archive.IndexNode, segs []archive.SegmentRef) ([]archive.SegmentRef, error) {
	comp := w.compactor
	small := func(s archive.SegmentRef) bool { return s.StoredBytes < comp.MinBytes }
	lastGap := int64(-1)
	for _, g := range leaf.Gaps {
		lastGap = max(lastGap, g.To)
	}
	var tail []archive.SegmentRef
	for n := len(leaf.Segments); n > 0 && small(leaf.Segments[n-1]) && leaf.Segments[n-1].FirstOffset > lastGap; n-- {
		tail = append(tail, leaf.Segments[n-1])
		leaf.Segments = leaf.Segments[:n-1]
	}
	slices.Reverse(tail)
	in := append(tail, segs...)
	var out, run []archive.SegmentRef
	var runBytes int64
	flush := func() error {
		switch len(run) {
		case 0:
			return nil
		case 1:
			out = append(out, run[0])
		default:
			merged, err := comp.Merge(ctx, topic, partition, run)
			var corrupt *archive.CorruptError
			if errors.As(err, &corrupt) {
				// A damaged source stays as it is (verify and restores report it); the fold,
				// and with it the backup, goes on.
				out = append(out, run...)
				run, runBytes = nil, 0
				return nil
			}
			if err != nil {
				return err
			}
			if merged.FirstOffset != run[0].FirstOffset || merged.LastOffset != run[len(run)-1].LastOffset {
				return fmt.Errorf("merged segment %s covers %d–%d, not %d–%d", merged.Key, merged.FirstOffset, merged.LastOffset, run[0].FirstOffset, run[len(run)-1].LastOffset)
			}
			for _, s := range run {
				if s.Key != merged.Key {
					w.retire(s.Key)
				}
			}
			out = append(out, merged)
		}
		run, runBytes = nil, 0
		return nil
	}
	for _, s := range in {
		joins := len(run) > 0 && run[len(run)-1].LastOffset+1 == s.FirstOffset && run[len(run)-1].Encrypted == s.Encrypted &&
			run[len(run)-1].Run == s.Run && runBytes+s.StoredBytes <= comp.TargetBytes
		if len(run) > 0 && (!joins || !small(s)) {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		if !small(s) {
			out = append(out, s)
			continue
		}
		run = append(run, s)
		runBytes += s.StoredBytes
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// builder fills a tree's rightmost path: path[level] is the node being filled at that level,
// path[len-1] the top.
type builder struct {
	w         *writer
	topic     string
	partition int32
	path      []*archive.IndexNode
}

// seal writes the node at level, adds it to its parent (sealing the parent first when that is
// full, and growing a level above the top) and starts an empty node in its place.
func (b *builder) seal(ctx context.Context, level int) error {
	ref, err := b.w.writeNode(ctx, b.topic, b.partition, b.path[level])
	if err != nil {
		return err
	}
	if level == len(b.path)-1 {
		b.path = append(b.path, &archive.IndexNode{Level: level + 1})
	}
	if b.path[level+1].Entries() >= NodeCapacity {
		if err := b.seal(ctx, level+1); err != nil {
			return err
		}
	}
	b.path[level+1].Children = append(b.path[level+1].Children, ref)
	b.path[level] = &archive.IndexNode{Level: level}
	return nil
}

// finish writes the partly filled nodes bottom-up and returns the tree's root; a top with a
// single child collapses into it, and an empty tree is nil.
func (b *builder) finish(ctx context.Context) (*archive.NodeRef, error) {
	for level := 0; level < len(b.path); level++ {
		n := b.path[level]
		if n.Entries() == 0 {
			continue
		}
		top := level == len(b.path)-1
		if top && n.Level > 0 && len(n.Children) == 1 {
			only := n.Children[0]
			return &only, nil
		}
		if !top && b.path[level+1].Entries() >= NodeCapacity {
			if err := b.seal(ctx, level+1); err != nil {
				return nil, err
			}
		}
		ref, err := b.w.writeNode(ctx, b.topic, b.partition, n)
		if err != nil {
			return nil, err
		}
		if top {
			return &ref, nil
		}
		b.path[level+1].Children = append(b.path[level+1].Children, ref)
	}
	return nil, nil
}

// trim drops the partition's oldest segments while drop says so (keepNewest: never the last
// one), then cuts the tree below the first kept segment.
func (w *writer) trim(ctx context.Context, topic string, p *archive.Partition, drop func(archive.SegmentRef) bool, keepNewest bool) error {
	if p.Index == nil {
		return nil
	}
	budget := p.Index.Segments
	if keepNewest {
		budget--
	}
	start := p.NextOffset
	dropped := false
	err := w.c.walkSegments(ctx, topic, p.Partition, *p.Index, func(s archive.SegmentRef) bool {
		if budget > 0 && drop(s) {
			budget--
			dropped = true
			return true
		}
		start = s.FirstOffset // NextOffset stays when every segment goes
		return false
	})
	if err != nil {
		return err
	}
	if !dropped || start <= p.StartOffset {
		return nil // as Partition.TrimBefore: nothing dropped, nothing changes
	}
	p.StartOffset = start
	ref, err := w.cut(ctx, topic, p.Partition, *p.Index, start)
	if err != nil {
		return err
	}
	p.Index = ref
	return nil
}

// walkSegments calls fn with the segments under ref in offset order until it returns false.
func (c *Catalog) walkSegments(ctx context.Context, topic string, partition int32, ref archive.NodeRef, fn func(archive.SegmentRef) bool) error {
	var stop bool
	var walk func(ref archive.NodeRef) error
	walk = func(ref archive.NodeRef) error {
		if ref.Segments == 0 {
			return nil
		}
		n, err := c.readNode(ctx, topic, partition, ref)
		if err != nil {
			return err
		}
		for _, child := range n.Children {
			if err := walk(child); err != nil || stop {
				return err
			}
		}
		for _, s := range n.Segments {
			if !fn(s) {
				stop = true
				return nil
			}
		}
		return nil
	}
	return walk(ref)
}

// cut returns the tree under ref without what lies below offset start, rewriting only the
// nodes that straddle it; nil when nothing remains.
func (w *writer) cut(ctx context.Context, topic string, partition int32, ref archive.NodeRef, start int64) (*archive.NodeRef, error) {
	if ref.FirstOffset >= start {
		return &ref, nil
	}
	if ref.LastOffset < start {
		return nil, w.retireTree(ctx, topic, partition, ref)
	}
	n, err := w.c.readNode(ctx, topic, partition, ref)
	if err != nil {
		return nil, err
	}
	w.retire(ref.Key)
	out := &archive.IndexNode{Level: n.Level}
	for _, child := range n.Children {
		r, err := w.cut(ctx, topic, partition, child, start)
		if err != nil {
			return nil, err
		}
		if r != nil {
			out.Children = append(out.Children, *r)
		}
	}
	for _, s := range n.Segments {
		if s.LastOffset >= start {
			out.Segments = append(out.Segments, s)
		}
	}
	for _, g := range n.Gaps {
		if g.To >= start {
			g.From = max(g.From, start)
			out.Gaps = append(out.Gaps, g)
		}
	}
	switch {
	case out.Entries() == 0:
		return nil, nil
	case out.Level > 0 && len(out.Children) == 1:
		only := out.Children[0]
		return &only, nil
	}
	r, err := w.writeNode(ctx, topic, partition, out)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// retireTree retires every node under ref; leaves are not read.
func (w *writer) retireTree(ctx context.Context, topic string, partition int32, ref archive.NodeRef) error {
	if ref.Level > 0 {
		n, err := w.c.readNode(ctx, topic, partition, ref)
		if err != nil {
			return err
		}
		for _, child := range n.Children {
			if err := w.retireTree(ctx, topic, partition, child); err != nil {
				return err
			}
		}
	}
	w.retire(ref.Key)
	return nil
}
