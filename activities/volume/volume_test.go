package volume

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/blobstore"
)

const (
	kib = 1 << 10
	mib = 1 << 20
)

// fidelityTree builds the tree of #15's first acceptance point under dir: regular files
// (empty, 1 B, 100 MiB), 20,000 small files in nested directories, symlinks (relative,
// absolute, dangling), hard links, a sparse file of 1 GiB with 10 MiB of data, setuid, setgid
// and sticky modes, three owners, odd names, a FIFO, and mtimes with nanoseconds.
func fidelityTree(t testing.TB, dir string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	write := func(rel string, data []byte, mode os.FileMode) {
		p := filepath.Join(dir, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, data, mode))
	}
	write("empty", nil, 0o644)
	write("one", []byte{'x'}, 0o600)
	write("big/100MiB.bin", randomish(rng, 100*mib), 0o640)
	for d := range 200 {
		for f := range 100 {
			n := rng.IntN(8 * kib)
			write(fmt.Sprintf("small/d%03d/sub/f%03d.txt", d, f), randomish(rng, n), 0o644)
		}
	}
	require.NoError(t, os.Symlink("../one", filepath.Join(dir, "big", "rel-link")))
	require.NoError(t, os.Symlink("/etc/hostname", filepath.Join(dir, "abs-link")))
	require.NoError(t, os.Symlink("does/not/exist", filepath.Join(dir, "dangling")))
	write("links/a", []byte("three names, one inode"), 0o644)
	require.NoError(t, os.Link(filepath.Join(dir, "links", "a"), filepath.Join(dir, "links", "b")))
	require.NoError(t, os.Link(filepath.Join(dir, "links", "a"), filepath.Join(dir, "big", "c")))

	sparse, err := os.Create(filepath.Join(dir, "sparse.img"))
	require.NoError(t, err)
	for i := range 10 {
		_, err := sparse.WriteAt(randomish(rng, mib), int64(i)*100*mib+int64(i)*4096)
		require.NoError(t, err)
	}
	require.NoError(t, sparse.Truncate(1<<30))
	require.NoError(t, sparse.Close())

	write("modes/setuid", []byte("#!/bin/sh\n"), 0o755)
	write("modes/setgid", []byte("#!/bin/sh\n"), 0o755)
	require.NoError(t, unix.Chmod(filepath.Join(dir, "modes", "setuid"), 0o4755))
	require.NoError(t, unix.Chmod(filepath.Join(dir, "modes", "setgid"), 0o2711))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "modes", "sticky"), 0o755))
	require.NoError(t, unix.Chmod(filepath.Join(dir, "modes", "sticky"), 0o1777))
	write("modes/sticky/inside", []byte("in a sticky directory"), 0o666)
	require.NoError(t, unix.Chmod(filepath.Join(dir, "modes", "sticky", "inside"), 0o666))

	write("owners/u1000", []byte("a"), 0o644)
	write("owners/u2000", []byte("b"), 0o644)
	require.NoError(t, os.Lchown(filepath.Join(dir, "owners", "u1000"), 1000, 1000))
	require.NoError(t, os.Lchown(filepath.Join(dir, "owners", "u2000"), 2000, 3000))
	require.NoError(t, os.Lchown(filepath.Join(dir, "owners"), 1000, 2000))
	require.NoError(t, os.Lchown(filepath.Join(dir, "abs-link"), 2000, 2000))

	write("odd/with space", []byte("space"), 0o644)
	write("odd/new\nline", []byte("newline"), 0o644)
	write("odd/bad\xff\xfeutf8", []byte("bytes"), 0o644)
	require.NoError(t, unix.Mkfifo(filepath.Join(dir, "odd", "fifo"), 0o644))

	// Distinct mtimes with nanoseconds, set last (children first, so a directory's own
	// mtime is not changed by what is set inside it).
	var paths []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	}))
	base := time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)
	for i := len(paths) - 1; i >= 0; i-- {
		ts := unix.NsecToTimespec(base.Add(time.Duration(i)*time.Second + time.Duration(i%1000)*time.Microsecond + 7).UnixNano())
		require.NoError(t, unix.UtimesNanoAt(unix.AT_FDCWD, paths[i], []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW))
	}
}

// randomish is n bytes that compress about 2:1 (random words over a small alphabet), like
// logs and data files do; pure random bytes would make compression look free.
func randomish(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = "abcdefghijklmnop"[(v>>(4*j))&15]
		}
	}
	return b
}

// node is what the fidelity check compares of one path, read from the file system with
// lstat and a full read (never from the snapshot).
type node struct {
	Type   string
	Mode   uint32
	UID    uint32
	GID    uint32
	Size   int64
	Mtime  int64 // seconds
	Target string
	SHA256 string
}

type treeState struct {
	Nodes map[string]node
	// Links are the groups of paths that share an inode, each sorted.
	Links []string
	// Blocks are the allocated bytes of each regular file.
	Blocks map[string]int64
}

func describe(t testing.TB, root string) treeState {
	t.Helper()
	s := treeState{Nodes: map[string]node{}, Blocks: map[string]int64{}}
	groups := map[uint64][]string{}
	require.NoError(t, filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		require.NoError(t, err)
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		require.NoError(t, unix.Lstat(p, &st))
		n := node{Mode: st.Mode & 07777, UID: st.Uid, GID: st.Gid, Mtime: st.Mtim.Sec}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			n.Type = "dir"
		case unix.S_IFREG:
			n.Type, n.Size = "file", st.Size
			data, err := os.ReadFile(p)
			require.NoError(t, err)
			sum := sha256.Sum256(data)
			n.SHA256 = hex.EncodeToString(sum[:])
			s.Blocks[rel] = st.Blocks * 512
			if st.Nlink > 1 {
				groups[st.Ino] = append(groups[st.Ino], rel)
			}
		case unix.S_IFLNK:
			n.Type, n.Mode = "symlink", 0
			n.Target, err = os.Readlink(p)
			require.NoError(t, err)
		default:
			n.Type = fmt.Sprintf("special %o", st.Mode&unix.S_IFMT)
		}
		s.Nodes[rel] = n
		return nil
	}))
	for _, g := range groups {
		sort.Strings(g)
		s.Links = append(s.Links, strings.Join(g, " = "))
	}
	sort.Strings(s.Links)
	return s
}

// requireSameTree compares two trees node by node; special files (FIFOs, devices, sockets)
// are expected to be absent from the restored one.
func requireSameTree(t *testing.T, want, got treeState) {
	t.Helper()
	for p, n := range want.Nodes {
		g, ok := got.Nodes[p]
		if strings.HasPrefix(n.Type, "special") {
			require.False(t, ok, "special files are recorded, not restored: %q", p)
			continue
		}
		require.True(t, ok, "%q was not restored", p)
		require.Equal(t, n, g, "%q", p)
	}
	for p := range got.Nodes {
		_, ok := want.Nodes[p]
		require.True(t, ok, "restored %q, which the source does not have", p)
	}
	require.Equal(t, want.Links, got.Links, "hard-link groups")
}

func openStore(t testing.TB, dir string) *blobstore.Store {
	t.Helper()
	store, err := blobstore.OpenURL(context.Background(), "file://"+dir)
	require.NoError(t, err)
	return store
}

func openRepo(t testing.TB, store *blobstore.Store, key []byte) *Repo {
	t.Helper()
	layout, err := blobstore.Volumes("data")
	require.NoError(t, err)
	r, err := Open(context.Background(), store, layout, key)
	require.NoError(t, err)
	t.Cleanup(r.Close)
	return r
}

// storedBytes sums the sizes of every object under dir, as the storage holds them.
func storedBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if d.Type().IsRegular() {
			info, err := d.Info()
			require.NoError(t, err)
			n += info.Size()
		}
		return nil
	}))
	return n
}

// #15 acceptance 1 (at the mover's core, without a Pod yet): every kind of file system entry
// survives a backup and a restore into an empty directory, on encrypted storage.
func TestFidelityRoundTrip(t *testing.T) {
	require.Zero(t, os.Geteuid(), "this test sets three owners and so must run as root, as the mover does")
	ctx := context.Background()
	src, storeDir, dst := t.TempDir(), t.TempDir(), t.TempDir()
	fidelityTree(t, src)
	want := describe(t, src)
	key := bytes.Repeat([]byte{7}, archive.KeySize)

	repo := openRepo(t, openStore(t, storeDir), key)
	start := time.Now()
	ref, err := repo.Backup(ctx, src, BackupOptions{ID: "s1", Volume: "test/system-storage"})
	require.NoError(t, err)
	t.Logf("backup: %v", time.Since(start))
	require.Equal(t, 1, ref.WarningCount, "the FIFO: %v", ref.Warnings)
	require.Contains(t, ref.Warnings[0], "odd/fifo: a FIFO")
	require.Equal(t, dataBytes(want, "sparse.img", 10*mib), ref.Bytes, "data bytes: each inode once, holes excluded")
	// Nothing on the storage is readable as plain text: the tree and packs are encrypted.
	require.NoError(t, filepath.WalkDir(storeDir, func(p string, d fs.DirEntry, err error) error {
		if d.Type().IsRegular() && !strings.HasSuffix(p, "manifest.json") {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			require.NotContains(t, string(b), "three names, one inode")
			require.NotContains(t, string(b), "100MiB.bin")
		}
		return err
	}))

	// A fresh repository (as a restore on another Pod opens it) restores it.
	start = time.Now()
	res, err := openRepo(t, openStore(t, storeDir), key).Restore(ctx, ref, dst, RestoreOptions{})
	require.NoError(t, err)
	t.Logf("restore: %v", time.Since(start))
	require.Equal(t, ref.Files, res.Files)
	got := describe(t, dst)
	requireSameTree(t, want, got)
	require.Less(t, got.Blocks["sparse.img"], int64(2*10*mib), "the sparse file's holes are holes again")
	require.Equal(t, int64(1<<30), got.Nodes["sparse.img"].Size)

	// Restored into the same place again, nothing is rewritten: every file is in place.
	res, err = openRepo(t, openStore(t, storeDir), key).Restore(ctx, ref, dst, RestoreOptions{})
	require.NoError(t, err)
	require.Equal(t, ref.Files, res.Skipped)
	requireSameTree(t, want, describe(t, dst))
}

// dataBytes is the data a backup of s reads: every file's size, a hard-linked inode once, and
// for the sparse file its data only.
func dataBytes(s treeState, sparse string, sparseData int64) int64 {
	var n int64
	for p, nd := range s.Nodes {
		if nd.Type == "file" {
			n += nd.Size
		}
		if p == sparse {
			n += sparseData - nd.Size
		}
	}
	for _, g := range s.Links {
		names := strings.Split(g, " = ")
		n -= int64(len(names)-1) * s.Nodes[names[0]].Size
	}
	return n
}

// #15 acceptance 2: after changing 1 MiB of a 100 MiB file and adding 10 files, a second
// backup stores at most 5 % of what the first stored, and each snapshot restores to its own
// tree.
func TestIncrementalBackupStoresOnlyWhatChanged(t *testing.T) {
	ctx := context.Background()
	src, storeDir := t.TempDir(), t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	require.NoError(t, os.WriteFile(filepath.Join(src, "data.bin"), randomish(rng, 100*mib), 0o644))
	for i := range 500 {
		require.NoError(t, os.WriteFile(filepath.Join(src, fmt.Sprintf("f%03d", i)), randomish(rng, 4*kib), 0o644))
	}
	first := describe(t, src)
	repo := openRepo(t, openStore(t, storeDir), nil)
	s1, err := repo.Backup(ctx, src, BackupOptions{ID: "s1", Volume: "v"})
	require.NoError(t, err)
	afterFirst := storedBytes(t, storeDir)

	f, err := os.OpenFile(filepath.Join(src, "data.bin"), os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(randomish(rng, mib), 37*mib+123)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	for i := range 10 {
		require.NoError(t, os.WriteFile(filepath.Join(src, fmt.Sprintf("new%d", i)), randomish(rng, 4*kib), 0o644))
	}
	second := describe(t, src)
	s2, err := openRepo(t, openStore(t, storeDir), nil).Backup(ctx, src, BackupOptions{ID: "s2", Volume: "v"})
	require.NoError(t, err)
	added := storedBytes(t, storeDir) - afterFirst
	t.Logf("first backup stored %d bytes, the second %d (%.2f %%)", afterFirst, added, 100*float64(added)/float64(afterFirst))
	require.LessOrEqual(t, float64(added), 0.05*float64(afterFirst))

	// An unchanged volume stores only its tree (and the manifest grows by one entry).
	before := storedBytes(t, storeDir)
	s3, err := openRepo(t, openStore(t, storeDir), nil).Backup(ctx, src, BackupOptions{ID: "s3", Volume: "v"})
	require.NoError(t, err)
	require.Empty(t, s3.Index, "no pack was added")
	require.Less(t, storedBytes(t, storeDir)-before, int64(64*kib))

	for _, c := range []struct {
		ref  *archive.VolumeSnapshotRef
		want treeState
	}{{s1, first}, {s2, second}} {
		dst := t.TempDir()
		_, err := openRepo(t, openStore(t, storeDir), nil).Restore(ctx, c.ref, dst, RestoreOptions{})
		require.NoError(t, err)
		requireSameTree(t, c.want, describe(t, dst))
	}
}

// #15 acceptance 6: retention removes the chunks no remaining snapshot references, rewriting
// packs that hold live and dead chunks, and keeps every chunk a remaining snapshot needs
// (verify --deep of each remaining snapshot on a freshly opened repository).
func TestPruneRemovesDeadChunksOnly(t *testing.T) {
	ctx := context.Background()
	src, storeDir := t.TempDir(), t.TempDir()
	rng := rand.New(rand.NewPCG(11, 12))
	put := func(name string, size int) {
		require.NoError(t, os.WriteFile(filepath.Join(src, name), randomish(rng, size), 0o644))
	}
	put("a", 10*mib)
	put("b", 10*mib)
	put("kept-small", 100*kib) // shares a pack with b's last chunk and the dead small file
	put("dead-small", 100*kib)
	key := bytes.Repeat([]byte{5}, archive.KeySize)
	backup := func(id string) *archive.VolumeSnapshotRef {
		ref, err := openRepo(t, openStore(t, storeDir), key).Backup(ctx, src, BackupOptions{ID: id, Volume: "v", Workers: 1})
		require.NoError(t, err)
		return ref
	}
	s1 := backup("s1")
	put("a", 10*mib) // a new a: the old one's chunks live only in s1
	s2 := backup("s2")
	require.NoError(t, os.Remove(filepath.Join(src, "b")))
	require.NoError(t, os.Remove(filepath.Join(src, "dead-small")))
	put("c", 5*mib)
	s3 := backup("s3")
	want := describe(t, src)

	// The chunks only s1 and s2 hold: the first a, b and dead-small.
	repo := openRepo(t, openStore(t, storeDir), key)
	deadOnly, liveIDs := map[archive.ChunkID]bool{}, map[archive.ChunkID]bool{}
	for _, ref := range []*archive.VolumeSnapshotRef{s1, s2, s3} {
		for _, e := range readTree(t, repo, ref) {
			for _, c := range e.Chunks {
				if ref == s3 {
					liveIDs[c.ID] = true
				} else {
					deadOnly[c.ID] = true
				}
			}
		}
	}
	for id := range liveIDs {
		delete(deadOnly, id)
	}
	require.NotEmpty(t, deadOnly)
	before := storedBytes(t, storeDir)

	res, err := repo.Prune(ctx, []string{"s1", "s2"})
	require.NoError(t, err)
	require.Equal(t, 2, res.Snapshots)
	require.GreaterOrEqual(t, res.RewrittenPack, 1, "a pack with live and dead chunks is rewritten")
	after := storedBytes(t, storeDir)
	t.Logf("prune: %+v; stored %d -> %d bytes", res, before, after)

	fresh := openRepo(t, openStore(t, storeDir), key)
	for id := range deadOnly {
		_, _, ok := fresh.where(id)
		require.False(t, ok, "chunk %s of a dropped snapshot is still stored", id)
	}
	for id := range liveIDs {
		_, _, ok := fresh.where(id)
		require.True(t, ok, "chunk %s of s3 is gone", id)
	}
	m, err := fresh.Manifest(ctx)
	require.NoError(t, err)
	require.Len(t, m.Snapshots, 1)
	v, err := fresh.Verify(ctx, m.Find("s3"), true)
	require.NoError(t, err)
	require.Equal(t, s3.Bytes, v.Bytes)
	// Nothing of the dropped snapshots remains but what s3 shares with them.
	require.Less(t, after, before-int64(20*mib))
	dst := t.TempDir()
	_, err = fresh.Restore(ctx, m.Find("s3"), dst, RestoreOptions{})
	require.NoError(t, err)
	requireSameTree(t, want, describe(t, dst))

	// A second prune finds nothing to do.
	res, err = fresh.Prune(ctx, nil)
	require.NoError(t, err)
	require.Zero(t, res.DeletedPacks)
}

func readTree(t *testing.T, r *Repo, ref *archive.VolumeSnapshotRef) []archive.VEntry {
	t.Helper()
	var out []archive.VEntry
	require.NoError(t, r.Walk(context.Background(), ref, func(e *archive.VEntry) error {
		out = append(out, *e)
		return nil
	}))
	return out
}

// #15 acceptance 7, the walk's part: a file that vanishes before it is read is left out and
// named; one that changes while it is read is stored as read and named; the snapshot is
// still whole (it verifies and restores) and says how many warnings it has.
func TestFilesVanishingOrChangingDuringTheWalkAreWarnings(t *testing.T) {
	ctx := context.Background()
	src, storeDir, dst := t.TempDir(), t.TempDir(), t.TempDir()
	for _, n := range []string{"stays", "vanishes", "grows"} {
		require.NoError(t, os.WriteFile(filepath.Join(src, n), bytes.Repeat([]byte(n), 1000), 0o644))
	}
	fileHook = func(stage, abs string) {
		switch {
		case stage == "open" && filepath.Base(abs) == "vanishes":
			require.NoError(t, os.Remove(abs))
		case stage == "stat" && filepath.Base(abs) == "grows":
			f, err := os.OpenFile(abs, os.O_APPEND|os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.WriteString("more")
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}
	}
	t.Cleanup(func() { fileHook = nil })
	repo := openRepo(t, openStore(t, storeDir), nil)
	ref, err := repo.Backup(ctx, src, BackupOptions{ID: "s1", Volume: "apps/data", Workers: 1})
	require.NoError(t, err)
	require.Equal(t, 2, ref.WarningCount, "%v", ref.Warnings)
	require.Contains(t, ref.Warnings, "vanishes: vanished during the backup")
	require.Contains(t, ref.Warnings, "grows: changed during the backup; stored as read")
	fileHook = nil
	_, err = repo.Verify(ctx, ref, true)
	require.NoError(t, err)
	_, err = repo.Restore(ctx, ref, dst, RestoreOptions{})
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(dst, "grows"))
	require.NoError(t, err)
	require.Equal(t, bytes.Repeat([]byte("grows"), 1000), got, "stored as it was when the backup opened it")
	_, err = os.Stat(filepath.Join(dst, "vanishes"))
	require.True(t, os.IsNotExist(err))
}
