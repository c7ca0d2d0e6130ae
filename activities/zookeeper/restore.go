package zookeeper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/errgroup"

	"arkive.io/arkive/activities/backupstore"
	"arkive.io/arkive/activities/beat"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/backups"
	"arkive.io/arkive/internal/pathglob"
	zr "arkive.io/arkive/workflows/zookeeperrestore"
)

// Batching of writes: plain persistent creates go to the server in multi requests of at most
// multiOps operations and session.batchBytes; a larger node (or a container
// or TTL node, which a multi cannot create) goes alone.
const (
	multiOps   = 500
	checkBatch = 256 // nodes whose existence is read together
	checkDepth = 32  // requests in flight while reading the target
	maxListed  = 20  // paths named in an error
)

// requestSize is about what a create of n costs in a request: data, path and ACL plus framing.
func requestSize(n *archive.ZNode, acl []zk.ACL) int {
	size := len(n.Data) + len(n.Path) + 64
	for _, a := range acl {
		size += len(a.Scheme) + len(a.ID) + 12
	}
	return size
}

// item is one snapshot node on its way to the target.
type item struct {
	n      *archive.ZNode
	target string // the path in the target (mapped), relative to its chroot
	acl    []zk.ACL
	exists bool
	// changes says what differs from an existing node ("data", "acl").
	changes []string
}

// restorer runs a restore's plan (write false: read only) or apply (write true) over the
// snapshot's nodes, in stored order.
type restorer struct {
	s      *session
	ref    archive.ZooKeeperSnapshotRef
	key    []byte
	store  *backupStore
	spec   zr.Spec
	sel    *pathglob.Selector
	mp     *mapping
	write  bool
	counts zr.Counts
	plan   zr.Plan
	// conflicts (policy Fail) and nodes too large for the target: the plan fails on either.
	conflicts, tooLarge []string
	nConflicts, nLarge  int
	// seqMax is the highest sequence suffix restored under each target parent.
	seqMax map[string]int64
	// paths holds every target path the snapshot restores (Mirror keeps those).
	paths map[string]bool
	// empty: the plan found the target's root without children, so no node but the root can
	// exist there and none is read.
	empty bool
}

// open reads the manifest and snapshot a restore names and connects to the target.
func (a *Activities) open(ctx context.Context, in zr.Input, write bool) (*restorer, error) {
	sel, err := pathglob.New("spec.paths", in.Spec.Include, in.Spec.Exclude)
	if err != nil {
		return nil, invalidf("%v", err)
	}
	var pairs [][2]string
	for _, m := range in.Spec.PathMapping {
		pairs = append(pairs, [2]string{m.From, m.To})
	}
	mp, err := newMapping("spec.pathMapping", pairs)
	if err != nil {
		return nil, err
	}
	st, err := a.store(ctx, in.Connection)
	if err != nil {
		return nil, err
	}
	m, found, err := readManifest(ctx, st, in.Backup)
	if err != nil {
		st.Close()
		return nil, err
	}
	if !found {
		st.Close()
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("spec.source.backup: Storage %s holds no ZooKeeper backup %q", in.StorageName, in.Backup), zr.ErrBackupNotFound, nil)
	}
	ref := m.Newest()
	if in.Spec.Snapshot != "" {
		ref = m.Find(in.Spec.Snapshot)
	}
	if ref == nil {
		var ids []string
		for _, s := range m.Snapshots {
			ids = append(ids, s.ID)
		}
		st.Close()
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("spec.source.snapshot: backup %q has no snapshot %q (it has %s)",
			in.Backup, in.Spec.Snapshot, strings.Join(append(ids, "none")[:max(1, len(ids))], ", ")), zr.ErrBackupNotFound, nil)
	}
	s, err := connect(ctx, in.Ensemble, a.Secrets(in.Namespace))
	if err != nil {
		st.Close()
		return nil, err
	}
	r := &restorer{s: s, ref: *ref, key: st.Key, store: st, spec: in.Spec, sel: sel, mp: mp, write: write,
		seqMax: map[string]int64{}}
	r.plan = zr.Plan{Snapshot: ref.ID, Consistency: ref.Consistency}
	if in.Spec.Policy == zr.PolicyMirror {
		r.paths = map[string]bool{}
	}
	return r, nil
}

func (r *restorer) Close() {
	r.s.Close()
	r.store.Close()
}

// aclOf is the ACL a node is written with: the stored one, mapped, or open to everyone when
// ACLs are not restored.
func (r *restorer) aclOf(n *archive.ZNode) []zk.ACL {
	if !r.spec.RestoreACLs || len(n.ACL) == 0 {
		return zk.WorldACL(zk.PermAll)
	}
	out := make([]zk.ACL, 0, len(n.ACL))
	for _, a := range n.ACL {
		acl := zk.ACL{Perms: a.Perms, Scheme: a.Scheme, ID: a.ID}
		for _, m := range r.spec.ACLMapping {
			if m.Scheme == a.Scheme && m.ID == a.ID {
				acl.ID = m.ToID
				if m.ToScheme != "" {
					acl.Scheme = m.ToScheme
				}
			}
		}
		out = append(out, acl)
	}
	return out
}

func sameACL(a, b []zk.ACL) bool {
	key := func(l []zk.ACL) []string {
		var out []string
		for _, x := range l {
			out = append(out, fmt.Sprintf("%d|%s|%s", x.Perms, x.Scheme, x.ID))
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(key(a), key(b))
}

func sameData(a, b []byte) bool { return bytes.Equal(a, b) && (a == nil) == (b == nil) }

func (r *restorer) diff(line string) {
	if len(r.plan.Diff) < zr.MaxDiffLines {
		r.plan.Diff = append(r.plan.Diff, line)
	} else {
		r.plan.DiffTruncated = true
	}
}

// selectNodes turns a chunk's nodes (from line on) into items: selected, mapped, not ephemeral.
// Ephemeral nodes are counted as skipped.
func (r *restorer) selectNodes(nodes []archive.ZNode, from int, record bool) []*item {
	var out []*item
	for i := from; i < len(nodes); i++ {
		n := &nodes[i]
		if !r.sel.Takes(n.Path) {
			continue
		}
		target := r.mp.apply(n.Path)
		if record {
			if r.paths != nil {
				r.paths[target] = true
			}
			if seq := sequenceSuffix(target); seq >= 0 && target != "/" {
				r.seqMax[parent(target)] = max(r.seqMax[parent(target)], seq)
			}
		}
		out = append(out, &item{n: n, target: target})
	}
	return out
}

// check reads what the target holds for a batch of items: whether each exists and, if it does,
// what differs.
func (r *restorer) check(ctx context.Context, items []*item) error {
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(checkDepth)
	for _, it := range items {
		it.acl = r.aclOf(it.n)
		if it.n.Type == archive.ZNodeEphemeral || (r.empty && it.target != "/") {
			continue
		}
		g.Go(func() error {
			abs := r.s.abs(it.target)
			ok, _, err := r.s.c.Exists(abs)
			if err != nil || !ok {
				return wrapRead(r.s, it.target, err)
			}
			it.exists = true
			data, _, err := r.s.c.Get(abs)
			if errors.Is(err, zk.ErrNoNode) {
				it.exists = false
				return nil
			}
			if err != nil {
				return wrapRead(r.s, it.target, err)
			}
			acl, _, err := r.s.c.GetACL(abs)
			if err != nil && !errors.Is(err, zk.ErrNoNode) {
				return wrapRead(r.s, it.target, err)
			}
			it.changes = nil
			if !sameData(data, it.n.Data) {
				it.changes = append(it.changes, "data")
			}
			if r.spec.RestoreACLs && !sameACL(acl, it.acl) {
				it.changes = append(it.changes, "acl")
			}
			return nil
		})
	}
	return g.Wait()
}

func wrapRead(s *session, p string, err error) error {
	if err == nil {
		return nil
	}
	if isNoAuth(err) {
		return fmt.Errorf("read %s in the target as %s: %w", p, s.identity(), err)
	}
	return fmt.Errorf("read %s in the target: %w", p, err)
}

// decide counts what happens to each item and records the plan's diff, conflicts and nodes
// too large; it returns the items to create and to update.
func (r *restorer) decide(items []*item) (creates, updates []*item) {
	for _, it := range items {
		r.counts.Total++
		switch {
		case it.n.Type == archive.ZNodeEphemeral:
			r.counts.Skipped++
			r.plan.Ephemeral++
		case !it.exists:
			if requestSize(it.n, it.acl) > r.s.maxBuffer {
				r.nLarge++
				if len(r.tooLarge) < maxListed {
					r.tooLarge = append(r.tooLarge, fmt.Sprintf("%s (%d bytes of data)", it.target, len(it.n.Data)))
				}
			}
			r.counts.Created++
			r.diff("create " + it.target)
			creates = append(creates, it)
		case len(it.changes) == 0:
			r.counts.Unchanged++
		case r.spec.Policy == zr.PolicyOverwrite || r.spec.Policy == zr.PolicyMirror:
			if slices.Contains(it.changes, "data") && requestSize(it.n, it.acl) > r.s.maxBuffer {
				r.nLarge++
				if len(r.tooLarge) < maxListed {
					r.tooLarge = append(r.tooLarge, fmt.Sprintf("%s (%d bytes of data)", it.target, len(it.n.Data)))
				}
			}
			r.counts.Updated++
			r.diff("update " + it.target + ": " + strings.Join(it.changes, ", "))
			updates = append(updates, it)
		case r.spec.Policy == zr.PolicyFail:
			r.nConflicts++
			if len(r.conflicts) < maxListed {
				r.conflicts = append(r.conflicts, it.target+" ("+strings.Join(it.changes, ", ")+" differ)")
			}
			r.diff("conflict " + it.target + ": " + strings.Join(it.changes, ", ") + " differ")
		default:
			r.counts.Skipped++
			r.diff("skip " + it.target + ": exists with other " + strings.Join(it.changes, ", "))
		}
	}
	return creates, updates
}

// preflight fails the plan when it would write a node the target cannot take, or overwrite
// one under policy Fail. Nothing has been written.
func (r *restorer) preflight() error {
	if r.nLarge > 0 {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"%d nodes do not fit in one request to the target (ZooKeeperEnsemble spec.maxBufferBytes %d, the servers' jute.maxbuffer): %s; raise jute.maxbuffer on the servers and spec.maxBufferBytes, or exclude them",
			r.nLarge, r.s.maxBuffer, strings.Join(r.tooLarge, "; ")), zr.ErrNodeTooLarge, nil)
	}
	if r.nConflicts > 0 {
		more := ""
		if r.nConflicts > len(r.conflicts) {
			more = fmt.Sprintf("; and %d more", r.nConflicts-len(r.conflicts))
		}
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"policy Fail: %d nodes exist in the target with other content, nothing was written: %s%s",
			r.nConflicts, strings.Join(r.conflicts, "; "), more), zr.ErrConflict, nil)
	}
	return nil
}

// PlanRestore reads the snapshot and the target and says what the restore would do. It fails,
// before anything is written, on a conflict under policy Fail or a node too large for the
// target.
func (a *Activities) PlanRestore(ctx context.Context, in zr.Input) (_ zr.Plan, err error) {
	defer func() { err = classify(err) }()
	r, err := a.open(ctx, in, false)
	if err != nil {
		return zr.Plan{}, err
	}
	defer r.Close()
	stop := beat.Start(ctx, nil)
	defer stop()
	children, _, err := r.s.c.Children(r.s.abs("/"))
	if err != nil {
		return zr.Plan{}, wrapRead(r.s, "/", err)
	}
	r.empty = len(slices.DeleteFunc(children, func(c string) bool { return c == "zookeeper" && r.s.root == "" })) == 0
	err = backups.ZNodes(ctx, r.store.Store, r.ref, r.key, 0, func(_ int, nodes []archive.ZNode) error {
		items := r.selectNodes(nodes, 0, true)
		for len(items) > 0 {
			part := items[:min(checkBatch, len(items))]
			items = items[len(part):]
			if err := r.check(ctx, part); err != nil {
				return err
			}
			r.decide(part)
		}
		return nil
	})
	if err != nil {
		return zr.Plan{}, backupstore.SnapshotError(err, in.StorageName)
	}
	if r.paths != nil {
		if err := r.mirror(ctx); err != nil {
			return zr.Plan{}, err
		}
	}
	if err := r.preflight(); err != nil {
		return zr.Plan{}, err
	}
	r.plan.Counts = r.counts
	return r.plan, nil
}

// ApplyRestore writes the plan: creates (parents first, batched) and updates chunk by chunk,
// heartbeating the position reached; then Mirror's deletes; then advances the sequence
// counters of parents with restored sequential children. A retry resumes at the heartbeated
// position, and a node that already holds the stored data and ACL is never written again.
func (a *Activities) ApplyRestore(ctx context.Context, in zr.ApplyInput) (_ zr.ApplyResult, err error) {
	defer func() { err = classify(err) }()
	spec := in.Spec
	spec.Snapshot = in.Snapshot
	r, err := a.open(ctx, zr.Input{Connection: in.Connection, Spec: spec}, true)
	if err != nil {
		return zr.ApplyResult{}, err
	}
	defer r.Close()
	var progress zr.ApplyProgress
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &progress)
	}
	r.counts = progress.Counts
	var pos atomic.Value
	pos.Store(progress)
	stop := beat.Start(ctx, func() any { return pos.Load() })
	defer stop()
	// What the earlier attempts restored still counts for sequence counters and Mirror.
	if progress.Chunk > 0 || progress.Line > 0 || progress.Deleting {
		err := backups.ZNodes(ctx, r.store.Store, r.ref, r.key, 0, func(c int, nodes []archive.ZNode) error {
			switch {
			case progress.Deleting || c < progress.Chunk:
				r.selectNodes(nodes, 0, true)
			case c == progress.Chunk:
				r.selectNodes(nodes[:min(progress.Line, len(nodes))], 0, true)
			}
			return nil
		})
		if err != nil {
			return zr.ApplyResult{}, backupstore.SnapshotError(err, in.StorageName)
		}
	}
	if !progress.Deleting {
		err = backups.ZNodes(ctx, r.store.Store, r.ref, r.key, progress.Chunk, func(c int, nodes []archive.ZNode) error {
			line := 0
			if c == progress.Chunk {
				line = progress.Line
			}
			for line < len(nodes) {
				// A batch is what one multi request can carry: at most multiOps nodes and
				// batchBytes (at least one node).
				end, size := line, 0
				for end < len(nodes) && end-line < multiOps {
					size += len(nodes[end].Data) + len(nodes[end].Path) + 64 + 32*len(nodes[end].ACL)
					if size > r.s.batchBytes() && end > line {
						break
					}
					end++
				}
				items := r.selectNodes(nodes[line:end], 0, true)
				if done, err := r.createAtOnce(items); err != nil || done {
					if err != nil {
						return err
					}
				} else if err := r.check(ctx, items); err != nil {
					return err
				} else if err := r.writeChecked(ctx, items); err != nil {
					return err
				}
				line = end
				if line == len(nodes) {
					pos.Store(zr.ApplyProgress{Chunk: c + 1, Counts: r.counts})
				} else {
					pos.Store(zr.ApplyProgress{Chunk: c, Line: line, Counts: r.counts})
				}
			}
			return nil
		})
		if err != nil {
			return zr.ApplyResult{}, backupstore.SnapshotError(err, in.StorageName)
		}
	}
	pos.Store(zr.ApplyProgress{Chunk: len(r.ref.Chunks), Deleting: true, Counts: r.counts})
	if r.paths != nil {
		if err := r.mirror(ctx); err != nil {
			return zr.ApplyResult{}, err
		}
	}
	bumped, err := r.sequences(ctx)
	if err != nil {
		return zr.ApplyResult{}, err
	}
	return zr.ApplyResult{Counts: r.counts, Sequences: bumped}, nil
}

// writeChecked writes a batch whose target state check has read.
func (r *restorer) writeChecked(ctx context.Context, items []*item) error {
	if err := r.preflightBatch(items); err != nil {
		return err
	}
	creates, updates := r.decide(items)
	if err := r.create(ctx, creates); err != nil {
		return err
	}
	return r.update(ctx, updates)
}

// createAtOnce creates a batch of plain persistent nodes in one multi request, without reading
// the target first: the common case of a restore into an empty tree costs what a bare create
// loop does. A multi is all or nothing, so when any node exists (a resumed restore, a target
// with content) or a parent is missing, nothing was written and the caller checks node by
// node. done says the batch was written.
func (r *restorer) createAtOnce(items []*item) (bool, error) {
	if len(items) == 0 || len(items) > multiOps {
		return false, nil
	}
	ops := make([]any, 0, len(items))
	size := 0
	for _, it := range items {
		it.acl = r.aclOf(it.n)
		size += requestSize(it.n, it.acl)
		if it.n.Type != archive.ZNodePersistent || it.target == "/" || size > r.s.batchBytes() {
			return false, nil
		}
		ops = append(ops, &zk.CreateRequest{Path: r.s.abs(it.target), Data: it.n.Data, Acl: it.acl, Flags: zk.FlagPersistent})
	}
	_, err := r.s.c.Multi(ops...)
	switch {
	case err == nil:
		r.counts.Total += len(items)
		r.counts.Created += len(items)
		return true, nil
	case errors.Is(err, zk.ErrNodeExists), errors.Is(err, zk.ErrNoNode), errors.Is(err, zk.ErrAPIError):
		return false, nil
	}
	return false, r.writeError("create", items[0].target, err)
}

// preflightBatch stops an apply at a node the target cannot take (the plan checked, but the
// target may have changed since): before that batch is written.
func (r *restorer) preflightBatch(items []*item) error {
	for _, it := range items {
		if it.n.Type != archive.ZNodeEphemeral && (!it.exists || slices.Contains(it.changes, "data")) && requestSize(it.n, it.acl) > r.s.maxBuffer {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("node %s (%d bytes of data) does not fit in one request to the target (spec.maxBufferBytes %d)",
				it.target, len(it.n.Data), r.s.maxBuffer), zr.ErrNodeTooLarge, nil)
		}
	}
	return nil
}

// create creates the items in order: runs of plain persistent nodes in multi requests, others
// one by one. A multi the server refuses (a node appeared, a parent is missing) is done again
// node by node.
func (r *restorer) create(ctx context.Context, items []*item) error {
	var ops []any
	var run []*item
	size := 0
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		_, err := r.s.c.Multi(ops...)
		if err != nil && (errors.Is(err, zk.ErrNodeExists) || errors.Is(err, zk.ErrNoNode) || errors.Is(err, zk.ErrAPIError)) {
			for _, it := range run {
				if err := r.createOne(ctx, it); err != nil {
					return err
				}
			}
			err = nil
		}
		if err != nil {
			return r.writeError("create", run[0].target, err)
		}
		ops, run, size = ops[:0], run[:0], 0
		return nil
	}
	budget := r.s.batchBytes()
	for _, it := range items {
		cost := requestSize(it.n, it.acl)
		if it.n.Type != archive.ZNodePersistent || cost > budget {
			if err := flush(); err != nil {
				return err
			}
			if err := r.createOne(ctx, it); err != nil {
				return err
			}
			continue
		}
		if len(ops) >= multiOps || size+cost > budget {
			if err := flush(); err != nil {
				return err
			}
		}
		ops = append(ops, &zk.CreateRequest{Path: r.s.abs(it.target), Data: it.n.Data, Acl: it.acl, Flags: zk.FlagPersistent})
		run = append(run, it)
		size += cost
	}
	return flush()
}

// createOne creates one node with its type; a node that exists by now (an earlier attempt
// wrote it) is left to update's rules, and missing parents outside the snapshot's selection are
// created empty first.
func (r *restorer) createOne(ctx context.Context, it *item) error {
	abs := r.s.abs(it.target)
	for attempt := 0; ; attempt++ {
		var err error
		switch it.n.Type {
		case archive.ZNodeContainer:
			_, err = r.s.c.CreateContainer(abs, it.n.Data, zk.FlagContainer, it.acl)
		case archive.ZNodeTTL:
			_, err = r.s.c.CreateTTL(abs, it.n.Data, zk.FlagTTL, it.acl, msDuration(it.n.TTLMillis))
		default:
			_, err = r.s.c.Create(abs, it.n.Data, zk.FlagPersistent, it.acl)
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, zk.ErrNodeExists):
			if err := r.check(ctx, []*item{it}); err != nil {
				return err
			}
			if len(it.changes) > 0 && (r.spec.Policy == zr.PolicyOverwrite || r.spec.Policy == zr.PolicyMirror) {
				return r.update(ctx, []*item{it})
			}
			return nil
		case errors.Is(err, zk.ErrNoNode) && attempt == 0 && it.target != "/":
			if err := r.ensureParents(parent(it.target)); err != nil {
				return err
			}
		default:
			return r.writeError("create", it.target, err)
		}
	}
}

// ensureParents creates p and its missing ancestors as empty persistent nodes, open to
// everyone: they are not in the snapshot's selection, and the restore needs them to exist.
func (r *restorer) ensureParents(p string) error {
	if p == "/" {
		return nil
	}
	ok, _, err := r.s.c.Exists(r.s.abs(p))
	if err != nil {
		return r.writeError("read", p, err)
	}
	if ok {
		return nil
	}
	if err := r.ensureParents(parent(p)); err != nil {
		return err
	}
	if _, err := r.s.c.Create(r.s.abs(p), nil, zk.FlagPersistent, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return r.writeError("create", p, err)
	}
	return nil
}

// update sets what differs on existing nodes (policies Overwrite and Mirror).
func (r *restorer) update(ctx context.Context, items []*item) error {
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(checkDepth)
	for _, it := range items {
		g.Go(func() error {
			abs := r.s.abs(it.target)
			if slices.Contains(it.changes, "data") {
				if _, err := r.s.c.Set(abs, it.n.Data, -1); err != nil {
					return r.writeError("set the data of", it.target, err)
				}
			}
			if slices.Contains(it.changes, "acl") {
				if _, err := r.s.c.SetACL(abs, it.acl, -1); err != nil {
					return r.writeError("set the ACL of", it.target, err)
				}
			}
			return nil
		})
	}
	return g.Wait()
}

func (r *restorer) writeError(what, p string, err error) error {
	if isNoAuth(err) {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s %s in the target as %s: %v: the ACL of the node or its parent does not allow it", what, p, r.s.identity(), err), zr.ErrNoAuth, nil)
	}
	return fmt.Errorf("%s %s in the target: %w", what, p, err)
}

// scope maps a target path back to the snapshot path it would be restored from, and says
// whether Mirror may delete it there (it lies in the restore's selection).
func (r *restorer) scope(target string) (string, bool) {
	best := -1
	for i, to := range r.mp.to {
		if (target == to || strings.HasPrefix(target, to+"/")) && (best < 0 || len(to) > len(r.mp.to[best])) {
			best = i
		}
	}
	if best >= 0 {
		return r.mp.from[best] + strings.TrimPrefix(target, r.mp.to[best]), true
	}
	if r.mp.apply(target) != target {
		return target, false // its snapshot nodes go elsewhere: not this restore's to delete
	}
	return target, true
}

// mirror finds the target's nodes in the selection that the snapshot does not hold and (apply)
// deletes them, children first. Ephemeral nodes belong to live sessions and are left alone.
func (r *restorer) mirror(ctx context.Context) error {
	var doomed []string
	var walk func(p string) error
	walk = func(p string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		names, _, err := r.s.c.Children(r.s.abs(p))
		if errors.Is(err, zk.ErrNoNode) {
			return nil
		}
		if err != nil {
			return wrapRead(r.s, p, err)
		}
		slices.Sort(names)
		for _, name := range names {
			c := child(p, name)
			if p == "/" && name == "zookeeper" && r.s.root == "" {
				continue
			}
			src, ours := r.scope(c)
			descend := ours && r.sel.Descends(src) || slices.ContainsFunc(r.mp.to, func(to string) bool { return strings.HasPrefix(to, c+"/") })
			if ours && r.sel.Takes(src) && !r.paths[c] {
				ok, st, err := r.s.c.Exists(r.s.abs(c))
				if err != nil {
					return wrapRead(r.s, c, err)
				}
				if ok && st.EphemeralOwner == 0 {
					doomed = append(doomed, c)
				}
			}
			if descend {
				if err := walk(c); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk("/"); err != nil {
		return err
	}
	for _, p := range doomed {
		r.diff("delete " + p)
	}
	r.counts.Deleted += len(doomed)
	if !r.write {
		return nil
	}
	// Children were listed after their parents: delete from the end.
	for i := len(doomed) - 1; i >= 0; i-- {
		if err := r.s.c.Delete(r.s.abs(doomed[i]), -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return r.writeError("delete", doomed[i], err)
		}
	}
	return nil
}

// sequences advances the sequence counter (the cversion) of every parent with restored
// sequential children past the highest restored suffix, so that the next sequential create
// under it cannot collide: each create and delete of a child moves the counter by one, so
// pairs of them are sent in multi requests until it is far enough.
func (r *restorer) sequences(ctx context.Context) (int, error) {
	bumped := 0
	parents := make([]string, 0, len(r.seqMax))
	for p := range r.seqMax {
		parents = append(parents, p)
	}
	slices.Sort(parents)
	for _, p := range parents {
		want, advanced := r.seqMax[p]+1, false
		for {
			if err := ctx.Err(); err != nil {
				return bumped, err
			}
			ok, st, err := r.s.c.Exists(r.s.abs(p))
			if err != nil {
				return bumped, wrapRead(r.s, p, err)
			}
			if !ok || int64(st.Cversion) >= want {
				break
			}
			advanced = true
			pairs := min(int((want-int64(st.Cversion)+1)/2), multiOps/2)
			tmp := r.s.abs(child(p, "arkive-sequence-advance"))
			ops := make([]any, 0, 2*pairs)
			for range pairs {
				ops = append(ops, &zk.CreateRequest{Path: tmp, Acl: zk.WorldACL(zk.PermAll)}, &zk.DeleteRequest{Path: tmp, Version: -1})
			}
			if _, err := r.s.c.Multi(ops...); err != nil {
				return bumped, r.writeError("advance the sequence counter of", p, err)
			}
		}
		if advanced {
			bumped++
		}
	}
	return bumped, nil
}

func msDuration(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }
