package backupstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"arkive.io/arkive/activities/backupstore"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/backups"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/catalog"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/workflows"
)

func appType(t *testing.T, err error) (string, bool) {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v is classified", err)
	return appErr.Type(), appErr.NonRetryable()
}

// Both manifests are read by one reader: absent is nil without error, one that does not parse
// is a corrupt manifest, never retried; a storage that cannot be reached stays retryable.
func TestManifestsReadAndClassified(t *testing.T) {
	ctx := context.Background()
	store := blobstore.OpenMem()
	kl, err := blobstore.Kafka("ns/orders")
	require.NoError(t, err)
	sl, err := blobstore.Schemas("ns/schemas")
	require.NoError(t, err)

	km, err := catalog.Read(ctx, store, kl)
	require.NoError(t, err)
	require.Nil(t, km)
	sm, err := backups.SchemaManifest(ctx, store, sl)
	require.NoError(t, err)
	require.Nil(t, sm)

	data, err := archive.MarshalManifest(&archive.Manifest{Version: archive.ManifestVersion, Backup: "ns/orders", Generation: 3})
	require.NoError(t, err)
	require.NoError(t, store.Put(ctx, kl.Manifest(), data))
	km, err = catalog.Read(ctx, store, kl)
	require.NoError(t, err)
	require.Equal(t, int64(3), km.Generation)

	for key, read := range map[string]func() error{
		kl.Manifest(): func() error { _, err := catalog.Read(ctx, store, kl); return err },
		sl.Manifest(): func() error { _, err := backups.SchemaManifest(ctx, store, sl); return err },
	} {
		require.NoError(t, store.Put(ctx, key, []byte("{not json")))
		err := read()
		var corrupt *backups.CorruptError
		require.ErrorAs(t, err, &corrupt, key)
		typ, permanent := appType(t, backupstore.Classify(err))
		require.Equal(t, workflows.ErrCorruptManifest, typ)
		require.True(t, permanent)
	}
	passing := errors.New("connection refused")
	require.Equal(t, passing, backupstore.Classify(passing), "a passing cause stays retryable")
}

// Opening names what is wrong with the spec, never retried.
func TestOpenRefusesBadSpecs(t *testing.T) {
	ctx := context.Background()
	none := secrets.Map{}
	_, err := backupstore.Open(ctx, json.RawMessage(`{"volume": 7}`), "ns/b", blobstore.Kafka, none, false)
	typ, permanent := appType(t, err)
	require.Equal(t, workflows.ErrInvalidSpec, typ)
	require.True(t, permanent)
	require.ErrorContains(t, err, "storage spec")

	spec, err := json.Marshal(arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: t.TempDir()},
		Encryption: &arkivev1.StorageEncryption{KeySecret: arkivev1.SecretKeyRef{Name: "k", Key: "key"}}})
	require.NoError(t, err)
	_, err = backupstore.Open(ctx, spec, "ns/b", blobstore.Kafka, none, true)
	typ, _ = appType(t, err)
	require.Equal(t, workflows.ErrInvalidSpec, typ, "a missing key Secret: %v", err)
	st, err := backupstore.Open(ctx, spec, "ns/b", blobstore.Kafka, none, false)
	require.NoError(t, err, "what does not need the key does not read it")
	require.Nil(t, st.Key)
	require.NoError(t, st.Close())
	_, err = backupstore.Open(ctx, spec, "../escape", blobstore.Kafka, none, false)
	typ, _ = appType(t, err)
	require.Equal(t, workflows.ErrInvalidSpec, typ, "a backup name the layout refuses: %v", err)
}
