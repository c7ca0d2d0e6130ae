package schemaregistry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/errgroup"

	"arkive.io/arkive/activities/backupstore"
	"arkive.io/arkive/activities/beat"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/backups"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/workflows/check"
	"arkive.io/arkive/workflows/schemabackup"
)

// DefaultConcurrency is how many registry requests one activity keeps in flight.
const DefaultConcurrency = 16

// Activities are the Schema Registry activities; the worker registers one value.
type Activities struct {
	// Secrets returns the resolver for a resource's namespace.
	Secrets func(namespace string) secrets.Resolver
	// Concurrency bounds parallel requests per activity; 0 means DefaultConcurrency.
	Concurrency int
}

func (a *Activities) concurrency() int {
	if a.Concurrency > 0 {
		return a.Concurrency
	}
	return DefaultConcurrency
}

// classify turns causes into the stable error types the workflows act on and the status shows
// (never a Go type name). Messages name what to fix; they never hold a credential (the client
// keeps those out of errors).
//   - the registry refused the credentials: Unauthorized, not retried;
//   - any other definitive answer (a 4xx other than 408 and 429): not retried, as Conflict
//     (409), Unsupported (the registry lacks the endpoint or method) or RegistryError, with
//     the registry's own message;
//   - a missing Secret: InvalidSpec; storage refusals and corrupt manifests: as backupstore
//     classifies them;
//   - anything else (5xx, 429, connection failures) is retried, as RegistryError or, for
//     storage, StorageError.
func classify(err error) error {
	var appErr *temporal.ApplicationError
	var ae *APIError
	switch {
	case err == nil, errors.As(err, &appErr), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case IsUnauthorized(err):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"the registry refused the credentials (%v): check spec.basicAuth or spec.bearerToken of the SchemaRegistry and its Secret", err),
			schemabackup.ErrUnauthorized, nil)
	case errors.As(err, &ae) && ae.Status/100 == 4 && ae.Status != http.StatusRequestTimeout && ae.Status != http.StatusTooManyRequests:
		return temporal.NewNonRetryableApplicationError("the registry refused "+err.Error(), refusal(ae), nil)
	case errors.Is(err, secrets.ErrNotFound):
		return backupstore.Invalid(err)
	case errors.As(err, &ae):
		return temporal.NewApplicationError(err.Error(), schemabackup.ErrRegistry)
	}
	if err = backupstore.Classify(err); errors.As(err, &appErr) {
		return err
	}
	if blobstore.IsStorageError(err) {
		return temporal.NewApplicationError(err.Error(), schemabackup.ErrStorage)
	}
	return temporal.NewApplicationError(err.Error(), schemabackup.ErrRegistry)
}

// refusal is the error type of a definitive answer.
func refusal(ae *APIError) string {
	switch {
	case ae.Status == http.StatusConflict:
		return schemabackup.ErrConflict
	case ae.Status == http.StatusMethodNotAllowed, ae.Status == http.StatusNotFound && ae.Code/100 != http.StatusNotFound:
		// A 404 without one of the API's own 404xx codes: the endpoint itself is missing.
		return schemabackup.ErrUnsupported
	}
	return schemabackup.ErrRegistry
}

// client opens the registry a connection names.
func (a *Activities) client(ctx context.Context, conn schemabackup.Connection) (*Client, error) {
	var spec arkivev1.SchemaRegistrySpec
	if err := json.Unmarshal(conn.Registry, &spec); err != nil {
		return nil, backupstore.Invalid(fmt.Errorf("registry spec: %w", err))
	}
	c, err := NewClient(ctx, spec, a.Secrets(conn.Namespace), a.concurrency())
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, backupstore.Invalid(err) // a bad URL, TLS setting or missing Secret: fix the spec
	}
	return c, nil
}

// backupStore is where a backup's snapshots live.
type backupStore = backupstore.Backup[blobstore.SchemaLayout]

func (a *Activities) store(ctx context.Context, conn schemabackup.Connection) (*backupStore, error) {
	st, err := backupstore.Open(ctx, conn.Storage, conn.Backup, blobstore.Schemas, a.Secrets(conn.Namespace), true)
	return st, classify(err)
}

// readManifest reads the backup's manifest; a backup that has none yet has an empty one (found false).
func readManifest(ctx context.Context, s *backupStore, backup string) (*archive.SchemaManifest, bool, error) {
	m, err := backups.SchemaManifest(ctx, s.Store, s.Layout)
	if m == nil && err == nil {
		return &archive.SchemaManifest{Format: archive.SchemaManifestFormat, Backup: backup}, false, nil
	}
	return m, m != nil, classify(err)
}

func writeManifest(ctx context.Context, s *backupStore, m *archive.SchemaManifest) error {
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	return classify(s.Put(ctx, s.Layout.Manifest(), b))
}

// heartbeat reports n (requests done) every few seconds until stop is called.
func heartbeat(ctx context.Context, n *atomic.Int64) (stop func()) {
	return beat.Start(ctx, func() any { return n.Load() })
}

// Read reads a whole registry: global settings, contexts, and every subject of every context
// with every version (soft-deleted ones flagged, every field of the answer kept) and its own
// settings. A version is marked
// deleted when the registry lists it only with ?deleted=true, which every compatible registry
// does, so no vendor-specific field is needed. Subjects are read concurrently.
func Read(ctx context.Context, c *Client, concurrency int, done *atomic.Int64) (*archive.SchemaSnapshot, error) {
	snap := &archive.SchemaSnapshot{Format: archive.SchemaSnapshotFormat}
	var err error
	if snap.Compatibility, snap.Config, err = c.Config(ctx, ""); err != nil {
		return nil, err
	}
	if snap.Mode, err = c.Mode(ctx, ""); err != nil {
		return nil, err
	}
	if snap.Contexts, err = c.Contexts(ctx); err != nil {
		return nil, err
	}
	names, err := c.AllSubjects(ctx, snap.Contexts, true)
	if err != nil {
		return nil, err
	}
	if snap.Subjects, err = readSubjects(ctx, c, names, false, concurrency, done); err != nil {
		return nil, err
	}
	return snap, rankSharedIDs(ctx, c, snap, concurrency)
}

// rankSharedIDs records, for every id that several live subject versions share, the order in
// which the registry lists them (registration order in most registries), so a restore can
// register them in that order and the target lists them the same way. Only the default
// context: each context numbers its ids on its own, and the plain listing is the default's.
func rankSharedIDs(ctx context.Context, c *Client, snap *archive.SchemaSnapshot, concurrency int) error {
	type at struct{ s, v int }
	users := map[int][]at{}
	for si, sub := range snap.Subjects {
		if strings.HasPrefix(sub.Name, contextPrefix) {
			continue
		}
		for vi, v := range sub.Versions {
			if !v.Deleted {
				users[v.ID] = append(users[v.ID], at{si, vi})
			}
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(concurrency, 1))
	var mu sync.Mutex
	for id, list := range users {
		if len(list) < 2 {
			continue
		}
		g.Go(func() error {
			listed, err := c.SchemaUsers(gctx, id)
			if err != nil {
				return fmt.Errorf("list the subjects of schema id %d: %w", id, err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, a := range list {
				sv := &snap.Subjects[a.s].Versions[a.v]
				sv.IDRank = slices.IndexFunc(listed, func(u SubjectVersion) bool {
					return u.Subject == snap.Subjects[a.s].Name && u.Version == sv.Version
				}) + 1 // 0 when the listing does not name it (changed meanwhile)
			}
			return nil
		})
	}
	return g.Wait()
}

// readSubjects reads the named subjects, at most concurrency at once, in the order given; with
// settingsOnly just their config and mode. A subject that does not exist comes back with no
// versions.
func readSubjects(ctx context.Context, c *Client, names []string, settingsOnly bool, concurrency int, done *atomic.Int64) ([]archive.SubjectSnapshot, error) {
	out := make([]archive.SubjectSnapshot, len(names))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(concurrency, 1))
	for i, name := range names {
		g.Go(func() error {
			s, err := readSubject(gctx, c, name, settingsOnly)
			out[i] = s
			if done != nil {
				done.Add(1)
			}
			return err
		})
	}
	return out, g.Wait()
}

func readSubject(ctx context.Context, c *Client, name string, settingsOnly bool) (archive.SubjectSnapshot, error) {
	s := archive.SubjectSnapshot{Name: name}
	var all, live []int
	var err error
	if !settingsOnly {
		if all, err = c.Versions(ctx, name, true); err != nil {
			return s, err
		}
		if live, err = c.Versions(ctx, name, false); err != nil {
			return s, err
		}
	}
	for _, v := range all {
		got, err := c.GetVersion(ctx, name, v)
		if isCode(err, codeVersionNotFound, codeSubjectNotFound) {
			continue // deleted permanently meanwhile
		}
		if err != nil {
			return s, err
		}
		sv := archive.SchemaVersion{Version: got.Version, ID: got.ID, Type: got.SchemaType, Schema: got.Schema, Deleted: !slices.Contains(live, v),
			Fields: got.Fields}
		for _, r := range got.References {
			sv.References = append(sv.References, archive.SchemaReference{Name: r.Name, Subject: r.Subject, Version: r.Version})
		}
		s.Versions = append(s.Versions, sv)
	}
	if s.Compatibility, s.Config, err = c.Config(ctx, name); err != nil {
		return s, err
	}
	s.Mode, err = c.Mode(ctx, name)
	return s, err
}

// open connects to the registry and opens the backup's storage; close both when done.
func (a *Activities) open(ctx context.Context, conn schemabackup.Connection) (*Client, *backupStore, error) {
	c, err := a.client(ctx, conn)
	if err != nil {
		return nil, nil, err
	}
	st, err := a.store(ctx, conn)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, st, nil
}

// Snapshot reads the registry and stores a snapshot, unless it holds what the newest stored
// snapshot holds (same content hash): then only the manifest's lastCheck moves. The object is
// written before the manifest names it, so a crash in between leaves an object no one reads,
// and the retry (same id from the workflow) overwrites it.
func (a *Activities) Snapshot(ctx context.Context, in schemabackup.SnapshotInput) (_ schemabackup.SnapshotResult, err error) {
	defer func() { err = classify(err) }() // every failure leaves with a stable type
	c, st, err := a.open(ctx, in.Connection)
	if err != nil {
		return schemabackup.SnapshotResult{}, err
	}
	defer c.Close()
	defer st.Close()
	var done atomic.Int64
	stop := heartbeat(ctx, &done)
	snap, err := Read(ctx, c, a.concurrency(), &done)
	stop()
	if err != nil {
		return schemabackup.SnapshotResult{}, classify(fmt.Errorf("read registry: %w", err))
	}
	snap.ID, snap.Time = in.ID, in.Time.UTC()
	doc, hash, err := snap.Marshal()
	if err != nil {
		return schemabackup.SnapshotResult{}, err
	}
	m, _, err := readManifest(ctx, st, in.Backup)
	if err != nil {
		return schemabackup.SnapshotResult{}, err
	}
	subjects, versions := snap.Counts()
	res := schemabackup.SnapshotResult{Subjects: subjects, Versions: versions}
	switch newest := m.Newest(); {
	case m.Find(in.ID) != nil: // a retry of a snapshot that was stored
		res.Stored, res.ID = true, in.ID
	case newest != nil && newest.Hash == hash:
		res.ID = newest.ID
	default:
		key, err := st.Layout.Snapshot(in.ID)
		if err != nil {
			return res, backupstore.Invalid(err)
		}
		obj, err := archive.EncodeDocument(doc, st.Key)
		if err != nil {
			return res, err
		}
		if err := st.Put(ctx, key, obj); err != nil {
			return res, classify(fmt.Errorf("write %s: %w", key, err))
		}
		m.Snapshots = append(m.Snapshots, archive.SnapshotRef{ID: in.ID, Key: key, Time: snap.Time, Hash: hash,
			Subjects: subjects, Versions: versions, Bytes: int64(len(obj))})
		res.Stored, res.ID = true, in.ID
	}
	if in.Time.After(m.LastCheck) {
		m.LastCheck = in.Time.UTC()
	}
	if err := writeManifest(ctx, st, m); err != nil {
		return res, err
	}
	for _, s := range m.Snapshots {
		res.Snapshots = append(res.Snapshots, schemabackup.SnapshotInfo{ID: s.ID, Time: s.Time})
	}
	return res, nil
}

// Prune removes snapshots from the manifest first, then deletes their objects: a crash in
// between leaves objects no manifest names, never a manifest naming a missing object. The
// newest snapshot is never removed.
func (a *Activities) Prune(ctx context.Context, in schemabackup.PruneInput) (_ schemabackup.PruneResult, err error) {
	defer func() { err = classify(err) }() // every failure leaves with a stable type
	st, err := a.store(ctx, in.Connection)
	if err != nil {
		return schemabackup.PruneResult{}, err
	}
	defer st.Close()
	m, _, err := readManifest(ctx, st, in.Backup)
	if err != nil {
		return schemabackup.PruneResult{}, err
	}
	var keep, drop []archive.SnapshotRef
	for i, s := range m.Snapshots {
		if slices.Contains(in.Drop, s.ID) && i != len(m.Snapshots)-1 {
			drop = append(drop, s)
		} else {
			keep = append(keep, s)
		}
	}
	m.Snapshots = keep
	if len(drop) > 0 {
		if err := writeManifest(ctx, st, m); err != nil {
			return schemabackup.PruneResult{}, err
		}
	}
	// Objects of ids asked for but already gone from the manifest (a retry) are deleted too.
	for _, id := range in.Drop {
		if m.Find(id) != nil {
			continue
		}
		key, err := st.Layout.Snapshot(id)
		if err != nil {
			continue
		}
		if err := st.Delete(ctx, key); err != nil && !blobstore.IsNotFound(err) {
			return schemabackup.PruneResult{}, classify(fmt.Errorf("delete %s: %w", key, err))
		}
	}
	return schemabackup.PruneResult{Deleted: len(drop)}, nil
}

// Check reads the registry's global config with the configured credentials: the cheapest
// request that proves the URL, TLS and credentials work.
func (a *Activities) Check(ctx context.Context, in check.Input) (check.Result, error) {
	now := time.Now().UTC()
	c, err := a.client(ctx, schemabackup.Connection{Namespace: in.Namespace, Registry: in.Spec})
	if err != nil {
		return check.Result{Message: err.Error(), CheckedAt: now}, nil
	}
	defer c.Close()
	level, err := c.Compatibility(ctx, "")
	if err != nil {
		var appErr *temporal.ApplicationError
		if errors.As(classify(err), &appErr) {
			return check.Result{Message: appErr.Message(), CheckedAt: now}, nil
		}
		return check.Result{Message: err.Error(), CheckedAt: now}, nil
	}
	return check.Result{OK: true, Message: "registry answered; global compatibility " + level, CheckedAt: now}, nil
}
