package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"gocloud.dev/blob"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/registrytest"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/schemabackup"
	"arkive.io/arkive/workflows/schemarestore"
)

// The registry password the tests use; it must never appear in a workflow history.
const registryPassword = "sr-secret-password-7d3f"

// registryAPI writes to a registry with plain HTTP, as a user's tools would.
type registryAPI struct {
	t    *testing.T
	base string
	auth func(*http.Request)
}

func (r registryAPI) call(method, path string, body any) map[string]any {
	r.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, r.base+path, rd)
	require.NoError(r.t, err)
	req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	if r.auth != nil {
		r.auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(r.t, err)
	defer resp.Body.Close()
	var out any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	require.Equal(r.t, http.StatusOK, resp.StatusCode, "%s %s: %v", method, path, out)
	m, _ := out.(map[string]any)
	return m
}

func (r registryAPI) register(subject, schemaType, schema string, refs ...map[string]any) int {
	body := map[string]any{"schema": schema, "schemaType": schemaType}
	if len(refs) > 0 {
		body["references"] = refs
	}
	return int(r.call(http.MethodPost, "/subjects/"+url.PathEscape(subject)+"/versions", body)["id"].(float64))
}

func ref(name, subject string, version int) map[string]any {
	return map[string]any{"name": name, "subject": subject, "version": version}
}

func avro(name string, field int) string {
	return fmt.Sprintf(`{"type":"record","name":"%s","fields":[{"name":"f%d","type":"string"}]}`, name, field)
}

// populate fills a registry with what a real one holds after years of use: every schema type,
// references across subjects, soft-deleted versions and subjects, an id gap from a permanent
// delete, one schema under two subjects, subject configs and modes, a second context.
func populate(t *testing.T, r registryAPI, subjects int) {
	r.register("common-address", "AVRO", `{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"street","type":"string"}]}`)
	r.register("common-money", "JSON", `{"type":"object","properties":{"amount":{"type":"number"}}}`)
	r.register("common-ids.proto", "PROTOBUF", `syntax = "proto3"; package acme; message Id { string value = 1; }`)
	for i := range subjects {
		s := fmt.Sprintf("app-%03d-value", i)
		switch i % 3 {
		case 0:
			r.register(s, "AVRO", avro(fmt.Sprintf("R%d", i), 0))
			r.register(s, "AVRO", avro(fmt.Sprintf("R%d", i), 1))
			if i%6 == 0 {
				r.register(s, "AVRO", fmt.Sprintf(`{"type":"record","name":"R%d","fields":[{"name":"home","type":"com.acme.Address"}]}`, i),
					ref("com.acme.Address", "common-address", 1))
			}
		case 1:
			r.register(s, "JSON", fmt.Sprintf(`{"type":"object","properties":{"f%d":{"type":"string"}}}`, i))
			r.register(s, "JSON", fmt.Sprintf(`{"type":"object","properties":{"price":{"$ref":"money.json"},"n%d":{"type":"integer"}}}`, i),
				ref("money.json", "common-money", 1))
		case 2:
			r.register(s, "PROTOBUF", fmt.Sprintf(`syntax = "proto3"; message M%d { string f%d = 1; }`, i, i))
			r.register(s, "PROTOBUF", fmt.Sprintf(`syntax = "proto3"; import "common-ids.proto"; message M%d { acme.Id id = 1; }`, i),
				ref("common-ids.proto", "common-ids.proto", 1))
		}
		if i%10 == 0 {
			r.call(http.MethodDelete, "/subjects/"+s+"/versions/1", nil) // soft-deleted version
		}
		if i%7 == 0 {
			r.call(http.MethodPut, "/config/"+s, map[string]string{"compatibility": "FULL_TRANSITIVE"})
		}
		if i%25 == 0 {
			r.call(http.MethodPut, "/mode/"+s, map[string]string{"mode": "READONLY"})
		}
	}
	r.register("retired-value", "AVRO", avro("Retired", 0))
	r.register("retired-value", "AVRO", avro("Retired", 1))
	r.call(http.MethodDelete, "/subjects/retired-value", nil) // wholly soft-deleted subject
	r.register("gap-value", "AVRO", avro("Gap", 0))
	r.register("gap-value", "AVRO", avro("Gap", 1))
	r.call(http.MethodDelete, "/subjects/gap-value/versions/1", nil)
	r.call(http.MethodDelete, "/subjects/gap-value/versions/1?permanent=true", nil) // version and id gap
	shared := avro("Shared", 0)
	require.Equal(t, r.register("shared-a", "AVRO", shared), r.register("shared-b", "AVRO", shared), "one id for one schema")
	// Registered in the reverse of name order: a registry listing an id's users in registration
	// order lists shared-z first.
	late := avro("SharedLate", 0)
	require.Equal(t, r.register("shared-z", "AVRO", late), r.register("shared-c", "AVRO", late))
	r.register(":.staging:orders-value", "AVRO", avro("StagingOrder", 0))
	r.call(http.MethodPut, "/config", map[string]string{"compatibility": "FORWARD"})
}

// populateEveryField adds what newer registries hold beside schemas: versions with metadata
// and rule sets (and, on a registry that keeps them, a field Arkive does not know), subject
// configs with normalize, a compatibility group, default and override metadata and rule sets,
// the same globally, a subject in READONLY and, last, the whole registry in READONLY.
func populateEveryField(r registryAPI) {
	rules := func(name string) map[string]any {
		return map[string]any{"domainRules": []any{map[string]any{"name": name, "kind": "CONDITION", "mode": "WRITE", "type": "CEL", "expr": "size(message.f0) < 64"}}}
	}
	meta := func(owner string) map[string]any {
		return map[string]any{"properties": map[string]any{"owner": owner, "application.major.version": "2"}, "tags": map[string]any{"f0": []any{"PII"}}}
	}
	post := func(subject string, body map[string]any) {
		r.call(http.MethodPost, "/subjects/"+url.PathEscape(subject)+"/versions", body)
	}
	post("meta-value", map[string]any{"schema": avro("Meta", 0), "metadata": meta("team-a"), "ruleSet": rules("short")})
	post("meta-value", map[string]any{"schema": avro("Meta", 1), "metadata": meta("team-b")})
	// The same text with other metadata is another schema: a new id and version.
	post("meta-value", map[string]any{"schema": avro("Meta", 1), "metadata": meta("team-c"), "ruleSet": rules("other")})
	post("future-value", map[string]any{"schema": avro("Future", 0), "x-lineage": map[string]any{"source": "erp", "hops": 3}})
	r.call(http.MethodPut, "/config/meta-value", map[string]any{"compatibility": "BACKWARD", "normalize": true, "compatibilityGroup": "application.major.version"})
	r.call(http.MethodPut, "/config/future-value", map[string]any{"compatibility": "NONE", "defaultMetadata": meta("defaults"),
		"overrideRuleSet": rules("override"), "x-retention": "P30D"})
	r.call(http.MethodPut, "/config", map[string]any{"compatibility": "FULL", "normalize": true, "defaultMetadata": meta("global-default"),
		"overrideMetadata": meta("global-override"), "defaultRuleSet": rules("global-default"), "overrideRuleSet": rules("global-override")})
	r.call(http.MethodPut, "/mode/meta-value", map[string]string{"mode": "READONLY"})
	r.call(http.MethodPut, "/mode", map[string]string{"mode": "READONLY"})
}

type srBed struct {
	c       client.Client
	queue   string
	storage arkivev1.StorageSpec
	store   *blobstore.Store
	prefix  string
}

func newSRBed(t *testing.T, extra secrets.Map) *srBed {
	endpoint, id, secretKey := testenv.MinIOBucket(t, "arkive-schemas")
	sr := secrets.Map{"minio#AWS_ACCESS_KEY_ID": id, "minio#AWS_SECRET_ACCESS_KEY": secretKey,
		"sr-creds#username": "svc", "sr-creds#password": registryPassword}
	for k, v := range extra {
		sr[k] = v
	}
	c, queue := startWorker(t, sr)
	prefix := fmt.Sprintf("sr%d", time.Now().UnixNano())
	storage := arkivev1.StorageSpec{S3: &arkivev1.S3Storage{Bucket: "arkive-schemas", Endpoint: endpoint, ForcePathStyle: true,
		CredentialsSecret: &arkivev1.S3Credentials{Name: "minio"}}, Prefix: prefix}
	store, err := blobstore.Open(context.Background(), storage, sr)
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	return &srBed{c: c, queue: queue, storage: storage, store: store, prefix: prefix}
}

func registrySpec(url, secret string) arkivev1.SchemaRegistrySpec {
	spec := arkivev1.SchemaRegistrySpec{URLs: []string{url}}
	if secret != "" {
		spec.BasicAuth = &arkivev1.BasicAuth{SecretName: secret}
	}
	return spec
}

func (b *srBed) conn(t *testing.T, backup string, reg arkivev1.SchemaRegistrySpec) schemabackup.Connection {
	return schemabackup.Connection{Namespace: "default", Backup: backup, Registry: specJSON(t, reg), Storage: specJSON(t, b.storage)}
}

// startBackup starts a SchemaRegistryBackup workflow and cancels it when the test ends.
func (b *srBed) startBackup(t *testing.T, name string, reg arkivev1.SchemaRegistrySpec, spec schemabackup.Spec) string {
	wid := workflows.WorkflowID("SchemaRegistryBackup", "default", name+"-"+b.prefix)
	_, err := b.c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: wid, TaskQueue: b.queue}, schemabackup.WorkflowName,
		schemabackup.RunInput{Input: schemabackup.Input{Connection: b.conn(t, "default/"+name, reg), Spec: spec}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.c.CancelWorkflow(context.Background(), wid, "") })
	return wid
}

// snapshot starts an hourly SchemaRegistryBackup default/name of the registry at url and waits
// for its first snapshot.
func (b *srBed) snapshot(t *testing.T, name, url string) {
	wid := b.startBackup(t, name, registrySpec(url, ""), schemabackup.Spec{Enabled: true, Interval: time.Hour})
	waitForStatus(t, b.c, wid, func(s schemabackup.Status) bool { return s.LastSnapshot != "" })
}

// restore runs a SchemaRegistryRestore to its end and returns its status.
func (b *srBed) restore(t *testing.T, backup string, reg arkivev1.SchemaRegistrySpec, spec schemarestore.Spec) (schemarestore.Status, string, error) {
	wid := workflows.WorkflowID("SchemaRegistryRestore", "default", fmt.Sprintf("r%d", time.Now().UnixNano()))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run, err := b.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wid, TaskQueue: b.queue}, schemarestore.WorkflowName,
		schemarestore.Input{Connection: b.conn(t, backup, reg), Spec: spec})
	require.NoError(t, err)
	var st schemarestore.Status
	err = run.Get(ctx, &st)
	if err != nil {
		v, qerr := b.c.QueryWorkflow(ctx, wid, "", workflows.QueryStatus)
		require.NoError(t, qerr)
		require.NoError(t, v.Get(&st))
	}
	return st, wid, err
}

func (b *srBed) objects(t *testing.T, backup string) (manifest *archive.SchemaManifest, objects int) {
	layout, err := blobstore.Schemas(backup)
	require.NoError(t, err)
	raw, err := b.store.ReadAll(context.Background(), layout.Manifest())
	require.NoError(t, err)
	manifest, err = archive.UnmarshalSchemaManifest("manifest", raw)
	require.NoError(t, err)
	iter := b.store.List(&blob.ListOptions{Prefix: layout.Root() + "snapshots/"})
	for {
		obj, err := iter.Next(context.Background())
		if err != nil {
			break
		}
		if !obj.IsDir {
			objects++
		}
	}
	return manifest, objects
}

func dump(t *testing.T, base string, auth func(*http.Request)) *registrytest.Dump {
	d, err := registrytest.DumpAPI(base, auth)
	require.NoError(t, err)
	return d
}

func basicAuth(r *http.Request) { r.SetBasicAuth("svc", registryPassword) }

// writesTo counts the requests other than GET that registry r answers from now on.
func writesTo(r *registrytest.Server) *atomic.Int32 {
	var n atomic.Int32
	r.Fail = func(req *http.Request) int {
		if req.Method != http.MethodGet {
			n.Add(1)
		}
		return 0
	}
	return &n
}

// Acceptance #6.1, #6.2 and #6.5 (credentials), and issue 19's acceptances 3 and 4: a registry
// of more than 200 subjects, with metadata, rule sets, every config field and READONLY modes, is
// backed up through the workflow and restored into an empty registry with the same API dump;
// restoring again changes nothing; the registry password appears in neither history. Run
// against each way the test registry can answer as other registries do.
func TestSchemaRegistryBackupRestoreRoundTrip(t *testing.T) {
	for _, behaviour := range []struct {
		name string
		// registrationOrder: ids shared by several subjects list them as registered, not by
		// name; newer: the registry keeps fields Arkive does not know; noWildcard: it answers
		// the all-contexts listing with [].
		registrationOrder, newer, noWildcard bool
	}{
		{name: "registration-order-newer-fields", registrationOrder: true, newer: true},
		{name: "by-name"},
		{name: "no-wildcard", noWildcard: true},
	} {
		t.Run(behaviour.name, func(t *testing.T) {
			registry := func() *registrytest.Server {
				r := registrytest.New()
				r.RegistrationOrder, r.UnknownFields = behaviour.registrationOrder, behaviour.newer
				return r
			}
			// The dump reads with the wildcard, so it is answered for the dump only.
			dumpOf := func(r *registrytest.Server, url string, auth func(*http.Request)) *registrytest.Dump {
				r.NoWildcard.Store(false)
				defer r.NoWildcard.Store(behaviour.noWildcard)
				return dump(t, url, auth)
			}
			src := registry()
			src.Users = map[string]string{"svc": registryPassword}
			srcURL := src.Start(t)
			populate(t, registryAPI{t: t, base: srcURL, auth: basicAuth}, 240)
			populateEveryField(registryAPI{t: t, base: srcURL, auth: basicAuth})
			src.NoWildcard.Store(behaviour.noWildcard)
			before := dumpOf(src, srcURL, basicAuth)
			require.Equal(t, "READONLY", before.Mode)
			require.Equal(t, true, before.Config["normalize"], "the source holds global config fields")
			require.GreaterOrEqual(t, len(before.Subjects), 200)
			if behaviour.registrationOrder {
				lateID := 0
				for _, sub := range before.Subjects {
					if sub.Name == "shared-z" {
						lateID = sub.Versions[0].ID
					}
				}
				require.Equal(t, []registrytest.IDUser{{Subject: "shared-z", Version: 1}, {Subject: "shared-c", Version: 1}}, before.IDUsers[lateID],
					"the source lists the id's subjects in registration order, not by name")
			}

			b := newSRBed(t, nil)
			wid := b.startBackup(t, "orders", registrySpec(srcURL, "sr-creds"), schemabackup.Spec{Enabled: true, Interval: time.Hour})
			s := waitForStatus(t, b.c, wid, func(s schemabackup.Status) bool { return s.LastSnapshot != "" || s.Phase == schemabackup.PhaseError })
			require.Equal(t, schemabackup.PhaseRunning, s.Phase, "backup: %s %s", s.Reason, s.LastError)
			require.Equal(t, len(before.Subjects), s.Subjects)

			dst := registry()
			dst.NoWildcard.Store(behaviour.noWildcard)
			dstURL := dst.Start(t)
			st, rwid, err := b.restore(t, "default/orders", registrySpec(dstURL, ""), schemarestore.Spec{})
			require.NoError(t, err, "restore: %+v", st)
			require.Equal(t, schemarestore.PhaseDone, st.Phase)
			total := 0
			for _, sub := range before.Subjects {
				total += len(sub.Versions)
			}
			require.Equal(t, total, st.VersionsRestored, "every version registered")

			after := dumpOf(dst, dstURL, nil)
			require.Equal(t, before, after, "the restored registry's API dump differs from the source's")

			// Twice: nothing left to change, and nothing changes.
			st, _, err = b.restore(t, "default/orders", registrySpec(dstURL, ""), schemarestore.Spec{})
			require.NoError(t, err)
			require.Equal(t, schemarestore.PhaseDone, st.Phase)
			require.Equal(t, schemarestore.ReasonUnchanged, st.Reason)
			require.Zero(t, st.Plan.Changes())
			require.Equal(t, after, dumpOf(dst, dstURL, nil))

			requireNotInHistory(t, b.c, wid, "", registryPassword, `"basicAuth"`)
			requireNotInHistory(t, b.c, rwid, "", registryPassword, `"urls"`)
			if behaviour.registrationOrder {
				recordHistory(t, b.c, rwid, "schemaregistryrestore-round-trip")
			}
		})
	}
}

// Acceptance #6.3: an id the target uses for another schema, and a version whose id differs,
// are caught before anything is written, naming subject, version and id; the target is
// untouched. A dry run of a renamed subset shows its diff and writes nothing either.
func TestSchemaRegistryRestoreConflictsInPreflight(t *testing.T) {
	src := registrytest.New()
	srcURL := src.Start(t)
	api := registryAPI{t: t, base: srcURL}
	idA := api.register("orders-value", "AVRO", avro("Order", 0))
	idB := api.register("payments-value", "AVRO", avro("Payment", 0))
	b := newSRBed(t, nil)
	b.snapshot(t, "conflicts", srcURL)

	// The target: idA holds another schema; payments-value version 1 has another id.
	dst := registrytest.New()
	dstURL := dst.Start(t)
	tgt := registryAPI{t: t, base: dstURL}
	tgt.call(http.MethodPut, "/mode", map[string]string{"mode": "IMPORT"})
	tgt.call(http.MethodPost, "/subjects/inventory-value/versions", map[string]any{"schema": avro("Stock", 0), "id": idA, "version": 1})
	tgt.call(http.MethodPost, "/subjects/payments-value/versions", map[string]any{"schema": avro("Payment", 0), "id": idB + 100, "version": 1})
	tgt.call(http.MethodPut, "/mode", map[string]string{"mode": "READWRITE"})
	before := dump(t, dstURL, nil)

	st, _, err := b.restore(t, "default/conflicts", registrySpec(dstURL, ""), schemarestore.Spec{})
	require.Error(t, err)
	require.Equal(t, schemarestore.PhaseFailed, st.Phase)
	require.Equal(t, schemarestore.ErrConflict, st.Reason)
	require.Contains(t, st.LastError, fmt.Sprintf("schema id %d: the snapshot's subject orders-value version 1 has it", idA))
	require.Contains(t, st.LastError, "subject inventory-value version 1")
	require.Contains(t, st.LastError, fmt.Sprintf("subject payments-value version 1: the target has schema id %d", idB+100))
	require.Contains(t, st.LastError, fmt.Sprintf("the snapshot id %d", idB))
	require.Equal(t, before, dump(t, dstURL, nil), "a failed preflight wrote to the target")

	// A dry run against the same target ends the same way, but with its plan: the conflicts and
	// the diff of what does not conflict (issue 19: a dry run always shows its plan).
	st, _, err = b.restore(t, "default/conflicts", registrySpec(dstURL, ""), schemarestore.Spec{DryRun: true})
	require.Error(t, err)
	require.Equal(t, schemarestore.PhaseFailed, st.Phase)
	require.Equal(t, schemarestore.ErrConflict, st.Reason)
	require.NotNil(t, st.Plan, "a dry run that finds conflicts still shows its plan")
	require.Equal(t, 2, st.Plan.ConflictCount, "%q", st.Plan.Conflicts)
	require.Contains(t, strings.Join(st.Plan.Conflicts, "\n"), fmt.Sprintf("schema id %d", idA))
	require.Contains(t, strings.Join(st.Plan.Conflicts, "\n"), fmt.Sprintf("the snapshot id %d", idB))
	require.Contains(t, st.LastError, "preflight found 2 conflict(s)")
	require.Equal(t, before, dump(t, dstURL, nil), "a dry run wrote to the target")

	// A dry run of a renamed subset: the diff, and still nothing written.
	st, _, err = b.restore(t, "default/conflicts", registrySpec(dstURL, ""), schemarestore.Spec{Names: []string{"orders-value"},
		Renames: []schemarestore.Rename{{From: "orders-value", To: "orders-v2-value"}}, DryRun: true})
	require.Error(t, err, "the id is still taken under the new name")
	require.Contains(t, st.LastError, "orders-v2-value version 1")
	empty := registrytest.New()
	emptyURL := empty.Start(t)
	st, _, err = b.restore(t, "default/conflicts", registrySpec(emptyURL, ""), schemarestore.Spec{Names: []string{"orders-value"},
		Renames: []schemarestore.Rename{{From: "orders-value", To: "orders-v2-value"}}, DryRun: true})
	require.NoError(t, err)
	require.Equal(t, schemarestore.PhaseReady, st.Phase)
	require.Equal(t, schemarestore.ReasonDryRun, st.Reason)
	require.Contains(t, st.Plan.Diff, fmt.Sprintf("+ orders-v2-value version 1 (id %d, AVRO)", idA))
	require.Empty(t, dump(t, emptyURL, nil).Subjects, "a dry run wrote to the target")
}

// Acceptance #6.4 with the real activity: a trigger on an unchanged registry records the check
// but stores no object; a change stores one; keepLast prunes the oldest from manifest and storage.
func TestSchemaRegistryBackupStoresOnlyChanges(t *testing.T) {
	src := registrytest.New()
	srcURL := src.Start(t)
	api := registryAPI{t: t, base: srcURL}
	api.register("orders-value", "AVRO", avro("Order", 0))
	b := newSRBed(t, nil)
	wid := b.startBackup(t, "changes", registrySpec(srcURL, ""), schemabackup.Spec{Enabled: true, Interval: time.Hour, KeepLast: 2})
	s := waitForStatus(t, b.c, wid, func(s schemabackup.Status) bool { return s.Checks == 1 && s.LastSnapshot != "" })
	first := s.LastSnapshot

	trigger := func(checks int) schemabackup.Status {
		require.NoError(t, b.c.SignalWorkflow(context.Background(), wid, "", workflows.SignalTrigger, nil))
		return waitForStatus(t, b.c, wid, func(s schemabackup.Status) bool { return s.Checks == checks })
	}
	s = trigger(2)
	require.Equal(t, first, s.LastSnapshot, "unchanged registry: same snapshot")
	m, n := b.objects(t, "default/changes")
	require.Len(t, m.Snapshots, 1)
	require.Equal(t, 1, n, "unchanged registry: no new object")
	require.True(t, m.LastCheck.After(m.Snapshots[0].Time), "the check is recorded")

	for i, checks := range []int{3, 4} {
		api.register("orders-value", "AVRO", avro("Order", i+1))
		s = trigger(checks)
		require.NotEqual(t, first, s.LastSnapshot)
	}
	m, n = b.objects(t, "default/changes")
	require.Len(t, m.Snapshots, 2, "keepLast: 2")
	require.Equal(t, 2, n, "the pruned snapshot's object is deleted")
	require.NotEqual(t, first, m.Snapshots[0].ID, "the oldest went")
	require.Equal(t, s.LastSnapshot, m.Snapshots[1].ID)
	recordHistory(t, b.c, wid, "schemaregistrybackup-trigger-retention")
}

// Acceptance #6.5: a 401 is a permanent Error with a clear message after one request, not a
// retry loop; 503s are retried until the snapshot succeeds.
func TestSchemaRegistryUnauthorizedAndUnavailable(t *testing.T) {
	locked := registrytest.New()
	locked.Users = map[string]string{"svc": registryPassword}
	lockedURL := locked.Start(t)
	b := newSRBed(t, secrets.Map{"wrong#username": "svc", "wrong#password": "not-it"})
	wid := b.startBackup(t, "unauthorized", registrySpec(lockedURL, "wrong"), schemabackup.Spec{Enabled: true, Interval: time.Second})
	s := waitForStatus(t, b.c, wid, func(s schemabackup.Status) bool { return s.Phase == schemabackup.PhaseError })
	require.Equal(t, schemabackup.ErrUnauthorized, s.Reason)
	require.Contains(t, s.LastError, "the registry refused the credentials (read registry: GET /config: HTTP 401")
	require.Contains(t, s.LastError, "check spec.basicAuth or spec.bearerToken")
	require.EqualValues(t, 1, locked.Requests(), "a refused credential is not retried")
	require.NotContains(t, s.LastError, "not-it")

	flaky := registrytest.New()
	var armed atomic.Bool
	var failures atomic.Int32
	flaky.Fail = func(*http.Request) int {
		if armed.Load() && failures.Add(1) <= 4 {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	flakyURL := flaky.Start(t)
	registryAPI{t: t, base: flakyURL}.register("orders-value", "AVRO", avro("Order", 0))
	armed.Store(true)
	wid = b.startBackup(t, "unavailable", registrySpec(flakyURL, ""), schemabackup.Spec{Enabled: true, Interval: time.Hour})
	s = waitForStatus(t, b.c, wid, func(s schemabackup.Status) bool { return s.LastSnapshot != "" || s.Phase == schemabackup.PhaseError })
	require.Equal(t, schemabackup.PhaseRunning, s.Phase, "%s %s", s.Reason, s.LastError)
	require.Equal(t, 1, s.Subjects)
	require.GreaterOrEqual(t, failures.Load(), int32(5), "the 503s were answered and retried")
	require.True(t, strings.HasPrefix(s.LastSnapshot, "20"), s.LastSnapshot)
}

// Issue 22, point 6: a Schema Registry backup is Initializing until its first snapshot, and one
// whose registry is down for longer than the activity's own retries shows Retrying with the
// cause (not Error), then Running once the registry answers again.
func TestSchemaRegistryBackupInitializingAndRetrying(t *testing.T) {
	t.Parallel() // waits on intervals and timeouts, nearly idle: overlapped with the other waiting tests
	down := registrytest.New()
	var outage atomic.Bool
	down.Fail = func(*http.Request) int {
		if outage.Load() {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	url := down.Start(t)
	registryAPI{t: t, base: url}.register("orders-value", "AVRO", avro("Order", 0))
	outage.Store(true)
	b := newSRBed(t, nil)
	wid := b.startBackup(t, "outage", registrySpec(url, ""), schemabackup.Spec{Enabled: true, Interval: time.Hour})
	s := waitForStatus(t, b.c, wid, func(s schemabackup.Status) bool { return s.Reason == schemabackup.ReasonRetrying })
	require.Equal(t, schemabackup.PhaseInitializing, s.Phase, "no snapshot yet: %s", s.LastError)
	require.Contains(t, s.LastError, "503")
	require.Empty(t, s.LastSnapshot)
	outage.Store(false)
	s = waitForStatus(t, b.c, wid, func(s schemabackup.Status) bool { return s.LastSnapshot != "" })
	require.Equal(t, schemabackup.PhaseRunning, s.Phase)
	require.Empty(t, s.Reason)
	require.Empty(t, s.LastError)
	require.Equal(t, 1, s.Subjects)
}

// Issue 19, acceptance 5: a definitive refusal (422) fails the restore at once: one register
// request, no retries, the registry's own message in the status and a reason from the
// documented list, not a Go type name.
func TestSchemaRestoreRefusalFailsAtOnce(t *testing.T) {
	src := registrytest.New()
	srcURL := src.Start(t)
	registryAPI{t: t, base: srcURL}.register("orders-value", "AVRO", avro("Order", 0))
	b := newSRBed(t, nil)
	b.snapshot(t, "refused", srcURL)

	dst := registrytest.New()
	var registers atomic.Int32
	dst.Fail = func(r *http.Request) int {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/versions") {
			registers.Add(1)
			return http.StatusUnprocessableEntity
		}
		return 0
	}
	dstURL := dst.Start(t)
	started := time.Now()
	st, _, err := b.restore(t, "default/refused", registrySpec(dstURL, ""), schemarestore.Spec{})
	require.Error(t, err)
	require.Equal(t, schemarestore.PhaseFailed, st.Phase)
	require.EqualValues(t, 1, registers.Load(), "a refusal is not retried")
	require.Less(t, time.Since(started), 30*time.Second)
	require.Contains(t, []string{workflows.ErrConflict, workflows.ErrUnauthorized, workflows.ErrUnsupported, workflows.ErrRegistry}, st.Reason)
	require.Contains(t, st.LastError, "injected failure", "the registry's own message")
	require.Contains(t, st.LastError, "orders-value", "the subject")
}

// Issue 19, acceptances 1 and 2, against registries that answer the all-contexts listing ":*:"
// with [] (as some Confluent-compatible registries do): a registry with the default context and
// two named contexts is backed up completely and restored; restoring again writes nothing
// (Unchanged) and a dry run shows no change; a target that uses a snapshot id for another schema
// fails preflight at once, naming both subjects and the id, and writes nothing, also when it is
// already in IMPORT mode.
func TestSchemaRegistryWithoutWildcardAndWithContexts(t *testing.T) {
	src := registrytest.New()
	src.NoWildcard.Store(true)
	srcURL := src.Start(t)
	api := registryAPI{t: t, base: srcURL}
	idA := api.register("orders-value", "AVRO", avro("Order", 0))
	api.register(":.ctx1:orders-value", "AVRO", avro("OrderOne", 0))
	api.register(":.ctx2:payments-value", "AVRO", avro("PaymentTwo", 0))
	b := newSRBed(t, nil)
	wid := b.startBackup(t, "nowild", registrySpec(srcURL, ""), schemabackup.Spec{Enabled: true, Interval: time.Hour})
	s := waitForStatus(t, b.c, wid, func(s schemabackup.Status) bool { return s.LastSnapshot != "" || s.Phase == schemabackup.PhaseError })
	require.Equal(t, 3, s.Subjects, "every subject of every context: %s", s.LastError)

	dst := registrytest.New()
	dst.NoWildcard.Store(true)
	dstURL := dst.Start(t)
	writes := writesTo(dst)
	st, _, err := b.restore(t, "default/nowild", registrySpec(dstURL, ""), schemarestore.Spec{})
	require.NoError(t, err, "%s: %s", st.Reason, st.LastError)
	require.Equal(t, schemarestore.PhaseDone, st.Phase)
	require.Equal(t, 3, st.VersionsRestored)
	src.NoWildcard.Store(false)
	dst.NoWildcard.Store(false)
	require.Equal(t, dump(t, srcURL, nil), dump(t, dstURL, nil), "contexts included")
	dst.NoWildcard.Store(true)

	writes.Store(0)
	st, _, err = b.restore(t, "default/nowild", registrySpec(dstURL, ""), schemarestore.Spec{})
	require.NoError(t, err)
	require.Equal(t, schemarestore.PhaseDone, st.Phase)
	require.Equal(t, schemarestore.ReasonUnchanged, st.Reason)
	require.Zero(t, writes.Load(), "a second restore writes nothing")
	st, _, err = b.restore(t, "default/nowild", registrySpec(dstURL, ""), schemarestore.Spec{DryRun: true})
	require.NoError(t, err)
	require.Zero(t, st.Plan.Changes(), "a dry run against the restored target: %v", st.Plan.Diff)

	other := registrytest.New()
	other.NoWildcard.Store(true)
	otherURL := other.Start(t)
	tgt := registryAPI{t: t, base: otherURL}
	tgt.call(http.MethodPut, "/mode", map[string]string{"mode": "IMPORT"})
	tgt.call(http.MethodPost, "/subjects/inventory-value/versions", map[string]any{"schema": avro("Stock", 0), "id": idA, "version": 1})
	otherWrites := writesTo(other)
	started := time.Now()
	st, _, err = b.restore(t, "default/nowild", registrySpec(otherURL, ""), schemarestore.Spec{})
	require.Error(t, err)
	// At once, not after a retry pause (workflows.RetryPause, 30 s); the margin is for the
	// suite's load.
	require.Less(t, time.Since(started), 25*time.Second)
	require.Equal(t, schemarestore.ErrConflict, st.Reason)
	require.Contains(t, st.LastError, fmt.Sprintf("schema id %d", idA))
	require.Contains(t, st.LastError, "orders-value")
	require.Contains(t, st.LastError, "inventory-value")
	require.Zero(t, otherWrites.Load(), "a failed preflight writes nothing, IMPORT mode or not")
}

// Issue 19, acceptance 3, the other way round: a target already holding config fields that the
// snapshot's configs lack (set before any version, so the target counts as empty) ends with the
// snapshot's configs exactly, although a config write only merges; the global mode READONLY of
// the snapshot is restored last; and restoring again writes nothing.
func TestSchemaRestoreReplacesConfigFields(t *testing.T) {
	src := registrytest.New()
	srcURL := src.Start(t)
	api := registryAPI{t: t, base: srcURL}
	api.register("orders-value", "AVRO", avro("Order", 0))
	api.call(http.MethodPut, "/config/orders-value", map[string]any{"compatibility": "FULL", "normalize": true})
	api.call(http.MethodPut, "/config", map[string]any{"compatibility": "FORWARD"})
	api.call(http.MethodPut, "/mode", map[string]string{"mode": "READONLY"})
	b := newSRBed(t, nil)
	b.snapshot(t, "cfg", srcURL)

	dst := registrytest.New()
	dstURL := dst.Start(t)
	tgt := registryAPI{t: t, base: dstURL}
	tgt.call(http.MethodPut, "/config/orders-value", map[string]any{"compatibility": "NONE", "compatibilityGroup": "app.version", "normalize": false})
	tgt.call(http.MethodPut, "/config", map[string]any{"compatibility": "BACKWARD", "defaultMetadata": map[string]any{"properties": map[string]any{"owner": "x"}}})
	st, _, err := b.restore(t, "default/cfg", registrySpec(dstURL, ""), schemarestore.Spec{})
	require.NoError(t, err, "%s: %s", st.Reason, st.LastError)
	require.Equal(t, schemarestore.PhaseDone, st.Phase)
	want := dump(t, srcURL, nil)
	require.Equal(t, "READONLY", want.Mode)
	require.Equal(t, want, dump(t, dstURL, nil))

	writes := writesTo(dst)
	st, _, err = b.restore(t, "default/cfg", registrySpec(dstURL, ""), schemarestore.Spec{})
	require.NoError(t, err)
	require.Equal(t, schemarestore.ReasonUnchanged, st.Reason, "%v", st.Plan.Diff)
	require.Zero(t, writes.Load())
}
