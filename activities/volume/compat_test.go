package volume

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"arkive.io/arkive/internal/archive"
)

// testdata/format1 is an encrypted volume backup written by manifest format 1 (chunk
// boundaries from github.com/restic/chunker's Rabin fingerprint) at commit 84975e5, with
// compatKey, from compatTree: one snapshot, "s1". A volume backup is restored, and backed up
// into again, years after it was written, so every later version must do both with it.

// writeVolumeCompat rewrites testdata/format1 with the code of the checkout it runs in. It was
// run once, at commit 84975e5 (go test -run Format1 -write-volume-fixtures); use it again only
// for a new format version, into a new directory.
var writeVolumeCompat = flag.Bool("write-volume-fixtures", false, "write testdata/format1 with this checkout's backup")

var compatKey = bytes.Repeat([]byte{0x42}, archive.KeySize)

// compatTree writes the fixture's tree: a 3 MiB file of log lines (several chunks, so that
// chunk boundaries matter), a small file with a hard link, a symlink, a sparse file and a
// directory with its own mode, all with a fixed mtime.
func compatTree(t *testing.T, dir string) {
	t.Helper()
	var log bytes.Buffer
	for i := 0; log.Len() < 3*mib; i++ {
		fmt.Fprintf(&log, "%08d level=%d state=%d\n", i, i%5, i%9)
	}
	write := func(rel string, data []byte, mode os.FileMode) {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, rel), data, mode))
	}
	write("log.txt", log.Bytes()[:3*mib], 0o644)
	write("conf/small", []byte("kept for years\n"), 0o640)
	require.NoError(t, os.Link(filepath.Join(dir, "conf", "small"), filepath.Join(dir, "conf", "hard")))
	require.NoError(t, os.Symlink("../log.txt", filepath.Join(dir, "conf", "link")))
	f, err := os.Create(filepath.Join(dir, "sparse"))
	require.NoError(t, err)
	_, err = f.WriteAt(bytes.Repeat([]byte("data"), 1024), mib)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(2*mib))
	require.NoError(t, f.Close())
	require.NoError(t, os.Chmod(filepath.Join(dir, "conf"), 0o750))
	when := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	ts := []unix.Timeval{unix.NsecToTimeval(when.UnixNano()), unix.NsecToTimeval(when.UnixNano())}
	for _, rel := range []string{"log.txt", "conf/small", "conf/link", "sparse", "conf", "."} {
		require.NoError(t, unix.Lutimes(filepath.Join(dir, rel), ts))
	}
}

func TestFormat1BackupStillRestoresAndBacksUp(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	compatTree(t, src)
	fixture := filepath.Join("testdata", "format1")
	if *writeVolumeCompat {
		require.NoError(t, os.RemoveAll(fixture))
		require.NoError(t, os.MkdirAll(fixture, 0o755))
		abs, err := filepath.Abs(fixture)
		require.NoError(t, err)
		_, err = openRepo(t, openStore(t, abs), compatKey).Backup(ctx, src, BackupOptions{ID: "s1", Volume: "compat"})
		require.NoError(t, err)
	}
	// Work on a copy: the second backup below writes into it.
	storeDir := t.TempDir()
	require.NoError(t, os.CopyFS(storeDir, os.DirFS(fixture)))

	m, err := openRepo(t, openStore(t, storeDir), compatKey).Manifest(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, m.Format)
	s1 := m.Find("s1")
	require.NotNil(t, s1)
	for _, e := range readTree(t, openRepo(t, openStore(t, storeDir), compatKey), s1) {
		if string(e.Path) == "log.txt" {
			require.GreaterOrEqual(t, len(e.Chunks), 2, "a file of several chunks, so that where they are cut matters")
		}
	}
	dst := t.TempDir()
	_, err = openRepo(t, openStore(t, storeDir), compatKey).Restore(ctx, s1, dst, RestoreOptions{})
	require.NoError(t, err)
	want := describe(t, src)
	requireSameTree(t, want, describe(t, dst))

	// Backing the same tree up again into the old backup finds every chunk stored: the
	// backup keeps cutting chunks where format 1 cut them.
	s2, err := openRepo(t, openStore(t, storeDir), compatKey).Backup(ctx, src, BackupOptions{ID: "s2", Volume: "compat"})
	require.NoError(t, err)
	require.Empty(t, s2.Index, "no pack was added")
	m, err = openRepo(t, openStore(t, storeDir), compatKey).Manifest(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, m.Format, "an older backup keeps its format")
	require.Len(t, m.Snapshots, 2)
	dst = t.TempDir()
	_, err = openRepo(t, openStore(t, storeDir), compatKey).Restore(ctx, s2, dst, RestoreOptions{})
	require.NoError(t, err)
	requireSameTree(t, want, describe(t, dst))

	// A new backup of the same tree cuts with FastCDC and says so (manifest format 2).
	fresh := t.TempDir()
	s3, err := openRepo(t, openStore(t, fresh), compatKey).Backup(ctx, src, BackupOptions{ID: "s1", Volume: "compat"})
	require.NoError(t, err)
	require.NotEmpty(t, s3.Index)
	m, err = openRepo(t, openStore(t, fresh), compatKey).Manifest(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, m.Format)
	require.Equal(t, archive.ChunkerFastCDC, m.Chunker)
}
