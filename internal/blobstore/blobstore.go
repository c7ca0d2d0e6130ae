package blobstore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"gocloud.dev/blob"

	"arkive.io/arkive/internal/metrics"
	"gocloud.dev/blob/azureblob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/gcsblob"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"
	"gocloud.dev/gcp"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/option"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/secrets"
)

// SecretResolver reads the Secret keys a Storage spec references.
type SecretResolver = secrets.Resolver

// Store is an opened bucket. It embeds the gocloud bucket (with the Storage prefix applied)
// and adds durability for volume storage.
type Store struct {
	*blob.Bucket
	// dir is the root folder of volume storage, where writes are fsynced; empty otherwise.
	dir string
}

// claimRoot is where this process has the claim of a Storage kept in a PersistentVolumeClaim
// mounted: set only in a mover Pod (`arkive mover --storage-claim`), which mounts exactly one.
var claimRoot string

// SetClaimRoot says where the Storage claim is mounted in this process (a mover's flag).
func SetClaimRoot(dir string) { claimRoot = dir }

// Open opens the bucket spec describes. Credentials are read through secrets.
func Open(ctx context.Context, spec arkivev1.StorageSpec, sr SecretResolver) (*Store, error) {
	var (
		b   *blob.Bucket
		dir string
		err error
	)
	switch {
	case spec.S3 != nil:
		b, err = openS3(ctx, spec.S3, sr)
	case spec.GCS != nil:
		b, err = openGCS(ctx, spec.GCS, sr)
	case spec.Azure != nil:
		b, err = openAzure(ctx, spec.Azure, sr)
	case spec.Volume != nil && spec.Volume.Path == "":
		// A Storage kept in a claim: only a mover Pod that mounts it may open it.
		if claimRoot == "" {
			return nil, errors.New("storage: spec.volume: the backups are in a PersistentVolumeClaim that only Arkive's mover Pods mount " +
				"(ResourceBackup and ResourceRestore use it through them); this worker cannot reach it")
		}
		dir = claimRoot
		b, err = OpenDir(dir)
	case spec.Volume != nil:
		dir = spec.Volume.Path
		b, err = OpenDir(dir)
	default:
		return nil, errors.New("storage: set exactly one of s3, gcs, azure and volume")
	}
	if err != nil {
		return nil, err
	}
	if spec.Prefix != "" {
		p := strings.TrimSuffix(spec.Prefix, "/") + "/"
		b = blob.PrefixedBucket(b, p)
		if dir != "" {
			dir = filepath.Join(dir, filepath.FromSlash(p))
		}
	}
	return &Store{Bucket: b, dir: dir}, nil
}

// SpoolDir is where a writer should fill objects it will Adopt: on volume storage a folder on
// the same filesystem (so adopting is a rename, not a second copy); "" for other stores.
func (s *Store) SpoolDir() (string, error) {
	if s.dir == "" {
		return "", nil
	}
	dir := filepath.Join(s.dir, ".arkive-spool")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("spool folder: %w", err)
	}
	return dir, nil
}

// CleanSpool removes spool files not written to for longer than olderThan: segments of
// captures killed before they finished (a live one writes at least every segment interval).
func (s *Store) CleanSpool(olderThan time.Duration) {
	if s.dir == "" {
		return
	}
	dir := filepath.Join(s.dir, ".arkive-spool")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > olderThan {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// Adopt makes a complete local file in SpoolDir the object key, durably: fsync, rename into
// place, fsync the folder. It reports false (and does nothing) when the store is not a
// volume; then the caller uploads the bytes.
func (s *Store) Adopt(ctx context.Context, f *os.File, key string) (bool, error) {
	if s.dir == "" || filepath.Dir(f.Name()) != filepath.Join(s.dir, ".arkive-spool") {
		return false, nil
	}
	if err := f.Sync(); err != nil {
		return true, fmt.Errorf("adopt %s: %w", key, err)
	}
	info, err := f.Stat()
	if err != nil {
		return true, fmt.Errorf("adopt %s: %w", key, err)
	}
	path := filepath.Join(s.dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return true, fmt.Errorf("adopt %s: %w", key, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return true, fmt.Errorf("adopt %s: %w", key, err)
	}
	// The file's data is durable already (synced above, and a rename moves no data); what
	// remains is the rename itself, which lives in the folder.
	if err := syncPath(filepath.Dir(path)); err != nil {
		return true, fmt.Errorf("sync %s: %w", key, err)
	}
	metrics.Stored(ctx, info.Size())
	return true, nil
}

// OpenDir opens a folder as a bucket, creating it if needed. Writes go to a temporary file
// beside the target and are renamed into place, so a failed write leaves nothing visible.
func OpenDir(dir string) (*blob.Bucket, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("storage volume path %q: must be absolute", dir)
	}
	// NoTempDir keeps temporary files on the same filesystem, so the rename is atomic on a PVC.
	b, err := fileblob.OpenBucket(dir, &fileblob.Options{CreateDir: true, NoTempDir: true, Metadata: fileblob.MetadataDontWrite})
	if err != nil {
		return nil, fmt.Errorf("open storage volume %s: %w", dir, err)
	}
	return b, nil
}

// OpenMem opens an in-memory bucket, for tests and dry runs.
func OpenMem() *Store { return &Store{Bucket: memblob.OpenBucket(nil)} }

// OpenURL opens a bucket from a gocloud.dev URL (s3://bucket?endpoint=…, gs://, azblob://,
// file:///path, mem://), as the command line takes them. Credentials come from the environment.
func OpenURL(ctx context.Context, url string) (*Store, error) {
	if path, ok := strings.CutPrefix(url, "file://"); ok && !strings.Contains(path, "?") {
		b, err := OpenDir(path)
		if err != nil {
			return nil, err
		}
		return &Store{Bucket: b, dir: path}, nil
	}
	b, err := blob.OpenBucket(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("open storage %s: %w", url, err)
	}
	return &Store{Bucket: b}, nil
}

// Put writes an object whole and makes it durable before returning.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	w, err := s.NewWriter(ctx, key, nil)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return fmt.Errorf("write %s: %w", key, err)
	}
	return w.Close()
}

// Writer streams one object. Nothing is visible under its key until Close succeeds; a write
// whose context is cancelled fails at Close and leaves the previous object, if any, in place.
// A writer that will not finish must be aborted, not closed: Close commits what was written.
type Writer struct {
	w       *blob.Writer
	key     string
	store   *Store
	ctx     context.Context
	cancel  context.CancelFunc
	written int64
	closed  bool
}

// NewWriter starts writing an object. It shadows blob.Bucket.NewWriter so that every write
// gets the same guarantees on every backend.
func (s *Store) NewWriter(ctx context.Context, key string, opts *blob.WriterOptions) (*Writer, error) {
	wctx, cancel := context.WithCancel(ctx)
	w, err := s.Bucket.NewWriter(wctx, key, opts)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("write %s: %w", key, err)
	}
	return &Writer{w: w, key: key, store: s, ctx: ctx, cancel: cancel}, nil
}

// Abort gives up the write: nothing becomes visible under the key, and an object already
// there stays as it was. After Close it does nothing.
func (w *Writer) Abort() {
	if w.closed {
		return
	}
	w.cancel()
	_ = w.Close()
}

// Write appends to the object.
func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.written += int64(n)
	return n, err
}

// Close commits the object and, on volume storage, makes it durable.
func (w *Writer) Close() (err error) {
	w.closed = true
	defer w.cancel()
	defer func() {
		// gocloud.dev v0.47.0's azureblob writer dereferences a nil pipe in Close when its
		// upload failed (e.g. the activity was cancelled). The upload has failed by then and
		// nothing was committed, so report it as the failed write it is rather than crash.
		if r := recover(); r != nil {
			err = fmt.Errorf("write %s: aborted: %v", w.key, r)
		}
	}()
	if err := w.w.Close(); err != nil {
		return fmt.Errorf("write %s: %w", w.key, err)
	}
	if err := w.store.Sync(w.key); err != nil {
		return err
	}
	metrics.Stored(w.ctx, w.written) // counted once committed: a failed write stored nothing
	return nil
}

// Sync makes a written object durable: on volume storage it fsyncs the file and its folder
// (object stores are durable once a write returns). Call it before writing a manifest that
// names the object.
func (s *Store) Sync(key string) error {
	if s.dir == "" {
		return nil
	}
	path := filepath.Join(s.dir, filepath.FromSlash(key))
	for _, p := range []string{path, filepath.Dir(path)} {
		if err := syncPath(p); err != nil {
			return fmt.Errorf("sync %s: %w", key, err)
		}
	}
	return nil
}

// syncPath fsyncs a file or folder.
func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	err = f.Sync()
	_ = f.Close()
	return err
}

// IsNotFound reports whether err says an object does not exist.
func IsNotFound(err error) bool { return gcerrors.Code(err) == gcerrors.NotFound }

// IsStorageError reports whether err is the storage's answer (a gocloud.dev error with a code),
// so a caller can tell a storage failure from one of the system it backs up.
func IsStorageError(err error) bool {
	c := gcerrors.Code(err)
	return c != gcerrors.OK && c != gcerrors.Unknown
}

// EncryptionKey reads the Storage's client-side encryption key, or nil when none is set. The
// Secret holds 32 raw bytes or their base64.
func EncryptionKey(ctx context.Context, spec arkivev1.StorageSpec, sr SecretResolver) ([]byte, error) {
	if spec.Encryption == nil {
		return nil, nil
	}
	ref := spec.Encryption.KeySecret
	raw, err := sr.Resolve(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("storage encryption key: %w", err)
	}
	key, err := ParseKey(raw)
	if err != nil {
		return nil, fmt.Errorf("storage encryption key %s#%s: %w", ref.Name, ref.Key, err)
	}
	return key, nil
}

// ParseKey reads an encryption key given as 32 raw bytes or their base64 (a Secret's value or
// a --key-file).
func ParseKey(raw []byte) ([]byte, error) {
	if len(raw) == archive.KeySize {
		return raw, nil
	}
	dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(dec) != archive.KeySize {
		return nil, fmt.Errorf("want %d bytes, raw or base64-encoded", archive.KeySize)
	}
	return dec, nil
}

func openS3(ctx context.Context, spec *arkivev1.S3Storage, sr SecretResolver) (*blob.Bucket, error) {
	region := spec.Region
	if region == "" && spec.Endpoint != "" {
		region = "us-east-1" // S3-compatible stores ignore it, but the SDK requires one
	}
	var opts []func(*awsconfig.LoadOptions) error
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	if c := spec.CredentialsSecret; c != nil {
		id, err := secrets.String(ctx, sr, c.Name, defaulted(c.AccessKeyIDKey, "AWS_ACCESS_KEY_ID"))
		if err != nil {
			return nil, fmt.Errorf("storage s3 credentials: %w", err)
		}
		secret, err := secrets.String(ctx, sr, c.Name, defaulted(c.SecretAccessKeyKey, "AWS_SECRET_ACCESS_KEY"))
		if err != nil {
			return nil, fmt.Errorf("storage s3 credentials: %w", err)
		}
		token := ""
		if c.SessionTokenKey != "" {
			if token, err = secrets.String(ctx, sr, c.Name, c.SessionTokenKey); err != nil {
				return nil, fmt.Errorf("storage s3 credentials: %w", err)
			}
		}
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, secret, token)))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("storage s3 config: %w", err)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if spec.Endpoint != "" {
			o.BaseEndpoint = aws.String(spec.Endpoint)
		}
		o.UsePathStyle = spec.ForcePathStyle
		// S3-compatible stores do not all speak the newer default checksums.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		// The SDK's own retries only smooth over a blip: activities retry with their own
		// backoff, and a cause that persists must reach the workflow's status within seconds,
		// not after the SDK's backoff of up to 20 s per request.
		o.Retryer = retry.AddWithMaxBackoffDelay(retry.NewStandard(), time.Second)
	})
	b, err := s3blob.OpenBucket(ctx, client, spec.Bucket, nil)
	if err != nil {
		return nil, fmt.Errorf("open s3 bucket %s: %w", spec.Bucket, err)
	}
	return b, nil
}

func openGCS(ctx context.Context, spec *arkivev1.GCSStorage, sr SecretResolver) (*blob.Bucket, error) {
	var (
		client *gcp.HTTPClient
		opts   gcsblob.Options
	)
	switch {
	case spec.CredentialsSecret != nil:
		js, err := sr.Resolve(ctx, *spec.CredentialsSecret)
		if err != nil {
			return nil, fmt.Errorf("storage gcs credentials: %w", err)
		}
		creds, err := google.CredentialsFromJSONWithType(ctx, js, google.ServiceAccount, storage.ScopeReadWrite)
		if err != nil {
			return nil, fmt.Errorf("storage gcs credentials %s#%s: %w", spec.CredentialsSecret.Name, spec.CredentialsSecret.Key, err)
		}
		if client, err = gcp.NewHTTPClient(gcp.DefaultTransport(), gcp.CredentialsTokenSource(creds)); err != nil {
			return nil, err
		}
	case spec.Endpoint != "":
		// An emulator endpoint without credentials: talk to it unauthenticated.
		client = &gcp.HTTPClient{Client: http.Client{Transport: gcp.DefaultTransport()}}
		opts.ClientOptions = append(opts.ClientOptions, option.WithoutAuthentication())
	default:
		creds, err := gcp.DefaultCredentials(ctx)
		if err != nil {
			return nil, fmt.Errorf("storage gcs ambient credentials: %w", err)
		}
		if client, err = gcp.NewHTTPClient(gcp.DefaultTransport(), gcp.CredentialsTokenSource(creds)); err != nil {
			return nil, err
		}
	}
	if spec.Endpoint != "" {
		opts.ClientOptions = append(opts.ClientOptions, option.WithEndpoint(spec.Endpoint))
	}
	b, err := gcsblob.OpenBucket(ctx, client, spec.Bucket, &opts)
	if err != nil {
		return nil, fmt.Errorf("open gcs bucket %s: %w", spec.Bucket, err)
	}
	return b, nil
}

// AzureContainerURL is the container URL a spec names.
func AzureContainerURL(spec *arkivev1.AzureStorage) string {
	svc := spec.Endpoint
	if svc == "" {
		svc = "https://" + spec.AccountName + ".blob.core.windows.net"
	}
	return strings.TrimSuffix(svc, "/") + "/" + spec.Container
}

// AzureContainerClient builds the Azure SDK client for a spec: shared key, SAS or workload identity.
func AzureContainerClient(ctx context.Context, spec *arkivev1.AzureStorage, sr SecretResolver) (*container.Client, error) {
	url := AzureContainerURL(spec)
	opts := &container.ClientOptions{ClientOptions: policy.ClientOptions{Retry: policy.RetryOptions{MaxRetries: 3}}}
	switch {
	case spec.AccountKeySecret != nil:
		key, err := secrets.String(ctx, sr, spec.AccountKeySecret.Name, spec.AccountKeySecret.Key)
		if err != nil {
			return nil, fmt.Errorf("storage azure account key: %w", err)
		}
		cred, err := azblob.NewSharedKeyCredential(spec.AccountName, key)
		if err != nil {
			return nil, fmt.Errorf("storage azure account key %s#%s: %w", spec.AccountKeySecret.Name, spec.AccountKeySecret.Key, err)
		}
		return container.NewClientWithSharedKeyCredential(url, cred, opts)
	case spec.SASTokenSecret != nil:
		sas, err := secrets.String(ctx, sr, spec.SASTokenSecret.Name, spec.SASTokenSecret.Key)
		if err != nil {
			return nil, fmt.Errorf("storage azure sas token: %w", err)
		}
		return container.NewClientWithNoCredential(url+"?"+strings.TrimPrefix(sas, "?"), opts)
	default:
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, fmt.Errorf("storage azure workload identity: %w", err)
		}
		return container.NewClient(url, cred, opts)
	}
}

func openAzure(ctx context.Context, spec *arkivev1.AzureStorage, sr SecretResolver) (*blob.Bucket, error) {
	client, err := AzureContainerClient(ctx, spec, sr)
	if err != nil {
		return nil, err
	}
	b, err := azureblob.OpenBucket(ctx, client, nil)
	if err != nil {
		return nil, fmt.Errorf("open azure container %s: %w", spec.Container, err)
	}
	return b, nil
}

func defaulted(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// IsAccessDenied reports whether err says the credentials were refused: gocloud's
// PermissionDenied, plus S3's codes for bad credentials, which gocloud reports as Unknown.
// Retrying these does not help; a person must fix the Storage or its Secret.
func IsAccessDenied(err error) bool {
	if gcerrors.Code(err) == gcerrors.PermissionDenied {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "AllAccessDisabled":
			return true
		}
	}
	return false
}
