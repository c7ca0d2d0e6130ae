// Package backupstore is how an activity opens a backup's storage from a workflow's
// connection (the Storage spec as JSON, with Secret references only), and how storage failures
// become the error types workflows act on. Every activity package opens storage and classifies
// storage errors through here; each keeps one classify of its own for its source system.
package backupstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/backups"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/workflows"
)

// Backup is a backup's open storage: the store, the backup's key layout, and the encryption
// key (nil: the storage is not encrypted).
type Backup[L any] struct {
	*blobstore.Store
	Layout L
	Key    []byte
}

// Open opens the storage spec names for the backup named backup, with layout (blobstore.Kafka
// or blobstore.Schemas) and, when withKey is set, the encryption key if the Storage has one
// (only what reads or writes records needs it). A spec that cannot work is a non-retryable
// InvalidSpec error; a storage that refuses is classified (Classify).
func Open[L any](ctx context.Context, spec json.RawMessage, backup string, layout func(string) (L, error), sr secrets.Resolver, withKey bool) (*Backup[L], error) {
	var sspec arkivev1.StorageSpec
	if err := json.Unmarshal(spec, &sspec); err != nil {
		return nil, Invalid(fmt.Errorf("storage spec: %w", err))
	}
	l, err := layout(backup)
	if err != nil {
		return nil, Invalid(err)
	}
	var key []byte
	if withKey {
		if key, err = blobstore.EncryptionKey(ctx, sspec, sr); err != nil {
			return nil, Invalid(err)
		}
	}
	st, err := blobstore.Open(ctx, sspec, sr)
	if err != nil {
		return nil, Classify(err)
	}
	return &Backup[L]{Store: st, Layout: l, Key: key}, nil
}

// Invalid is a spec error: never retried, shown in the resource's status.
func Invalid(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrInvalidSpec, nil)
}

// Classify turns storage failures into what a workflow does with them: a storage that refuses
// the credentials or the operation stops the workflow with a stable type; a manifest that does not parse is CorruptManifest; anything else (the storage
// unreachable) is retried. Errors that are already classified pass unchanged.
func Classify(err error) error {
	var appErr *temporal.ApplicationError
	var corrupt *backups.CorruptError
	switch {
	case err == nil, errors.As(err, &appErr):
		return err
	case blobstore.IsAccessDenied(err):
		return temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrStorageAccessDenied, err)
	case errors.As(err, &corrupt):
		return temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrCorruptManifest, nil)
	}
	return err
}

// SnapshotError classifies a snapshot that cannot be read: the wrong key, or damage; both end
// a restore (CorruptSnapshot). Anything else passes unchanged.
func SnapshotError(err error, storage string) error {
	var corrupt *archive.CorruptError
	switch {
	case errors.Is(err, archive.ErrWrongKey):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"the snapshot cannot be decrypted with the encryption key of Storage %s (it was written with another key, or without one): %v", storage, err),
			workflows.ErrCorruptSnapshot, nil)
	case errors.As(err, &corrupt):
		return temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrCorruptSnapshot, nil)
	}
	return err
}
