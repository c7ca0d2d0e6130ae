package volume

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/workflows"
	rb "arkive.io/arkive/workflows/resourcebackup"
	rr "arkive.io/arkive/workflows/resourcerestore"
)

// smallDisk mounts a tmpfs of size bytes on a new directory: a volume that fills up. It takes
// root (CAP_SYS_ADMIN), as the fidelity test's owners do.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	require.NoError(t, err, "mount a tmpfs (this test needs root): %s", out)
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	return dir
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(7, uint64(n)))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// #15 acceptance 7, the volume side. A full volume, whether the storage a backup writes to or
// the claim a restore writes into, ends the activity at once (not retried) with an error naming
// the volume, the path and the cause, and the snapshots stored before stay whole. A file the
// mover may not read is a warning naming its path, and the snapshot is still complete.
func TestFullVolumesAndUnreadableFilesAreNamed(t *testing.T) {
	ctx := context.Background()
	conn := func(dir string) workflows.ResourceConnection {
		spec, err := json.Marshal(arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: dir}})
		require.NoError(t, err)
		return workflows.ResourceConnection{Namespace: "apps", Backup: "data", Storage: spec, StorageName: "st"}
	}
	noSecrets := func(string) secrets.Resolver { return nil }
	nonRetryable := func(err error) {
		t.Helper()
		var appErr *temporal.ApplicationError
		require.True(t, errors.As(err, &appErr), "%v", err)
		require.True(t, appErr.NonRetryable(), "a full volume is not retried: %v", err)
	}

	// The storage fills up: the second backup fails naming the volume; the first still verifies.
	src := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(src, "small.bin"), randomBytes(64<<10), 0o644))
	store := smallDisk(t, "3m")
	acts := &Activities{Secrets: noSecrets, Root: src}
	first, err := acts.Backup(ctx, rb.VolumeBackupInput{Connection: conn(store), Volume: "apps/data", Snapshot: "s1"})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(src, "big.bin"), randomBytes(8<<20), 0o644))
	_, err = acts.Backup(ctx, rb.VolumeBackupInput{Connection: conn(store), Volume: "apps/data", Snapshot: "s2"})
	require.Error(t, err)
	require.Contains(t, err.Error(), "volume apps/data: ")
	require.Contains(t, err.Error(), "no space left on device")
	require.Contains(t, err.Error(), "the volume is full")
	nonRetryable(err)
	repo := openRepo(t, openStore(t, store), nil)
	m, err := repo.Manifest(ctx)
	require.NoError(t, err)
	require.Nil(t, m.Find("s2"), "the failed snapshot is not listed")
	ref := m.Find(first.Snapshot)
	require.NotNil(t, ref, "%+v %+v", first, m)
	_, err = repo.Verify(ctx, ref, true)
	require.NoError(t, err, "the snapshot stored before the storage filled up is whole")

	// The claim a restore writes into fills up: the error names the volume and the file.
	big := t.TempDir()
	_, err = acts.Backup(ctx, rb.VolumeBackupInput{Connection: conn(big), Volume: "apps/data", Snapshot: "s3"})
	require.NoError(t, err)
	target := smallDisk(t, "2m")
	_, err = (&Activities{Secrets: noSecrets, Root: target}).Restore(ctx, rr.VolumeRestoreInput{Connection: conn(big), Snapshot: "s3"})
	require.Error(t, err)
	require.Contains(t, err.Error(), "volume apps/data (snapshot s3): big.bin")
	require.Contains(t, err.Error(), "no space left on device")
	nonRetryable(err)

	// A file the mover's user may not read (the mover runs as 65532 unless told otherwise): a
	// stand-in mover process as that user warns, names it, and stores the rest.
	tree := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(tree, "private"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(tree, "public.txt"), []byte("for everyone"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(tree, "private", "secret.key"), []byte("root only"), 0o600))
	storeDir, binDir := t.TempDir(), t.TempDir()
	for _, d := range []string{tree, filepath.Dir(tree), storeDir, binDir} {
		require.NoError(t, os.Chmod(d, 0o777)) // t.TempDir's folders are root's alone
	}
	exe, err := os.ReadFile(os.Args[0]) // so is the test binary's
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(binDir, "mover.test"), exe, 0o755))
	cmd := childCmd("backup", storeDir, "s4", tree, nil, 0)
	cmd.Path, cmd.Args[0] = filepath.Join(binDir, "mover.test"), filepath.Join(binDir, "mover.test")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
	out, err := cmd.Output()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "warning private/secret.key: unreadable, left out: ")
	require.Contains(t, string(out), "permission denied")
	require.Equal(t, 1, strings.Count(string(out), "warning "), "%s", out)
	repo = openRepo(t, openStore(t, storeDir), nil)
	m, err = repo.Manifest(ctx)
	require.NoError(t, err)
	ref = m.Find("s4")
	require.NotNil(t, ref)
	require.Equal(t, 1, ref.WarningCount)
	_, err = repo.Verify(ctx, ref, true)
	require.NoError(t, err)
	back := t.TempDir()
	_, err = repo.Restore(ctx, ref, back, RestoreOptions{})
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(back, "public.txt"))
	require.NoError(t, err)
	require.Equal(t, "for everyone", string(got))
	_, err = os.Stat(filepath.Join(back, "private", "secret.key"))
	require.True(t, os.IsNotExist(err), "the unreadable file is left out, not stored empty")
}

// Overwrite Never (KeepExisting) leaves the target's own file and symlink where the snapshot has
// them and writes only what is missing; the default (Changed) replaces them. Files the snapshot
// does not have are left alone either way.
func TestKeepExistingWritesOnlyWhatIsMissing(t *testing.T) {
	ctx := context.Background()
	src, storeDir := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(src, "a.txt"), []byte("snapshot a"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(src, "b.txt"), []byte("snapshot b"), 0o644))
	require.NoError(t, os.Symlink("a.txt", filepath.Join(src, "link")))
	require.NoError(t, os.MkdirAll(filepath.Join(src, "dir"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "dir", "c.txt"), []byte("snapshot c"), 0o644))
	repo := openRepo(t, openStore(t, storeDir), nil)
	ref, err := repo.Backup(ctx, src, BackupOptions{ID: "s1", Volume: "apps/data"})
	require.NoError(t, err)

	target := func() string {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "a.txt"), []byte("edited here"), 0o600))
		require.NoError(t, os.Symlink("elsewhere", filepath.Join(dir, "link")))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "local-only.txt"), []byte("mine"), 0o644))
		return dir
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		return string(b)
	}

	keep := target()
	res, err := repo.Restore(ctx, ref, keep, RestoreOptions{KeepExisting: true})
	require.NoError(t, err)
	require.Equal(t, 2, res.Kept)
	require.Equal(t, "edited here", read(filepath.Join(keep, "a.txt")))
	l, err := os.Readlink(filepath.Join(keep, "link"))
	require.NoError(t, err)
	require.Equal(t, "elsewhere", l)
	require.Equal(t, "snapshot b", read(filepath.Join(keep, "b.txt")))
	require.Equal(t, "snapshot c", read(filepath.Join(keep, "dir", "c.txt")))
	require.Equal(t, "mine", read(filepath.Join(keep, "local-only.txt")))

	// Replacing: files are written unnamed and linked in place, or (a file system without
	// O_TMPFILE) under temporary names that are renamed; neither leaves a temporary behind.
	for _, named := range []bool{false, true} {
		namedTemporaries = named
		replace := target()
		res, err = repo.Restore(ctx, ref, replace, RestoreOptions{})
		namedTemporaries = false
		require.NoError(t, err)
		require.Zero(t, res.Kept)
		require.Equal(t, "snapshot a", read(filepath.Join(replace, "a.txt")))
		l, err = os.Readlink(filepath.Join(replace, "link"))
		require.NoError(t, err)
		require.Equal(t, "a.txt", l)
		require.Equal(t, "snapshot b", read(filepath.Join(replace, "b.txt")))
		require.Equal(t, "snapshot c", read(filepath.Join(replace, "dir", "c.txt")))
		require.Equal(t, "mine", read(filepath.Join(replace, "local-only.txt")))
		var names []string
		require.NoError(t, filepath.WalkDir(replace, func(p string, d fs.DirEntry, err error) error {
			names = append(names, d.Name())
			return err
		}))
		require.ElementsMatch(t, []string{filepath.Base(replace), "a.txt", "b.txt", "link", "dir", "c.txt", "local-only.txt"}, names, "named temporaries %v", named)
	}
}
