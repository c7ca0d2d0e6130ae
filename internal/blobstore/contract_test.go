package blobstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"
	"google.golang.org/api/option"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
)

// runPrefix isolates this run's objects on servers that keep data between runs.
func runPrefix(t *testing.T) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return fmt.Sprintf("contract-%x", b)
}

const testBucket = "arkive-contract"

// backends opens every storage backend Arkive supports, each from a Storage spec as a user
// would write it, with a fresh prefix.
func backends(t *testing.T) map[string]func(t *testing.T) *blobstore.Store {
	ctx := context.Background()
	open := func(t *testing.T, spec arkivev1.StorageSpec, secrets blobstore.SecretResolver) *blobstore.Store {
		spec.Prefix = runPrefix(t)
		s, err := blobstore.Open(ctx, spec, secrets)
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	return map[string]func(t *testing.T) *blobstore.Store{
		"mem": func(t *testing.T) *blobstore.Store { return blobstore.OpenMem() },
		"file": func(t *testing.T) *blobstore.Store {
			return open(t, arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: t.TempDir()}}, nil)
		},
		"minio": func(t *testing.T) *blobstore.Store {
			endpoint, id, secret := testenv.MinIO(t)
			s3c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
				Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
					return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}, nil
				})})
			_, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(testBucket)})
			var owned interface{ ErrorCode() string }
			if err != nil && !(errors.As(err, &owned) && owned.ErrorCode() == "BucketAlreadyOwnedByYou") {
				require.NoError(t, err, "create MinIO bucket")
			}
			return open(t, arkivev1.StorageSpec{S3: &arkivev1.S3Storage{
				Bucket: testBucket, Endpoint: endpoint, ForcePathStyle: true,
				CredentialsSecret: &arkivev1.S3Credentials{Name: "minio"},
			}}, secrets.Map{"minio#AWS_ACCESS_KEY_ID": id, "minio#AWS_SECRET_ACCESS_KEY": secret})
		},
		"azurite": func(t *testing.T) *blobstore.Store {
			svc, account, key := testenv.Azurite(t)
			spec := &arkivev1.AzureStorage{AccountName: account, Container: testBucket, Endpoint: svc,
				AccountKeySecret: &arkivev1.SecretKeyRef{Name: "azure", Key: "key"}}
			secrets := secrets.Map{"azure#key": key}
			cc, err := blobstore.AzureContainerClient(ctx, spec, secrets)
			require.NoError(t, err)
			if _, err := cc.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
				require.NoError(t, err, "create Azurite container")
			}
			return open(t, arkivev1.StorageSpec{Azure: spec}, secrets)
		},
		// A container SAS token instead of the account key, as Azurite issues it (issue 22, point 7).
		"azurite-sas": func(t *testing.T) *blobstore.Store {
			svc, account, key := testenv.Azurite(t)
			keyed := &arkivev1.AzureStorage{AccountName: account, Container: testBucket, Endpoint: svc,
				AccountKeySecret: &arkivev1.SecretKeyRef{Name: "azure", Key: "key"}}
			cc, err := blobstore.AzureContainerClient(ctx, keyed, secrets.Map{"azure#key": key})
			require.NoError(t, err)
			if _, err := cc.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
				require.NoError(t, err, "create Azurite container")
			}
			cred, err := azblob.NewSharedKeyCredential(account, key)
			require.NoError(t, err)
			perms := sas.ContainerPermissions{Read: true, Add: true, Create: true, Write: true, Delete: true, List: true}
			q, err := sas.BlobSignatureValues{Protocol: sas.ProtocolHTTPSandHTTP, ExpiryTime: time.Now().Add(time.Hour),
				ContainerName: testBucket, Permissions: perms.String()}.SignWithSharedKey(cred)
			require.NoError(t, err)
			spec := &arkivev1.AzureStorage{AccountName: account, Container: testBucket, Endpoint: svc,
				SASTokenSecret: &arkivev1.SecretKeyRef{Name: "azure-sas", Key: "token"}}
			return open(t, arkivev1.StorageSpec{Azure: spec}, secrets.Map{"azure-sas#token": q.Encode()})
		},
		"gcs": func(t *testing.T) *blobstore.Store {
			endpoint := testenv.GCS(t)
			gc, err := storage.NewClient(ctx, option.WithEndpoint(endpoint), option.WithoutAuthentication())
			require.NoError(t, err)
			defer gc.Close()
			if err := gc.Bucket(testBucket).Create(ctx, "arkive-test", nil); err != nil && !bytes.Contains([]byte(err.Error()), []byte("already")) {
				require.NoError(t, err, "create fake-gcs bucket")
			}
			return open(t, arkivev1.StorageSpec{GCS: &arkivev1.GCSStorage{Bucket: testBucket, Endpoint: endpoint}}, nil)
		},
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// TestBlobContract is the one storage contract every backend must honour.
func TestBlobContract(t *testing.T) {
	ctx := context.Background()
	for name, openStore := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s := openStore(t)

			t.Run("write read overwrite", func(t *testing.T) {
				require.NoError(t, s.Put(ctx, "a/obj", []byte("v1")))
				got, err := s.ReadAll(ctx, "a/obj")
				require.NoError(t, err)
				require.Equal(t, "v1", string(got))
				require.NoError(t, s.Put(ctx, "a/obj", []byte("version two")))
				got, err = s.ReadAll(ctx, "a/obj")
				require.NoError(t, err)
				require.Equal(t, "version two", string(got))
				attrs, err := s.Attributes(ctx, "a/obj")
				require.NoError(t, err)
				require.Equal(t, int64(len("version two")), attrs.Size)
			})

			t.Run("large object streams in parts", func(t *testing.T) {
				data := randomBytes(12 << 20)
				w, err := s.NewWriter(ctx, "big/obj", nil)
				require.NoError(t, err)
				for off := 0; off < len(data); off += 1 << 20 {
					_, err := w.Write(data[off : off+1<<20])
					require.NoError(t, err)
				}
				require.NoError(t, w.Close())
				require.NoError(t, s.Sync("big/obj"))
				r, err := s.NewRangeReader(ctx, "big/obj", 5<<20, 1<<20, nil)
				require.NoError(t, err)
				part, err := io.ReadAll(r)
				require.NoError(t, r.Close())
				require.NoError(t, err)
				require.True(t, bytes.Equal(data[5<<20:6<<20], part), "range read differs")
				got, err := s.ReadAll(ctx, "big/obj")
				require.NoError(t, err)
				require.True(t, bytes.Equal(data, got), "large object differs")
			})

			t.Run("list by prefix", func(t *testing.T) {
				for _, k := range []string{"l/a/1", "l/a/2", "l/ab", "l/b/1"} {
					require.NoError(t, s.Put(ctx, k, []byte(k)))
				}
				require.Equal(t, []string{"l/a/1", "l/a/2"}, listKeys(t, s, &blob.ListOptions{Prefix: "l/a/"}))
				require.Equal(t, []string{"l/a/", "l/ab", "l/b/"}, listKeys(t, s, &blob.ListOptions{Prefix: "l/", Delimiter: "/"}))
			})

			t.Run("not found is classified", func(t *testing.T) {
				_, err := s.ReadAll(ctx, "missing/obj")
				require.True(t, blobstore.IsNotFound(err), "read: %v", err)
				_, err = s.Attributes(ctx, "missing/obj")
				require.True(t, blobstore.IsNotFound(err), "attributes: %v", err)
				err = s.Delete(ctx, "missing/obj")
				require.True(t, blobstore.IsNotFound(err), "delete: %v", err)
				ok, err := s.Exists(ctx, "missing/obj")
				require.NoError(t, err)
				require.False(t, ok)
			})

			t.Run("delete", func(t *testing.T) {
				require.NoError(t, s.Put(ctx, "d/obj", []byte("x")))
				require.NoError(t, s.Delete(ctx, "d/obj"))
				ok, err := s.Exists(ctx, "d/obj")
				require.NoError(t, err)
				require.False(t, ok)
			})

			t.Run("failed write leaves nothing visible", func(t *testing.T) {
				require.NoError(t, s.Put(ctx, "f/existing", []byte("old")))
				for _, key := range []string{"f/new", "f/existing"} {
					wctx, cancel := context.WithCancel(ctx)
					w, err := s.NewWriter(wctx, key, nil)
					require.NoError(t, err)
					_, _ = w.Write(randomBytes(6 << 20)) // more than one multipart part
					cancel()
					require.Error(t, w.Close(), "a cancelled write must fail")
				}
				for _, key := range []string{"f/new", "f/existing"} { // given up by the writer (Abort), its context live
					w, err := s.NewWriter(ctx, key, nil)
					require.NoError(t, err)
					_, _ = w.Write(randomBytes(6 << 20))
					w.Abort()
					w.Abort() // twice: nothing more
				}
				ok, err := s.Exists(ctx, "f/new")
				require.NoError(t, err)
				require.False(t, ok, "a failed write made a new object visible")
				got, err := s.ReadAll(ctx, "f/existing")
				require.NoError(t, err)
				require.Equal(t, "old", string(got), "a failed overwrite changed the object")
				require.Equal(t, []string{"f/existing"}, listKeys(t, s, &blob.ListOptions{Prefix: "f/"}))
			})
		})
	}
}

func listKeys(t *testing.T, s *blobstore.Store, opts *blob.ListOptions) []string {
	t.Helper()
	var keys []string
	it := s.List(opts)
	for {
		obj, err := it.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return keys
		}
		require.NoError(t, err)
		keys = append(keys, obj.Key)
	}
}

// On volume storage a segment filled in SpoolDir becomes its object by a rename (no second
// copy), readable through the bucket; stale spool files of killed writers are cleaned, live
// ones kept; other stores do not adopt.
func TestVolumeAdoptAndCleanSpool(t *testing.T) {
	dir := t.TempDir()
	store, err := blobstore.Open(context.Background(), arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: dir}, Prefix: "team"}, nil)
	require.NoError(t, err)
	defer store.Close()
	spool, err := store.SpoolDir()
	require.NoError(t, err)
	f, err := os.CreateTemp(spool, "seg-*")
	require.NoError(t, err)
	_, err = f.WriteString("segment bytes")
	require.NoError(t, err)
	adopted, err := store.Adopt(context.Background(), f, "kafka/x/topics/t/0/a.seg")
	require.NoError(t, err)
	require.True(t, adopted)
	got, err := store.ReadAll(context.Background(), "kafka/x/topics/t/0/a.seg")
	require.NoError(t, err)
	require.Equal(t, "segment bytes", string(got))
	_, err = os.Stat(f.Name())
	require.True(t, os.IsNotExist(err), "moved, not copied")

	stale := filepath.Join(spool, "stale.seg")
	live := filepath.Join(spool, "live.seg")
	require.NoError(t, os.WriteFile(stale, []byte("x"), 0o644))
	require.NoError(t, os.WriteFile(live, []byte("x"), 0o644))
	old := time.Now().Add(-2 * time.Hour)
	require.NoError(t, os.Chtimes(stale, old, old))
	store.CleanSpool(time.Hour)
	_, err = os.Stat(stale)
	require.True(t, os.IsNotExist(err))
	_, err = os.Stat(live)
	require.NoError(t, err)

	mem := blobstore.OpenMem()
	g, err := os.CreateTemp(t.TempDir(), "seg-*")
	require.NoError(t, err)
	adopted, err = mem.Adopt(context.Background(), g, "k")
	require.NoError(t, err)
	require.False(t, adopted)
}
