package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-zookeeper/zk"

	"arkive.io/arkive/activities/backupstore"
	"arkive.io/arkive/activities/beat"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/pathglob"
	"arkive.io/arkive/workflows/zookeeperbackup"
)

// walker walks a tree and streams the selected nodes into chunks (see walk).
type walker struct {
	s *session
	// acls is the session ACL reads go to: a second one on the same server, so that a node's
	// two reads are answered side by side.
	acls        *zk.Conn
	sel         *pathglob.Selector
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
		go func() { defer wg.Done(); acl, ast, aerr = w.acls.GetACL(abs) }()
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

// store writes a fetched node when it is selected and kept.
func (w *walker) store(n *archive.ZNode) error {
	if !w.sel.Takes(n.Path) {
		return nil
	}
	if n.Type == archive.ZNodeEphemeral {
		if !w.spec.IncludeEphemeral {
			w.skipped++
			return nil
		}
		w.ephemeral++
	}
	w.nodes.Add(1)
	return w.w.Add(n)
}

// fetched is a node read by a walk worker, with its children (sorted) when it has any.
type fetched struct {
	seq      int
	node     *archive.ZNode
	children []string
	err      error
}

// read fetches a node and lists its children.
func (w *walker) read(seq int, p string) fetched {
	n, err := w.fetch(p)
	f := fetched{seq: seq, node: n, err: err}
	if err != nil || n == nil || n.Stat.NumChildren == 0 {
		return f
	}
	names, _, err := w.s.c.Children(w.s.abs(p))
	switch {
	case errors.Is(err, zk.ErrNoNode):
		w.noteChange("%s was deleted during the walk", p)
	case isNoAuth(err):
		f.err = fmt.Errorf("list the children of %s as %s: %w", p, w.s.identity(), err)
	case err != nil:
		f.err = fmt.Errorf("list the children of %s: %w", p, err)
	}
	sort.Strings(names)
	f.children = names
	return f
}

// walk reads the tree from its root breadth first, with `parallelism` workers reading ahead in
// a window of window nodes, and stores nodes in queue order: a node's children are queued only
// when it is stored, so parents are always stored before their children. Memory holds the
// window's nodes and the queue's paths, never the tree's data.
func (w *walker) walk(ctx context.Context) error {
	window := w.parallelism * 4
	jobs := make(chan int, window)
	done := make(chan fetched, window)
	var queue []string // paths from index base on
	base := 0
	path := func(seq int) string { return queue[seq-base] }
	var mu sync.Mutex // guards queue for the workers' reads
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range w.parallelism {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range jobs {
				mu.Lock()
				p := path(seq)
				mu.Unlock()
				select {
				case done <- w.read(seq, p):
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	defer func() { close(jobs); cancel(); wg.Wait() }()
	queue = append(queue, "/")
	next, stored := 0, 0
	pending := map[int]fetched{}
	for stored < base+len(queue) {
		for next < base+len(queue) && next-stored < window {
			jobs <- next
			next++
		}
		var f fetched
		select {
		case f = <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if f.err != nil {
			return f.err
		}
		pending[f.seq] = f
		for {
			f, ok := pending[stored]
			if !ok {
				break
			}
			delete(pending, stored)
			stored++
			if f.node == nil {
				continue // gone since it was listed
			}
			if err := w.store(f.node); err != nil {
				return err
			}
			var more []string
			for _, name := range f.children {
				c := child(f.node.Path, name)
				if f.node.Path == "/" && name == "zookeeper" && w.s.root == "" {
					continue // the server's own quota and config nodes
				}
				if w.sel.Descends(c) {
					more = append(more, c)
				}
			}
			mu.Lock()
			queue = append(queue, more...)
			if stored-base > 4096 && stored-base > len(queue)/2 {
				// Drop the paths already stored (workers only read paths from stored on).
				queue = append([]string(nil), queue[stored-base:]...)
				base = stored
			}
			mu.Unlock()
		}
	}
	return nil
}

// Snapshot walks the selected tree and stores a snapshot: chunks while walking, then the
// manifest naming it with its zxid range and whether it is consistent. A retry (same id)
// writes the same keys again; the manifest names the snapshot once.
func (a *Activities) Snapshot(ctx context.Context, in zookeeperbackup.SnapshotInput) (_ zookeeperbackup.SnapshotResult, err error) {
	defer func() { err = classify(err) }()
	sel, err := pathglob.New("spec.paths", in.Spec.Include, in.Spec.Exclude)
	if err != nil {
		return zookeeperbackup.SnapshotResult{}, invalidf("%v", err)
	}
	for i, t := range in.Spec.NodeTypes {
		if _, err := pathglob.New(fmt.Sprintf("spec.nodeTypes[%d]", i), t.Paths, nil); err != nil {
			return zookeeperbackup.SnapshotResult{}, invalidf("%v", err)
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
	w := &walker{s: s, acls: s.c, sel: sel, spec: in.Spec, parallelism: in.Spec.Parallelism}
	if twin, err := s.twin(ctx); err == nil {
		defer twin.Close()
		w.acls = twin
	}
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
	if err := w.walk(ctx); err != nil {
		return zookeeperbackup.SnapshotResult{}, err
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

// Prune removes snapshots from the manifest, then their objects (backupstore.PruneSnapshots).
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
	n, err := backupstore.PruneSnapshots(ctx, st, &m.Snapshots, func(s archive.ZooKeeperSnapshotRef) string { return s.ID },
		in.Drop, func() error { return writeManifest(ctx, st, m) })
	return zookeeperbackup.PruneResult{Deleted: n}, err
}
