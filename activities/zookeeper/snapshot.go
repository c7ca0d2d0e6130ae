package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-zookeeper/zk"
	"gocloud.dev/blob"
	"golang.org/x/sync/errgroup"

	"arkive.io/arkive/activities/beat"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/workflows/zookeeperbackup"
)

// walker walks a tree and streams the selected nodes into chunks: a sibling batch is read
// with `parallelism` requests in flight, stored, and only then are the batch's subtrees
// walked, so memory holds one batch per level and parents are always stored before children.
type walker struct {
	s           *session
	sel         *selector
	spec        zookeeperbackup.Spec
	parallelism int
	w           *archive.ZNodeWriter
	// start is the server's zxid when the walk began; known says the server told it.
	start int64
	known bool
	// changed says the walk saw the tree change: a node or child list newer than start, or a
	// node gone between listing and reading.
	changed   atomic.Bool
	why       atomic.Value // string: the first change seen
	nodes     atomic.Int64
	ephemeral int
	skipped   int // ephemeral nodes left out
}

// slim is what the walk keeps of a stored node to descend into it.
type slim struct {
	path     string
	children int32
}

func (w *walker) noteChange(format string, args ...any) {
	if w.changed.CompareAndSwap(false, true) {
		w.why.Store(fmt.Sprintf(format, args...))
	}
}

// fetch reads a node's data, Stat and ACL. The two reads are issued together; when their
// Stats disagree (a write landed between them) both are read again, so data and ACL belong to
// the same version. nil: the node is gone.
func (w *walker) fetch(p string) (*archive.ZNode, error) {
	abs := w.s.abs(p)
	for attempt := 0; ; attempt++ {
		var acl []zk.ACL
		var ast *zk.Stat
		var aerr error
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); acl, ast, aerr = w.s.c.GetACL(abs) }()
		data, st, err := w.s.c.Get(abs)
		wg.Wait()
		if err == nil {
			err = aerr
		}
		switch {
		case errors.Is(err, zk.ErrNoNode):
			w.noteChange("%s was deleted during the walk", p)
			return nil, nil
		case isNoAuth(err):
			return nil, fmt.Errorf("read %s as %s: %w: give that identity READ on it (spec.digest of the ZooKeeperEnsemble), or exclude the path", p, w.s.identity(), err)
		case err != nil:
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		if w.known && (st.Mzxid > w.start || st.Pzxid > w.start) {
			w.noteChange("%s changed during the walk (zxid %#x after the start %#x)", p, max(st.Mzxid, st.Pzxid), w.start)
		}
		if (st.Mzxid != ast.Mzxid || st.Aversion != ast.Aversion) && attempt < 5 {
			continue
		}
		n := &archive.ZNode{Path: p, Data: data, Type: archive.ZNodePersistent, Stat: stat(st)}
		for _, a := range acl {
			n.ACL = append(n.ACL, archive.ZACL{Perms: a.Perms, Scheme: a.Scheme, ID: a.ID})
		}
		switch {
		case st.EphemeralOwner != 0:
			n.Type = archive.ZNodeEphemeral
		default:
			for _, t := range w.spec.NodeTypes {
				if matchesExactly(t.Paths, p) {
					if t.Type == "TTL" {
						n.Type, n.TTLMillis = archive.ZNodeTTL, t.TTL.Milliseconds()
					} else {
						n.Type = archive.ZNodeContainer
					}
					break
				}
			}
		}
		return n, nil
	}
}

func stat(s *zk.Stat) archive.ZStat {
	return archive.ZStat{Czxid: s.Czxid, Mzxid: s.Mzxid, Ctime: s.Ctime, Mtime: s.Mtime, Version: s.Version,
		Cversion: s.Cversion, Aversion: s.Aversion, EphemeralOwner: s.EphemeralOwner, DataLength: s.DataLength,
		NumChildren: s.NumChildren, Pzxid: s.Pzxid}
}

// store writes a fetched node when it is selected and kept, and returns what a descent needs.
func (w *walker) store(n *archive.ZNode) (slim, error) {
	out := slim{path: n.Path, children: n.Stat.NumChildren}
	if !w.sel.takes(n.Path) {
		return out, nil
	}
	if n.Type == archive.ZNodeEphemeral {
		if !w.spec.IncludeEphemeral {
			w.skipped++
			return out, nil
		}
		w.ephemeral++
	}
	w.nodes.Add(1)
	return out, w.w.Add(n)
}

// walk stores the children of p (whose node is stored), then their subtrees.
func (w *walker) walk(ctx context.Context, p string) error {
	names, _, err := w.s.c.Children(w.s.abs(p))
	switch {
	case errors.Is(err, zk.ErrNoNode):
		w.noteChange("%s was deleted during the walk", p)
		return nil
	case isNoAuth(err):
		return fmt.Errorf("list the children of %s as %s: %w", p, w.s.identity(), err)
	case err != nil:
		return fmt.Errorf("list the children of %s: %w", p, err)
	}
	sort.Strings(names)
	var paths []string
	for _, name := range names {
		c := child(p, name)
		if p == "/" && name == "zookeeper" && w.s.root == "" {
			continue // the server's own quota and config nodes
		}
		if w.sel.descends(c) {
			paths = append(paths, c)
		}
	}
	batch := w.parallelism * 4
	for i := 0; i < len(paths); i += batch {
		part := paths[i:min(i+batch, len(paths))]
		fetched := make([]*archive.ZNode, len(part))
		g, _ := errgroup.WithContext(ctx)
		g.SetLimit(w.parallelism)
		for j, c := range part {
			g.Go(func() (err error) { fetched[j], err = w.fetch(c); return err })
		}
		if err := g.Wait(); err != nil {
			return err
		}
		var below []slim
		for _, n := range fetched {
			if n == nil {
				continue
			}
			s, err := w.store(n)
			if err != nil {
				return err
			}
			if s.children > 0 {
				below = append(below, s)
			}
		}
		clear(fetched) // the data is stored: keep only what the descent needs
		for _, s := range below {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := w.walk(ctx, s.path); err != nil {
				return err
			}
		}
	}
	return nil
}

// Snapshot walks the selected tree and stores a snapshot: chunks while walking, then the
// manifest naming it with its zxid range and whether it is consistent. A retry (same id)
// writes the same keys again; the manifest names the snapshot once.
func (a *Activities) Snapshot(ctx context.Context, in zookeeperbackup.SnapshotInput) (_ zookeeperbackup.SnapshotResult, err error) {
	defer func() { err = classify(err) }()
	sel, err := newSelector("spec.paths", in.Spec.Include, in.Spec.Exclude)
	if err != nil {
		return zookeeperbackup.SnapshotResult{}, err
	}
	for i, t := range in.Spec.NodeTypes {
		if _, err := newSelector(fmt.Sprintf("spec.nodeTypes[%d]", i), t.Paths, nil); err != nil {
			return zookeeperbackup.SnapshotResult{}, err
		}
	}
	st, err := a.store(ctx, in.Connection)
	if err != nil {
		return zookeeperbackup.SnapshotResult{}, err
	}
	defer st.Close()
	prefix, err := st.Layout.Snapshot(in.ID)
	if err != nil {
		return zookeeperbackup.SnapshotResult{}, invalidf("%v", err)
	}
	s, err := connect(ctx, in.Ensemble, a.Secrets(in.Namespace))
	if err != nil {
		return zookeeperbackup.SnapshotResult{}, err
	}
	defer s.Close()
	if ok, _, err := s.c.Exists(s.abs("/")); err != nil || !ok {
		if err == nil {
			return zookeeperbackup.SnapshotResult{}, invalidf("spec.chroot of the ZooKeeperEnsemble: %s does not exist", s.root)
		}
		return zookeeperbackup.SnapshotResult{}, fmt.Errorf("read %s: %w", s.abs("/"), err)
	}
	w := &walker{s: s, sel: sel, spec: in.Spec, parallelism: in.Spec.Parallelism}
	if w.parallelism <= 0 {
		w.parallelism = DefaultParallelism
	}
	w.w = archive.NewZNodeWriter(st.Key, func(name string, doc []byte) error {
		if err := st.Put(ctx, prefix+name, doc); err != nil {
			return fmt.Errorf("write %s: %w", prefix+name, err)
		}
		return nil
	})
	stop := beat.Start(ctx, func() any {
		return zookeeperbackup.SnapshotProgress{Nodes: int(w.nodes.Load())}
	})
	defer stop()
	server := s.c.Server()
	if w.start, w.known, err = s.zxid(); err != nil {
		return zookeeperbackup.SnapshotResult{}, err
	}
	root, err := w.fetch("/")
	if err != nil {
		return zookeeperbackup.SnapshotResult{}, err
	}
	if root == nil {
		return zookeeperbackup.SnapshotResult{}, fmt.Errorf("%s vanished during the walk", s.abs("/"))
	}
	if _, err := w.store(root); err != nil {
		return zookeeperbackup.SnapshotResult{}, err
	}
	if root.Stat.NumChildren > 0 {
		if err := w.walk(ctx, "/"); err != nil {
			return zookeeperbackup.SnapshotResult{}, err
		}
	}
	if err := w.w.Flush(); err != nil {
		return zookeeperbackup.SnapshotResult{}, err
	}
	end, endKnown, err := s.zxid()
	if err != nil {
		return zookeeperbackup.SnapshotResult{}, err
	}
	ref := archive.ZooKeeperSnapshotRef{ID: in.ID, Prefix: prefix, Time: in.Time.UTC(), Nodes: int(w.nodes.Load()),
		Ephemeral: w.ephemeral, Bytes: w.w.Bytes(), Encrypted: st.Key != nil, StartZxid: w.start, EndZxid: end,
		Consistency: zookeeperbackup.Consistent, Chroot: s.root, Include: in.Spec.Include, Exclude: in.Spec.Exclude, Chunks: w.w.Chunks}
	switch {
	case !w.known || !endKnown:
		ref.Consistency, ref.Reason = zookeeperbackup.Fuzzy, "the server did not tell its zxid (the srvr four-letter word is not whitelisted, or the port is TLS-only), so an unchanged tree cannot be shown"
	case s.c.Server() != server:
		ref.Consistency, ref.Reason = zookeeperbackup.Fuzzy, "the session moved to another server during the walk"
	case end != w.start:
		ref.Consistency, ref.Reason = zookeeperbackup.Fuzzy, fmt.Sprintf("the ensemble's zxid moved from %#x to %#x during the walk", w.start, end)
		if why, ok := w.why.Load().(string); ok {
			ref.Reason += "; " + why
		}
	}
	m, _, err := readManifest(ctx, st, in.Backup)
	if err != nil {
		return zookeeperbackup.SnapshotResult{}, err
	}
	if i := slices.IndexFunc(m.Snapshots, func(s archive.ZooKeeperSnapshotRef) bool { return s.ID == in.ID }); i >= 0 {
		m.Snapshots[i] = ref
	} else {
		m.Snapshots = append(m.Snapshots, ref)
	}
	if err := writeManifest(ctx, st, m); err != nil {
		return zookeeperbackup.SnapshotResult{}, err
	}
	res := zookeeperbackup.SnapshotResult{Summary: summary(ref)}
	for _, s := range m.Snapshots {
		res.Snapshots = append(res.Snapshots, zookeeperbackup.SnapshotInfo{ID: s.ID, Time: s.Time})
	}
	var warnings []string
	if w.skipped > 0 {
		warnings = append(warnings, fmt.Sprintf("%d ephemeral nodes left out (spec.includeEphemeral)", w.skipped))
	}
	if ref.Consistency == zookeeperbackup.Fuzzy {
		warnings = append(warnings, "snapshot "+ref.ID+" is fuzzy: "+ref.Reason)
	}
	res.Warning = strings.Join(warnings, "; ")
	return res, nil
}

func summary(r archive.ZooKeeperSnapshotRef) zookeeperbackup.Summary {
	return zookeeperbackup.Summary{ID: r.ID, Time: r.Time, Nodes: r.Nodes, Bytes: r.Bytes, StartZxid: r.StartZxid,
		EndZxid: r.EndZxid, Consistency: r.Consistency}
}

// Prune removes snapshots from the manifest first, then deletes their objects: a crash in
// between leaves objects no manifest names, never a manifest naming missing objects. The newest
// snapshot is never removed.
func (a *Activities) Prune(ctx context.Context, in zookeeperbackup.PruneInput) (_ zookeeperbackup.PruneResult, err error) {
	defer func() { err = classify(err) }()
	st, err := a.store(ctx, in.Connection)
	if err != nil {
		return zookeeperbackup.PruneResult{}, err
	}
	defer st.Close()
	m, _, err := readManifest(ctx, st, in.Backup)
	if err != nil {
		return zookeeperbackup.PruneResult{}, err
	}
	var keep []archive.ZooKeeperSnapshotRef
	dropped := 0
	for i, s := range m.Snapshots {
		if slices.Contains(in.Drop, s.ID) && i != len(m.Snapshots)-1 {
			dropped++
		} else {
			keep = append(keep, s)
		}
	}
	if dropped > 0 {
		m.Snapshots = keep
		if err := writeManifest(ctx, st, m); err != nil {
			return zookeeperbackup.PruneResult{}, err
		}
	}
	for _, id := range in.Drop {
		if m.Find(id) != nil {
			continue
		}
		prefix, err := st.Layout.Snapshot(id)
		if err != nil {
			continue
		}
		if err := deletePrefix(ctx, st.Store, prefix); err != nil {
			return zookeeperbackup.PruneResult{}, err
		}
	}
	return zookeeperbackup.PruneResult{Deleted: dropped}, nil
}

// deletePrefix deletes every object under prefix.
func deletePrefix(ctx context.Context, st *blobstore.Store, prefix string) error {
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
