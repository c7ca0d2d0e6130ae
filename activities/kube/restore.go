package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"arkive.io/arkive/activities/backupstore"
	"arkive.io/arkive/activities/beat"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/backups"
	"arkive.io/arkive/workflows"
	rr "arkive.io/arkive/workflows/resourcerestore"
)

// fieldManager is the manager name of Arkive's server-side applies.
const fieldManager = "arkive"

// item is one object a restore writes: its kind, where it goes (namespace mapped), the object
// to write (stripped, mapped; owner references still as stored), and its step.
type item struct {
	info     archive.KindInfo
	ns, name string
	obj      *unstructured.Unstructured
	step     string
	skip     string // why the restore leaves it out, if it does
}

func (it *item) String() string { return describe(it.info, it.ns, it.name) }

// restoreSet is a snapshot's selected objects, ready to plan or write.
type restoreSet struct {
	c        *clients
	snapshot string
	items    []*item
	steps    []rr.Step
	// keys of every object in the set (ownerKey, as restored), for owner re-pointing.
	inSet map[string]bool
}

// load reads the snapshot (its index, then the chunks holding selected objects, each checked
// against its hash), selects and transforms the objects and puts them in steps. Plan and every
// step compute the same set from the same input.
func (a *Activities) load(ctx context.Context, conn rr.Connection, spec rr.Spec, snapshot string) (*restoreSet, error) {
	c, err := a.clients()
	if err != nil {
		return nil, err
	}
	st, err := a.store(ctx, conn)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	m, found, err := readManifest(ctx, st, conn.Backup)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("spec.source.backup: Storage %s holds no resource backup %q", conn.StorageName, conn.Backup), rr.ErrBackupNotFound, nil)
	}
	ref := m.Newest()
	if snapshot != "" {
		ref = m.Find(snapshot)
	}
	if ref == nil {
		var ids []string
		for _, s := range m.Snapshots {
			ids = append(ids, s.ID)
		}
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("spec.source.snapshot: backup %q has no snapshot %q (it has %s)",
			conn.Backup, snapshot, orNone(ids)), rr.ErrBackupNotFound, nil)
	}
	ix, err := backups.ResourceIndex(ctx, st.Store, *ref, st.Key)
	if err != nil {
		return nil, backupstore.SnapshotError(err, conn.StorageName)
	}
	sel := spec.Selection
	f, err := newFilter("spec.selection", sel)
	if err != nil {
		return nil, err
	}
	var nsSel labels.Selector
	if sel.NamespaceSelector != "" {
		if nsSel, err = labels.Parse(sel.NamespaceSelector); err != nil {
			return nil, invalidf("spec.selection.namespaceSelector: %v", err)
		}
	}
	for i, t := range sel.Resources {
		if !slices.ContainsFunc(ix.Kinds, func(k archive.KindInfo) bool { return k.Group == t.Group && k.Kind == t.Kind }) {
			return nil, invalidf("spec.selection.resources[%d]: snapshot %s holds no %s", i, ref.ID, kindName(t.Group, t.Kind))
		}
	}
	// First pass on the index alone: the kinds and names the selection takes.
	wantKind := func(k archive.KindInfo, name string) bool {
		if len(sel.Resources) == 0 {
			return true
		}
		return slices.ContainsFunc(sel.Resources, func(t workflows.ResourceType) bool {
			return t.Group == k.Group && t.Kind == k.Kind && (len(t.Names) == 0 || slices.Contains(t.Names, name))
		})
	}
	nsObjects := map[string]*unstructured.Unstructured{}
	objects := map[int]*unstructured.Unstructured{}
	err = backups.ResourceObjects(ctx, st.Store, *ref, ix, st.Key, func(i int) bool {
		o := ix.Objects[i]
		k := ix.Kinds[o.Kind]
		return k == namespaceKind || k == crdKind || wantKind(k, o.Name)
	}, func(i int, line []byte) error {
		u := &unstructured.Unstructured{}
		if err := json.Unmarshal(line, &u.Object); err != nil {
			return &archive.CorruptError{Object: ref.Prefix, Reason: fmt.Sprintf("object %d: %v", i, err)}
		}
		if ix.Kinds[ix.Objects[i].Kind] == namespaceKind {
			nsObjects[u.GetName()] = u
		}
		objects[i] = u
		return nil
	})
	if err != nil {
		return nil, backupstore.SnapshotError(err, conn.StorageName)
	}
	nsTaken := func(ns string) bool {
		if len(sel.Namespaces) == 0 && nsSel == nil {
			return true
		}
		if slices.Contains(sel.Namespaces, ns) {
			return true
		}
		n := nsObjects[ns]
		return nsSel != nil && n != nil && nsSel.Matches(labels.Set(n.GetLabels()))
	}
	for i, ns := range sel.Namespaces {
		if nsObjects[ns] == nil && !slices.ContainsFunc(ix.Objects, func(o archive.ObjectEntry) bool { return o.Namespace == ns }) {
			return nil, invalidf("spec.selection.namespaces[%d]: snapshot %s holds nothing of namespace %q", i, ref.ID, ns)
		}
	}
	rs := &restoreSet{c: c, snapshot: ref.ID, inSet: map[string]bool{}}
	usedNS, usedCRD := map[string]bool{}, map[string]bool{}
	var picked []*item
	for i, o := range ix.Objects {
		u, ok := objects[i]
		k := ix.Kinds[o.Kind]
		if !ok || k == namespaceKind || k == crdKind {
			continue
		}
		if (o.Namespace != "" && !nsTaken(o.Namespace)) || !f.takes(k.Group, k.Kind, u) {
			continue
		}
		it := &item{info: k, obj: u}
		if isServiceAccountToken(k, u) {
			it.skip = "a ServiceAccount token Secret: the cluster issues its own"
		}
		picked = append(picked, it)
		usedNS[o.Namespace] = o.Namespace != ""
		if k.CRD != "" {
			usedCRD[k.CRD] = true
		}
	}
	if len(picked) == 0 {
		return nil, invalidf("spec.selection: selects no object of snapshot %s", ref.ID)
	}
	// The namespaces and CRDs the picked objects need come first, from the snapshot.
	var head []*item
	for i, o := range ix.Objects {
		k := ix.Kinds[o.Kind]
		if u, ok := objects[i]; ok && ((k == namespaceKind && usedNS[o.Name]) || (k == crdKind && usedCRD[o.Name])) {
			head = append(head, &item{info: k, obj: u})
		}
	}
	all := append(head, picked...)
	for _, it := range all {
		strip(it.obj, it.info, keepsStatus(spec, it.info))
		mapNamespaces(it.obj, it.info, spec.NamespaceMapping)
		it.ns, it.name = it.obj.GetNamespace(), it.obj.GetName()
		rs.inSet[ownerKey(it.info.APIVersion(), it.info.Kind, it.ns, it.name)] = true
	}
	// Steps: by category, then by owner depth within the set.
	depth := map[*item]int{}
	byKey := map[string]*item{}
	for _, it := range all {
		byKey[ownerKey(it.info.APIVersion(), it.info.Kind, it.ns, it.name)] = it
	}
	var depthOf func(it *item, seen int) int
	depthOf = func(it *item, seen int) int {
		if d, ok := depth[it]; ok {
			return d
		}
		d := 0
		if seen < 16 { // owner chains are short; a cycle stops here
			for _, or := range it.obj.GetOwnerReferences() {
				if owner := byKey[ownerKey(or.APIVersion, or.Kind, it.ns, or.Name)]; owner != nil && category(owner.info) == category(it.info) {
					d = max(d, depthOf(owner, seen+1)+1)
				}
			}
		}
		depth[it] = d
		return d
	}
	type stepKey struct{ cat, depth int }
	counts := map[stepKey]int{}
	for _, it := range all {
		k := stepKey{category(it.info), depthOf(it, 0)}
		it.step = stepName(k.cat, k.depth)
		counts[k]++
	}
	keys := make([]stepKey, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b stepKey) int {
		if a.cat != b.cat {
			return a.cat - b.cat
		}
		return a.depth - b.depth
	})
	order := map[string]int{}
	for i, k := range keys {
		rs.steps = append(rs.steps, rr.Step{Name: stepName(k.cat, k.depth), Objects: counts[k]})
		order[rs.steps[i].Name] = i
	}
	slices.SortStableFunc(all, func(a, b *item) int { return order[a.step] - order[b.step] })
	rs.items = all
	return rs, nil
}

func orNone(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// target is what the target cluster serves: kinds by group/kind and CRDs by their kind.
type target struct {
	served map[schema.GroupKind]archive.KindInfo
	crds   map[schema.GroupKind]crdInfo
}

func (rs *restoreSet) target(ctx context.Context) (*target, error) {
	served, err := servedKinds(rs.c.disc)
	if err != nil {
		return nil, err
	}
	crds, err := listCRDs(ctx, rs.c.dyn)
	if err != nil {
		return nil, fmt.Errorf("list CRDs: %w", err)
	}
	return &target{served: served, crds: crds}, nil
}

// checkKinds says, before anything is written, whether the target can take every kind: a
// custom kind's CRD is in the restore, or the target's CRD serves the stored version; a
// built-in kind is served in the stored version.
func (rs *restoreSet) checkKinds(t *target) error {
	restoredCRD := map[string]bool{}
	for _, it := range rs.items {
		if it.info == crdKind {
			restoredCRD[it.name] = true
		}
	}
	checked := map[archive.KindInfo]bool{}
	for _, it := range rs.items {
		k := it.info
		if checked[k] || it.skip != "" {
			continue
		}
		checked[k] = true
		g := gk(k.Group, k.Kind)
		if crd, ok := t.crds[g]; ok {
			if !slices.Contains(crd.served, k.Version) {
				return invalidf("%s: the target's CRD %s serves versions %s, not %s that the snapshot's objects are in",
					kindName(k.Group, k.Kind), crd.name, orNone(crd.served), k.Version)
			}
			continue
		}
		if k.CRD != "" && restoredCRD[k.CRD] {
			continue // created in the crds step, established before any of its objects
		}
		if s, ok := t.served[g]; !ok || (s.Version != k.Version && k.CRD == "" && !servesVersion(rs.c, k)) {
			return invalidf("%s %s: the target cluster does not serve it, and its CRD is not part of the restore", kindName(k.Group, k.Kind), k.Version)
		}
	}
	return nil
}

func servesVersion(c *clients, k archive.KindInfo) bool {
	l, err := c.disc.ServerResourcesForGroupVersion(k.APIVersion())
	return err == nil && slices.ContainsFunc(l.APIResources, func(r metav1.APIResource) bool { return r.Kind == k.Kind })
}

// existing lists, per kind and namespace, the objects of the set that exist in the target
// (lists, not a GET per object: fewer requests, and no 404 for every object yet to be made).
// Kinds the target does not serve yet have none.
func (rs *restoreSet) existing(ctx context.Context, t *target) (map[*item]*unstructured.Unstructured, error) {
	type scope struct {
		k  archive.KindInfo
		ns string
	}
	want := map[scope]map[string]*item{}
	for _, it := range rs.items {
		if _, served := t.served[gk(it.info.Group, it.info.Kind)]; !served || it.skip != "" {
			continue
		}
		s := scope{it.info, it.ns}
		if want[s] == nil {
			want[s] = map[string]*item{}
		}
		want[s][it.name] = it
	}
	out := map[*item]*unstructured.Unstructured{}
	for s, names := range want {
		err := listPages(ctx, resourceIn(rs.c, s.k, s.ns), "", func(u *unstructured.Unstructured) error {
			if it := names[u.GetName()]; it != nil {
				out[it] = u.DeepCopy()
			}
			return nil
		})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list %s in %q: %w", kindName(s.k.Group, s.k.Kind), s.ns, err)
		}
	}
	return out, nil
}

// compare is what differs between an existing object and the item (field paths).
func (rs *restoreSet) compare(it *item, existing *unstructured.Unstructured, keepStatus bool) []string {
	have := existing.DeepCopy()
	strip(have, it.info, keepStatus)
	return differences(withoutOwnerUIDs(have.Object), withoutOwnerUIDs(it.obj.Object))
}

func keepsStatus(spec rr.Spec, k archive.KindInfo) bool {
	return slices.ContainsFunc(spec.RestoreStatus, func(s rr.Kind) bool { return s.Group == k.Group && s.Kind == k.Kind })
}

// PlanRestore reads the snapshot and the target and says what the restore would do. Nothing is
// written. Under policy Fail, objects that exist with other content fail the plan, named.
func (a *Activities) PlanRestore(ctx context.Context, in rr.Input) (_ rr.Plan, err error) {
	defer func() { err = classify(err) }()
	stop := beat.Start(ctx, nil)
	defer stop()
	rs, err := a.load(ctx, in.Connection, in.Spec, in.Spec.Snapshot)
	if err != nil {
		return rr.Plan{}, err
	}
	t, err := rs.target(ctx)
	if err != nil {
		return rr.Plan{}, err
	}
	if err := rs.checkKinds(t); err != nil {
		return rr.Plan{}, err
	}
	have, err := rs.existing(ctx, t)
	if err != nil {
		return rr.Plan{}, err
	}
	plan := rr.Plan{Snapshot: rs.snapshot, Steps: rs.steps}
	diff := func(line string) {
		if len(plan.Diff) < rr.MaxDiffLines {
			plan.Diff = append(plan.Diff, line)
		} else {
			plan.DiffTruncated = true
		}
	}
	var conflicts []string
	for _, it := range rs.items {
		if it.skip != "" {
			plan.Counts.Count(rr.ResultSkipped)
			if len(plan.Skipped) < rr.MaxObjectResults {
				plan.Skipped = append(plan.Skipped, rr.ObjectResult{Object: it.String(), Result: rr.ResultSkipped, Reason: it.skip})
			}
			continue
		}
		ex := have[it]
		if ex == nil {
			plan.Counts.Count(rr.ResultCreated)
			diff("create " + it.String())
			continue
		}
		d := rs.compare(it, ex, keepsStatus(in.Spec, it.info))
		if len(d) == 0 {
			plan.Counts.Count(rr.ResultUnchanged)
			continue
		}
		fields := strings.Join(d[:min(len(d), 10)], ", ")
		switch in.Spec.ConflictPolicy {
		case rr.ConflictUpdate:
			plan.Counts.Count(rr.ResultUpdated)
			diff("update " + it.String() + ": " + fields)
		case rr.ConflictRecreate:
			plan.Counts.Count(rr.ResultUpdated)
			diff("recreate " + it.String() + ": " + fields)
		case rr.ConflictFail:
			conflicts = append(conflicts, it.String()+" ("+fields+")")
		default:
			plan.Counts.Count(rr.ResultSkipped)
			diff("skip " + it.String() + ", which exists with other " + fields)
		}
	}
	if len(conflicts) > 0 {
		more := ""
		if len(conflicts) > 20 {
			more = fmt.Sprintf(" and %d more", len(conflicts)-20)
		}
		return plan, temporal.NewNonRetryableApplicationError(fmt.Sprintf("spec.conflictPolicy is Fail and %d objects exist with other content: %s%s; nothing was written",
			len(conflicts), strings.Join(conflicts[:min(len(conflicts), 20)], "; "), more), rr.ErrConflict, nil)
	}
	return plan, nil
}

// ApplyStep writes the objects of one step, spec.parallelism at a time, and heartbeats how many
// of the step's objects (in order) are done; a retry starts after those. An object the restore
// finds with the content it would write is left alone, so a step that runs again after a crash
// changes nothing it already wrote. The CRD step ends only when every CRD is established and
// discovery serves its kind.
func (a *Activities) ApplyStep(ctx context.Context, in rr.ApplyInput) (_ rr.ApplyResult, err error) {
	defer func() { err = classify(err) }()
	rs, err := a.load(ctx, in.Connection, in.Spec, in.Snapshot)
	if err != nil {
		return rr.ApplyResult{}, err
	}
	var items []*item
	for _, it := range rs.items {
		if it.step == in.Step {
			items = append(items, it)
		}
	}
	var progress rr.ApplyProgress
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &progress)
	}
	res := rr.ApplyResult{}
	var mu sync.Mutex
	stop := beat.Start(ctx, func() any {
		mu.Lock()
		defer mu.Unlock()
		return progress
	})
	defer stop()
	t, err := rs.target(ctx)
	if err != nil {
		return res, err
	}
	w := &writer{rs: rs, t: t, spec: in.Spec, uids: map[string]types.UID{}}
	// The objects are written spec.parallelism at a time, each as soon as a writer is free (no
	// batch waits for its slowest object); progress.Done is the length of the prefix that is
	// all written, so a retry redoes at most the objects that were in flight or past it.
	done := make([]bool, len(items))
	results := make([]rr.ObjectResult, len(items))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(in.Spec.Parallelism, 1))
	for i := progress.Done; i < len(items); i++ {
		g.Go(func() error {
			r, err := w.write(gctx, items[i])
			if err != nil {
				return err // passing (the API server unreachable): retried from progress.Done
			}
			mu.Lock()
			defer mu.Unlock()
			results[i], done[i] = r, true
			for progress.Done < len(items) && done[progress.Done] {
				r := results[progress.Done]
				progress.Counts.Count(r.Result)
				if (r.Result == rr.ResultFailed || r.Result == rr.ResultSkipped) && len(res.Objects) < rr.MaxObjectResults {
					res.Objects = append(res.Objects, r)
				}
				progress.Done++
				if progress.Done%64 == 0 && activity.IsActivity(ctx) {
					activity.RecordHeartbeat(ctx, progress) // the SDK sends at most one per interval: the latest
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	if len(items) > 0 && items[0].info == crdKind {
		if err := waitEstablished(ctx, rs.c, items); err != nil {
			return res, err
		}
	}
	res.Counts = progress.Counts
	return res, nil
}

// writer writes items to the target.
type writer struct {
	rs   *restoreSet
	t    *target
	spec rr.Spec
	mu   sync.Mutex
	uids map[string]types.UID // owners' uids in the target, by ownerKey
}

func (w *writer) resource(it *item) dynamicResource { return resourceIn(w.rs.c, it.info, it.ns) }

// write writes one item and says what it did. A definitive refusal of the API server is the
// object's failure (the restore goes on); anything else is returned, and the step retried.
func (w *writer) write(ctx context.Context, it *item) (rr.ObjectResult, error) {
	res := rr.ObjectResult{Object: it.String()}
	if it.skip != "" {
		res.Result, res.Reason = rr.ResultSkipped, it.skip
		return res, nil
	}
	obj, err := w.repoint(ctx, it)
	if err != nil {
		return res, err
	}
	ri := w.resource(it)
	keep := keepsStatus(w.spec, it.info)
	created, err := ri.Create(ctx, obj, metav1.CreateOptions{FieldManager: fieldManager})
	switch {
	case err == nil:
		res.Result = rr.ResultCreated
		return res, w.restoreStatus(ctx, it, obj, created, keep)
	case !apierrors.IsAlreadyExists(err):
		return w.failed(res, err)
	}
	ex, err := ri.Get(ctx, it.name, metav1.GetOptions{})
	if err != nil {
		return w.failed(res, err)
	}
	probe := &item{info: it.info, obj: obj}
	d := w.rs.compare(probe, ex, keep)
	if len(d) == 0 {
		res.Result = rr.ResultUnchanged
		return res, nil
	}
	switch w.spec.ConflictPolicy {
	case rr.ConflictUpdate:
		applied, err := ri.Apply(ctx, it.name, obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
		if err != nil {
			return w.failed(res, err)
		}
		res.Result = rr.ResultUpdated
		return res, w.restoreStatus(ctx, it, obj, applied, keep)
	case rr.ConflictRecreate:
		uid := ex.GetUID()
		err := ri.Delete(ctx, it.name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) {
			return w.failed(res, err)
		}
		if err := waitGone(ctx, ri, it.name, uid); err != nil {
			return res, err
		}
		created, err := ri.Create(ctx, obj, metav1.CreateOptions{FieldManager: fieldManager})
		if err != nil {
			return w.failed(res, err)
		}
		res.Result = rr.ResultRecreated
		return res, w.restoreStatus(ctx, it, obj, created, keep)
	case rr.ConflictFail:
		res.Result, res.Reason = rr.ResultFailed, "exists with other content ("+strings.Join(d[:min(len(d), 10)], ", ")+") and spec.conflictPolicy is Fail"
		return res, nil
	}
	res.Result, res.Reason = rr.ResultSkipped, "exists with other content: "+strings.Join(d[:min(len(d), 10)], ", ")
	return res, nil
}

// failed records a definitive refusal as the object's failure; passing errors go back.
func (w *writer) failed(res rr.ObjectResult, err error) (rr.ObjectResult, error) {
	var appErr *temporal.ApplicationError
	if errors.As(classify(err), &appErr) && appErr.NonRetryable() {
		res.Result, res.Reason = rr.ResultFailed, apiMessage(err)
		return res, nil
	}
	return res, err
}

func apiMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return status.Status().Message
	}
	return err.Error()
}

// restoreStatus writes the stored status of a kind listed in spec.restoreStatus (the status
// subresource ignores it on create and apply).
func (w *writer) restoreStatus(ctx context.Context, it *item, obj, written *unstructured.Unstructured, keep bool) error {
	status, ok := obj.Object["status"]
	if !keep || !ok {
		return nil
	}
	up := written.DeepCopy()
	up.Object["status"] = status
	if _, err := w.resource(it).UpdateStatus(ctx, up, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// repoint returns the object to write with its owner references pointing at the owners' uids
// in the target; references to owners that are neither in the restore nor in the target are
// dropped (the garbage collector would delete an object whose owner does not exist).
func (w *writer) repoint(ctx context.Context, it *item) (*unstructured.Unstructured, error) {
	refs := it.obj.GetOwnerReferences()
	if len(refs) == 0 {
		return it.obj, nil
	}
	obj := it.obj.DeepCopy()
	var kept []metav1.OwnerReference
	for _, or := range refs {
		key := ownerKey(or.APIVersion, or.Kind, it.ns, or.Name)
		w.mu.Lock()
		uid, ok := w.uids[key]
		w.mu.Unlock()
		if !ok {
			gv, err := schema.ParseGroupVersion(or.APIVersion)
			if err != nil {
				continue
			}
			k, served := w.t.served[gk(gv.Group, or.Kind)]
			if !served {
				continue
			}
			r := w.rs.c.dyn.Resource(schema.GroupVersionResource{Group: gv.Group, Version: gv.Version, Resource: k.Resource})
			var ri dynamicResource = r
			if k.Namespaced {
				ri = r.Namespace(it.ns)
			}
			owner, err := ri.Get(ctx, or.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, err
			}
			uid = owner.GetUID()
			w.mu.Lock()
			w.uids[key] = uid
			w.mu.Unlock()
		}
		or.UID = uid
		kept = append(kept, or)
	}
	obj.SetOwnerReferences(kept)
	return obj, nil
}

// waitGone waits until the object with uid is deleted (finalizers may hold it a while).
func waitGone(ctx context.Context, ri dynamicResource, name string, uid types.UID) error {
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		u, err := ri.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		return u.GetUID() != uid, nil
	})
}

// waitEstablished waits until every CRD of the step is Established and discovery serves its
// kind, so the next steps' objects of those kinds are accepted at the first request.
func waitEstablished(ctx context.Context, c *clients, items []*item) error {
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, it := range items {
			crd, err := c.dyn.Resource(crdGVR).Get(ctx, it.name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if !established(crd) {
				return false, nil
			}
			g := crdGroupKind(crd)
			for _, v := range crdServed(crd) {
				gv := schema.GroupVersion{Group: g.Group, Version: v}.String()
				l, err := c.disc.ServerResourcesForGroupVersion(gv)
				if err != nil || !slices.ContainsFunc(l.APIResources, func(r metav1.APIResource) bool { return r.Kind == g.Kind }) {
					return false, nil
				}
			}
		}
		return true, nil
	})
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}
