package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"arkive.io/arkive/activities/backupstore"
	"arkive.io/arkive/activities/beat"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/resourcebackup"
)

// WarnUnencryptedSecrets is the warning every run of a backup storing Secrets in plain text
// reports.
const WarnUnencryptedSecrets = "Secrets are stored without encryption (spec.allowUnencryptedSecrets): give Storage %s an encryption key"

// selectedKind is one entry of spec.resources, resolved against the server.
type selectedKind struct {
	index int // into the snapshot index's kinds
	t     workflows.ResourceType
	info  archive.KindInfo
}

// Snapshot lists every selected object and stores a snapshot: chunks while listing, then the
// index, then the manifest naming it. A retry (same id) writes the same keys again; the
// manifest names the snapshot once.
func (a *Activities) Snapshot(ctx context.Context, in resourcebackup.SnapshotInput) (_ resourcebackup.SnapshotResult, err error) {
	defer func() { err = classify(err) }() // every failure leaves with a stable type
	c, err := a.clients()
	if err != nil {
		return resourcebackup.SnapshotResult{}, err
	}
	st, err := a.store(ctx, in.Connection)
	if err != nil {
		return resourcebackup.SnapshotResult{}, err
	}
	defer st.Close()
	sel := in.Spec.Selection
	f, err := newFilter("spec", sel)
	if err != nil {
		return resourcebackup.SnapshotResult{}, err
	}
	served, err := servedKinds(c.disc)
	if err != nil {
		return resourcebackup.SnapshotResult{}, err
	}
	crds, err := listCRDs(ctx, c.dyn)
	if err != nil {
		return resourcebackup.SnapshotResult{}, fmt.Errorf("list CRDs: %w", err)
	}
	ix := &archive.ResourceIndex{Format: archive.ResourceSnapshotFormat, ID: in.ID, Time: in.Time.UTC(),
		Kinds: []archive.KindInfo{namespaceKind, crdKind}}
	var kinds []selectedKind
	var secrets bool
	for i, t := range sel.Resources {
		info, ok := served[gk(t.Group, t.Kind)]
		if !ok {
			return resourcebackup.SnapshotResult{}, invalidf("spec.resources[%d]: the cluster serves no kind %s (check group and kind)", i, kindName(t.Group, t.Kind))
		}
		if !info.Namespaced && !in.Spec.IncludeClusterScoped {
			return resourcebackup.SnapshotResult{}, invalidf("spec.resources[%d]: %s is cluster-scoped: set spec.includeClusterScoped to back it up", i, kindName(t.Group, t.Kind))
		}
		info.CRD = crds[gk(t.Group, t.Kind)].name
		secrets = secrets || (t.Group == "" && t.Kind == "Secret")
		ix.Kinds = append(ix.Kinds, info)
		kinds = append(kinds, selectedKind{index: len(ix.Kinds) - 1, t: t, info: info})
	}
	// Checked here as well as by the operator: a worker never writes a Secret in plain text
	// because a spec slipped past one check.
	warning := ""
	if secrets && st.Key == nil {
		if !in.Spec.AllowUnencryptedSecrets {
			return resourcebackup.SnapshotResult{}, invalidf("spec.resources selects Secrets and Storage %s has no encryption: Secrets are never stored in plain text; "+
				"set spec.encryption on the Storage, or spec.allowUnencryptedSecrets", in.StorageName)
		}
		warning = fmt.Sprintf(WarnUnencryptedSecrets, in.StorageName)
	}
	namespaces, err := selectNamespaces(ctx, c, sel.Namespaces, sel.NamespaceSelector)
	if err != nil {
		return resourcebackup.SnapshotResult{}, err
	}
	prefix, err := st.Layout.Snapshot(in.ID)
	if err != nil {
		return resourcebackup.SnapshotResult{}, invalidf("%v", err)
	}
	var progress atomic.Int64
	stop := beat.Start(ctx, func() any {
		return resourcebackup.SnapshotProgress{Objects: int(progress.Load()), Chunks: ix.Chunks}
	})
	defer stop()
	w := archive.NewChunkWriter(ix, st.Key, func(n int, doc []byte) error {
		key := prefix + archive.ChunkName(n)
		if err := st.Put(ctx, key, doc); err != nil {
			return fmt.Errorf("write %s: %w", key, err)
		}
		return nil
	})
	add := func(kind int, info archive.KindInfo, u *unstructured.Unstructured) error {
		u.SetAPIVersion(info.APIVersion())
		u.SetKind(info.Kind)
		line, err := json.Marshal(u.Object)
		if err != nil {
			return err
		}
		progress.Add(1)
		return w.Add(kind, u.GetNamespace(), u.GetName(), line)
	}
	// The namespaces themselves (their labels and annotations), so a restore into a cluster
	// without them recreates them as they were; then the CRD of every custom kind selected.
	for _, ns := range namespaces {
		if err := add(0, namespaceKind, ns); err != nil {
			return resourcebackup.SnapshotResult{}, err
		}
	}
	for _, k := range kinds {
		if k.info.CRD == "" || slices.ContainsFunc(ix.Objects, func(o archive.ObjectEntry) bool { return o.Kind == 1 && o.Name == k.info.CRD }) {
			continue
		}
		crd, err := c.dyn.Resource(crdGVR).Get(ctx, k.info.CRD, metav1.GetOptions{})
		if err != nil {
			return resourcebackup.SnapshotResult{}, fmt.Errorf("read CRD %s: %w", k.info.CRD, err)
		}
		if err := add(1, crdKind, crd); err != nil {
			return resourcebackup.SnapshotResult{}, err
		}
	}
	selected, secretCount := 0, 0
	for _, k := range kinds {
		take := func(u *unstructured.Unstructured) error {
			if !f.takes(k.t.Group, k.t.Kind, u) || isServiceAccountToken(k.info, u) {
				return nil
			}
			selected++
			if k.info.Group == "" && k.info.Kind == "Secret" {
				secretCount++
			}
			return add(k.index, k.info, u)
		}
		scopes := []string{""}
		if k.info.Namespaced {
			scopes = namespaces2names(namespaces)
		}
		for _, ns := range scopes {
			ri := resourceIn(c, k.info, ns)
			if len(k.t.Names) == 0 {
				if err := listPages(ctx, ri, f.serverSelector(), take); err != nil {
					return resourcebackup.SnapshotResult{}, fmt.Errorf("list %s in %q: %w", kindName(k.info.Group, k.info.Kind), ns, err)
				}
				continue
			}
			for _, name := range k.t.Names {
				u, err := ri.Get(ctx, name, metav1.GetOptions{})
				if apierrors.IsNotFound(err) {
					continue // a named object that is not there (yet) is not an error: the others are taken
				}
				if err != nil {
					return resourcebackup.SnapshotResult{}, fmt.Errorf("read %s %s/%s: %w", kindName(k.info.Group, k.info.Kind), ns, name, err)
				}
				if err := take(u); err != nil {
					return resourcebackup.SnapshotResult{}, err
				}
			}
		}
	}
	if selected == 0 {
		return resourcebackup.SnapshotResult{}, invalidf("spec.resources: the selection matches no object in namespaces %v (check kinds, names and label selectors)", namespaces2names(namespaces))
	}
	if err := w.Flush(); err != nil {
		return resourcebackup.SnapshotResult{}, err
	}
	idx, err := archive.EncodeResourceIndex(ix, st.Key)
	if err != nil {
		return resourcebackup.SnapshotResult{}, err
	}
	if err := st.Put(ctx, prefix+archive.IndexName, idx); err != nil {
		return resourcebackup.SnapshotResult{}, fmt.Errorf("write %s: %w", prefix+archive.IndexName, err)
	}
	m, _, err := readManifest(ctx, st, in.Backup)
	if err != nil {
		return resourcebackup.SnapshotResult{}, err
	}
	ref := archive.ResourceSnapshotRef{ID: in.ID, Prefix: prefix, Time: ix.Time, Objects: len(ix.Objects), Chunks: ix.Chunks,
		Bytes: w.Bytes() + int64(len(idx)), Encrypted: st.Key != nil, Secrets: secretCount}
	if i := slices.IndexFunc(m.Snapshots, func(s archive.ResourceSnapshotRef) bool { return s.ID == in.ID }); i >= 0 {
		m.Snapshots[i] = ref
	} else {
		m.Snapshots = append(m.Snapshots, ref)
	}
	if err := writeManifest(ctx, st, m); err != nil {
		return resourcebackup.SnapshotResult{}, err
	}
	res := resourcebackup.SnapshotResult{ID: in.ID, Objects: ref.Objects, Secrets: secretCount, Bytes: ref.Bytes, Warning: warning}
	for _, s := range m.Snapshots {
		res.Snapshots = append(res.Snapshots, resourcebackup.SnapshotInfo{ID: s.ID, Time: s.Time})
	}
	return res, nil
}

// isServiceAccountToken: the cluster issues these itself; a restored one would hold a token
// for a ServiceAccount uid that no longer exists.
func isServiceAccountToken(info archive.KindInfo, u *unstructured.Unstructured) bool {
	if info.Group != "" || info.Kind != "Secret" {
		return false
	}
	t, _, _ := unstructured.NestedString(u.Object, "type")
	return t == string(corev1.SecretTypeServiceAccountToken)
}

// selectNamespaces reads the named namespaces and those the selector matches, sorted by name;
// a named namespace that does not exist is an error naming it.
func selectNamespaces(ctx context.Context, c *clients, names []string, selector string) ([]*unstructured.Unstructured, error) {
	ri := c.dyn.Resource(gvr(namespaceKind))
	var out []*unstructured.Unstructured
	for _, name := range names {
		ns, err := ri.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, invalidf("spec.namespaces: namespace %q does not exist", name)
		}
		if err != nil {
			return nil, fmt.Errorf("read namespace %s: %w", name, err)
		}
		out = append(out, ns)
	}
	if selector != "" {
		err := listPages(ctx, ri, selector, func(u *unstructured.Unstructured) error {
			if !slices.ContainsFunc(out, func(o *unstructured.Unstructured) bool { return o.GetName() == u.GetName() }) {
				out = append(out, u.DeepCopy())
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list namespaces matching %q: %w", selector, err)
		}
	}
	slices.SortFunc(out, func(a, b *unstructured.Unstructured) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out, nil
}

func namespaces2names(nss []*unstructured.Unstructured) []string {
	var out []string
	for _, ns := range nss {
		out = append(out, ns.GetName())
	}
	return out
}

// Prune removes snapshots from the manifest, then their objects (backupstore.PruneSnapshots).
func (a *Activities) Prune(ctx context.Context, in resourcebackup.PruneInput) (_ resourcebackup.PruneResult, err error) {
	defer func() { err = classify(err) }()
	st, err := a.store(ctx, in.Connection)
	if err != nil {
		return resourcebackup.PruneResult{}, err
	}
	defer st.Close()
	m, _, err := readManifest(ctx, st, in.Backup)
	if err != nil {
		return resourcebackup.PruneResult{}, err
	}
	n, err := backupstore.PruneSnapshots(ctx, st, &m.Snapshots, func(s archive.ResourceSnapshotRef) string { return s.ID },
		in.Drop, func() error { return writeManifest(ctx, st, m) })
	return resourcebackup.PruneResult{Deleted: n}, err
}
