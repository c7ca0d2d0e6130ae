package volume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"arkive.io/arkive/activities/backupstore"
	"arkive.io/arkive/activities/beat"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/pathglob"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/workflows"
	rb "arkive.io/arkive/workflows/resourcebackup"
	rr "arkive.io/arkive/workflows/resourcerestore"
)

// Activities are the volume activities. A mover registers Backup and Restore on its own task
// queue; any worker registers Prune.
type Activities struct {
	// Secrets returns the resolver for a resource's namespace (the storage's credentials and
	// encryption key).
	Secrets func(namespace string) secrets.Resolver
	// Root is where the mover has its volume mounted (arkive mover --volume): each mover
	// serves one volume, so the path is the Pod's, not the workflow's, to say.
	Root string
}

// root checks that the mover has a volume.
func (a *Activities) root() (string, error) {
	if fi, err := os.Stat(a.Root); a.Root == "" || err != nil || !fi.IsDir() {
		return "", backupstore.Invalid(fmt.Errorf("this mover has no volume mounted at %q (arkive mover --volume)", a.Root))
	}
	return a.Root, nil
}

func (a *Activities) open(ctx context.Context, conn workflows.ResourceConnection) (*Repo, error) {
	s, err := backupstore.Open(ctx, conn.Storage, conn.Backup, blobstore.Volumes, a.Secrets(conn.Namespace), true)
	if err != nil {
		return nil, err
	}
	r, err := Open(ctx, s.Store, s.Layout, s.Key)
	return r, classify(err)
}

// Backup takes one snapshot of the volume mounted at in.Path. A retry takes it again from the
// start; the chunks an earlier attempt stored are found and not stored twice.
func (a *Activities) Backup(ctx context.Context, in rb.VolumeBackupInput) (rb.VolumeBackupResult, error) {
	root, err := a.root()
	if err != nil {
		return rb.VolumeBackupResult{}, err
	}
	if _, err := pathglob.New("volume "+in.Volume, in.Include, in.Exclude); err != nil {
		return rb.VolumeBackupResult{}, backupstore.Invalid(err)
	}
	r, err := a.open(ctx, in.Connection)
	if err != nil {
		return rb.VolumeBackupResult{}, err
	}
	defer r.Close()
	var last atomic.Pointer[rb.VolumeProgress]
	last.Store(&rb.VolumeProgress{})
	stop := beat.Start(ctx, func() any { return last.Load() })
	defer stop()
	var claim *archive.VolumeClaim
	if in.Claim != nil {
		claim = &archive.VolumeClaim{Capacity: in.Claim.Capacity, StorageClass: in.Claim.StorageClass, AccessModes: in.Claim.AccessModes}
	}
	ref, err := r.Backup(ctx, root, BackupOptions{ID: in.Snapshot, Volume: in.Volume, Run: in.Run, Claim: claim, Include: in.Include, Exclude: in.Exclude,
		OnProgress: func(p Progress) {
			last.Store(&rb.VolumeProgress{Entries: p.Entries, Files: p.Files, Bytes: p.Bytes, Added: p.Added})
		}})
	if err != nil {
		return rb.VolumeBackupResult{}, classify(fmt.Errorf("volume %s: %w", in.Volume, err))
	}
	return rb.VolumeBackupResult{Snapshot: ref.ID, Entries: ref.Entries, Files: ref.Files, Bytes: ref.Bytes, Added: ref.Added,
		Warnings: ref.Warnings, WarningCount: ref.WarningCount}, nil
}

// Restore writes a volume snapshot into the volume mounted at in.Path, resuming where the
// last heartbeat of an earlier attempt says the entries before it are in place.
func (a *Activities) Restore(ctx context.Context, in rr.VolumeRestoreInput) (rr.VolumeRestoreResult, error) {
	root, err := a.root()
	if err != nil {
		return rr.VolumeRestoreResult{}, err
	}
	r, err := a.open(ctx, in.Connection)
	if err != nil {
		return rr.VolumeRestoreResult{}, err
	}
	defer r.Close()
	m, err := r.Manifest(ctx)
	if err != nil {
		return rr.VolumeRestoreResult{}, classify(err)
	}
	ref := m.Find(in.Snapshot)
	if ref == nil {
		return rr.VolumeRestoreResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("volume snapshot %s is not in backup %s", in.Snapshot, in.Backup), workflows.ErrBackupNotFound, nil)
	}
	var from rr.VolumeProgress
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &from)
	}
	var last atomic.Pointer[rr.VolumeProgress]
	last.Store(&from)
	stop := beat.Start(ctx, func() any { return last.Load() })
	defer stop()
	res, err := r.Restore(ctx, ref, root, RestoreOptions{From: from.Position, KeepExisting: in.KeepExisting, OnPosition: func(pos int, p Progress) {
		last.Store(&rr.VolumeProgress{Entries: p.Entries, Files: p.Files, Bytes: p.Bytes, Position: pos})
	}})
	if err != nil {
		return rr.VolumeRestoreResult{}, classify(fmt.Errorf("volume %s (snapshot %s): %w", ref.Volume, in.Snapshot, err))
	}
	return rr.VolumeRestoreResult{Entries: res.Entries, Files: res.Files, Bytes: res.Bytes, Skipped: res.Skipped, Kept: res.Kept, Warnings: res.Warnings}, nil
}

// Prune drops the volume snapshots of every run that is not kept, and the chunks only they
// held.
func (a *Activities) Prune(ctx context.Context, in rb.VolumePruneInput) (rb.VolumePruneResult, error) {
	r, err := a.open(ctx, in.Connection)
	if err != nil {
		return rb.VolumePruneResult{}, err
	}
	defer r.Close()
	stop := beat.Start(ctx, nil)
	defer stop()
	m, err := r.Manifest(ctx)
	if err != nil {
		return rb.VolumePruneResult{}, classify(err)
	}
	var drop []string
	for _, s := range m.Snapshots {
		if !slices.Contains(in.KeepRuns, s.Run) {
			drop = append(drop, s.ID)
		}
	}
	if len(drop) == 0 {
		return rb.VolumePruneResult{}, nil
	}
	res, err := r.Prune(ctx, drop)
	if err != nil {
		return rb.VolumePruneResult{}, classify(err)
	}
	return rb.VolumePruneResult{Snapshots: res.Snapshots, DeletedPacks: res.DeletedPacks, FreedBytes: res.FreedBytes}, nil
}

// classify: damage to stored objects (a pack, tree or index that fails its checks) and a
// wrong key stop the workflow with CorruptSnapshot; storage refusals as backupstore says;
// anything else (an outage, a file system error) is retried.
func classify(err error) error {
	var appErr *temporal.ApplicationError
	var corrupt *archive.CorruptError
	switch {
	case err == nil, errors.As(err, &appErr), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &corrupt), errors.Is(err, archive.ErrWrongKey):
		return temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrCorruptSnapshot, nil)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		// A retry minutes later would find the volume as full: say so now.
		return temporal.NewNonRetryableApplicationError(err.Error()+" (the volume is full: free space or use a larger claim, then run again)",
			workflows.ErrInvalidSpec, nil)
	}
	if err = backupstore.Classify(err); errors.As(err, &appErr) {
		return err
	}
	if blobstore.IsStorageError(err) {
		return temporal.NewApplicationError(err.Error(), workflows.ErrStorage)
	}
	return err
}

// List names the volume snapshots of one resource snapshot (run), sorted by volume.
func (a *Activities) List(ctx context.Context, in rr.VolumeListInput) (rr.VolumeListResult, error) {
	s, err := backupstore.Open(ctx, in.Storage, in.Backup, blobstore.Volumes, a.Secrets(in.Namespace), false)
	if err != nil {
		return rr.VolumeListResult{}, err
	}
	r := &Repo{store: s.Store, layout: s.Layout}
	m, err := r.Manifest(ctx)
	if err != nil {
		return rr.VolumeListResult{}, classify(err)
	}
	var out rr.VolumeListResult
	for _, v := range m.Snapshots {
		if v.Run != in.Run {
			continue
		}
		vs := rr.VolumeSnapshot{ID: v.ID, Volume: v.Volume, Files: v.Files, Bytes: v.Bytes}
		if v.Claim != nil {
			vs.Capacity, vs.StorageClass, vs.AccessModes = v.Claim.Capacity, v.Claim.StorageClass, v.Claim.AccessModes
		}
		out.Snapshots = append(out.Snapshots, vs)
	}
	slices.SortFunc(out.Snapshots, func(a, b rr.VolumeSnapshot) int { return strings.Compare(a.Volume, b.Volume) })
	return out, nil
}
