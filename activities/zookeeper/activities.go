package zookeeper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-zookeeper/zk"
	"go.temporal.io/sdk/temporal"

	"arkive.io/arkive/activities/backupstore"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/backups"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/check"
)

// DefaultParallelism is how many reads a walk keeps in flight when the spec says nothing.
const DefaultParallelism = 16

// Activities are the ZooKeeper activities; the worker registers one value.
type Activities struct {
	// Secrets returns the resolver for a resource's namespace (digest and TLS of the ensemble,
	// the storage's credentials).
	Secrets func(namespace string) secrets.Resolver
}

// backupStore is where a backup's snapshots live.
type backupStore = backupstore.Backup[blobstore.ZooKeeperLayout]

func (a *Activities) store(ctx context.Context, conn workflows.ZooKeeperConnection) (*backupStore, error) {
	return backupstore.Open(ctx, conn.Storage, conn.Backup, blobstore.ZooKeeper, a.Secrets(conn.Namespace), true)
}

// readManifest reads the backup's manifest; a backup without one has an empty one.
func readManifest(ctx context.Context, s *backupStore, backup string) (*archive.ZooKeeperManifest, bool, error) {
	m, err := backups.ZooKeeperManifest(ctx, s.Store, s.Layout)
	if m == nil && err == nil {
		return &archive.ZooKeeperManifest{Format: archive.ZooKeeperSnapshotFormat, Backup: backup}, false, nil
	}
	return m, m != nil, err
}

func writeManifest(ctx context.Context, s *backupStore, m *archive.ZooKeeperManifest) error {
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	return s.Put(ctx, s.Layout.Manifest(), b)
}

// classify turns causes into the stable error types the workflows act on:
//   - a refusal for a node's ACL (NoAuth) or of the credentials: AuthenticationFailed, not
//     retried, naming the node and the session's identity;
//   - storage refusals and corrupt manifests as backupstore classifies them;
//   - a missing Secret: InvalidSpec;
//   - anything else (connection loss, session expiry, an unreachable ensemble, storage
//     outages) is retried.
func classify(err error) error {
	var appErr *temporal.ApplicationError
	switch {
	case err == nil, errors.As(err, &appErr), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, zk.ErrNoAuth), errors.Is(err, zk.ErrAuthFailed):
		return temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrAuthentication, nil)
	case errors.Is(err, secrets.ErrNotFound):
		return backupstore.Invalid(err)
	}
	if err = backupstore.Classify(err); errors.As(err, &appErr) {
		return err
	}
	if blobstore.IsStorageError(err) {
		return temporal.NewApplicationError(err.Error(), workflows.ErrStorage)
	}
	return temporal.NewApplicationError(err.Error(), workflows.ErrZooKeeper)
}

// invalidf is a spec error naming the field.
func invalidf(format string, args ...any) error {
	return backupstore.Invalid(fmt.Errorf(format, args...))
}

// Check connects to a ZooKeeperEnsemble and reads its root, as a backup would.
func (a *Activities) Check(ctx context.Context, in check.Input) (check.Result, error) {
	res := check.Result{CheckedAt: time.Now()}
	s, err := connect(ctx, in.Spec, a.Secrets(in.Namespace))
	if err != nil {
		res.Message = workflows.RootMessage(classify(err))
		return res, nil
	}
	defer s.Close()
	ok, _, err := s.c.Exists(s.abs("/"))
	if err != nil {
		res.Message = fmt.Sprintf("read %s: %v", s.abs("/"), err)
		return res, nil
	}
	if !ok {
		res.Message = fmt.Sprintf("spec.chroot: %s does not exist on the ensemble", s.root)
		return res, nil
	}
	res.OK, res.Message = true, fmt.Sprintf("session on %s as %s", s.c.Server(), s.identity())
	return res, nil
}
