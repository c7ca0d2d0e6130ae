package schemaregistry

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"go.temporal.io/sdk/activity"

	"arkive.io/arkive/activities/backupstore"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/workflows/kafkarestore"
)

// inlineIDs is the largest id map that travels inline with every stream of a restore; a larger
// one is stored in the Kafka backup's storage and read by key (a workflow's history carries
// a stream's input at each of its starts).
const inlineIDs = 512

// RemapSchemas registers every schema version of a snapshot's default context (the ids records
// carry) in the target registry under its subject, references first and each subject's
// versions in order, and returns the map from each snapshot id to the target's id for the same
// schema. A schema the target already holds under that subject keeps its id (registration is
// idempotent, so a retry changes nothing). A version the snapshot holds soft-deleted is
// registered, so records written while it was live can be read, and soft-deleted again when
// the target did not hold it before. A dry run reads the snapshot and registers nothing.
func (a *Activities) RemapSchemas(ctx context.Context, in kafkarestore.RemapInput) (_ kafkarestore.SchemaIDs, err error) {
	defer func() { err = classify(err) }()
	c, st, err := a.open(ctx, in.Remap.RegistryConnection)
	if err != nil {
		return kafkarestore.SchemaIDs{}, err
	}
	defer c.Close()
	defer st.Close()
	var done atomic.Int64
	defer heartbeat(ctx, &done)()
	snap, err := a.loadSnapshot(ctx, st, "spec.schemaRegistry.source", in.Remap.Backup, in.Remap.Snapshot)
	if err != nil {
		return kafkarestore.SchemaIDs{}, err
	}
	p := &restorePlan{versions: map[vkey]archive.SchemaVersion{}}
	referenced := map[vkey]bool{} // versions others import: their number in the target is needed
	ids := map[int]bool{}
	for _, s := range snap.Subjects {
		if strings.HasPrefix(s.Name, contextPrefix) {
			continue // another context: its ids are not the ones records carry
		}
		for _, v := range s.Versions {
			k := vkey{s.Name, v.Version}
			p.register = append(p.register, k)
			p.versions[k] = v
			ids[v.ID] = true
			for _, r := range v.References {
				referenced[vkey{r.Subject, r.Version}] = true
			}
		}
	}
	res := kafkarestore.SchemaIDs{Snapshot: snap.ID, Count: len(ids)}
	if in.DryRun {
		return res, nil
	}
	p.order()
	m := &remap{c: c, target: map[vkey]int{}, ids: map[int32]int32{}}
	for _, k := range p.register {
		v := p.versions[k]
		if err := m.register(ctx, k, v, referenced[k] || v.Deleted); err != nil {
			return res, err
		}
		res.Versions++
		done.Add(1)
	}
	// Soft-deletes last, referrers first: a version may be imported by one registered after it.
	for _, k := range slices.Backward(m.deleted) {
		if err := c.DeleteVersion(ctx, k.subject, k.version); err != nil && !isCode(err, codeReferenceExists) {
			return res, fmt.Errorf("soft-delete %s version %d again: %w", k.subject, k.version, err)
		}
	}
	for src, dst := range m.ids {
		res.Pairs = append(res.Pairs, [2]int32{src, dst})
	}
	slices.SortFunc(res.Pairs, func(a, b [2]int32) int { return cmp.Compare(a[0], b[0]) })
	if len(res.Pairs) <= inlineIDs || !activity.IsActivity(ctx) {
		return res, nil
	}
	return a.storeIDs(ctx, in.Kafka, activity.GetInfo(ctx).WorkflowExecution.ID, res)
}

// remap registers a snapshot's versions in a target registry, learning the target's ids and,
// where needed, version numbers.
type remap struct {
	c      *Client
	target map[vkey]int    // snapshot version → the target's version number (where learnt)
	ids    map[int32]int32 // snapshot id → target id
	// deleted are versions the snapshot holds soft-deleted that this restore added.
	deleted []vkey
}

// register registers one version (its references pointing at the target's numbers) and
// records its target id; learn also finds its target version number. A version the snapshot
// holds soft-deleted is looked up first, soft-deleted ones included: registering it again
// would add a version where an earlier restore left one.
func (m *remap) register(ctx context.Context, k vkey, v archive.SchemaVersion, learn bool) error {
	req := RegisterRequest{Schema: v.Schema, SchemaType: v.Type, Fields: v.Fields}
	for _, r := range v.References {
		version := r.Version
		if n, ok := m.target[vkey{r.Subject, r.Version}]; ok {
			version = n
		}
		req.References = append(req.References, Reference{Name: r.Name, Subject: r.Subject, Version: version})
	}
	var id, version int
	found := false
	var err error
	if v.Deleted {
		if id, version, found, err = m.c.Lookup(ctx, k.subject, req, true); err != nil {
			return fmt.Errorf("look up %s version %d (snapshot id %d) in the target registry: %w", k.subject, k.version, v.ID, err)
		}
	}
	if !found {
		if id, err = m.c.Register(ctx, k.subject, req); err != nil {
			return fmt.Errorf("register %s version %d (snapshot id %d) in the target registry: %w", k.subject, k.version, v.ID, err)
		}
		if learn {
			if _, version, found, err = m.c.Lookup(ctx, k.subject, req, false); err != nil {
				return fmt.Errorf("look up %s version %d (snapshot id %d) in the target registry: %w", k.subject, k.version, v.ID, err)
			}
			if !found {
				return fmt.Errorf("the target registry registered %s version %d (snapshot id %d) as id %d but does not find it under the subject", k.subject, k.version, v.ID, id)
			}
			if v.Deleted {
				m.deleted = append(m.deleted, vkey{k.subject, version})
			}
		}
	}
	if _, ok := m.ids[int32(v.ID)]; !ok {
		m.ids[int32(v.ID)] = int32(id)
	}
	if version > 0 {
		m.target[k] = version
	}
	return nil
}

// storeIDs writes a large map to the Kafka backup's storage and returns it by key. Storage
// this restore may only read carries the map inline: larger histories, the same result.
func (a *Activities) storeIDs(ctx context.Context, conn kafkarestore.Connection, restore string, res kafkarestore.SchemaIDs) (kafkarestore.SchemaIDs, error) {
	st, err := backupstore.Open(ctx, conn.Storage, conn.Backup, blobstore.Kafka, a.Secrets(conn.Namespace), false)
	if err != nil {
		return res, err
	}
	defer st.Close()
	data, err := json.Marshal(res.Pairs)
	if err != nil {
		return res, err
	}
	key := st.Layout.SchemaIDMap(restore)
	if err := st.Put(ctx, key, data); err != nil {
		if blobstore.IsAccessDenied(err) {
			return res, nil
		}
		return res, fmt.Errorf("store the schema id map as %s: %w", key, err)
	}
	res.Pairs, res.Key = nil, key
	return res, nil
}
