package volume

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"arkive.io/arkive/internal/archive"
)

// runUntil runs a child and SIGKILLs it once a progress line reports at least killAt bytes
// (never, with killAt 0). It returns the last position the child reported (its heartbeat)
// and whether it was killed.
func runUntil(t *testing.T, op, storeDir, id, dir string, key []byte, from int, killAt int64) (int, bool) {
	t.Helper()
	cmd := childCmd(op, storeDir, id, dir, key, from)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	pos, killed := from, false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		var bytes int64
		switch f[0] {
		case "progress":
			bytes, _ = strconv.ParseInt(f[1], 10, 64)
		case "position":
			pos, _ = strconv.Atoi(f[1])
			bytes, _ = strconv.ParseInt(f[2], 10, 64)
		}
		if killAt > 0 && bytes >= killAt && !killed {
			require.NoError(t, cmd.Process.Kill())
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		require.NoError(t, err, "%s ended with an error", op)
	}
	return pos, killed
}

// inodes records the inode and change time of every regular file under root.
func inodes(t *testing.T, root string) map[string][2]int64 {
	out := map[string][2]int64{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if d.Type().IsRegular() {
			var st unix.Stat_t
			require.NoError(t, unix.Lstat(p, &st))
			out[p] = [2]int64{int64(st.Ino), st.Ctim.Nano()}
		}
		return nil
	}))
	return out
}

// #15 acceptance 3, with the test binary standing in for the mover process: a backup and a
// restore of more than 2 GiB are each SIGKILLed three times. The backup is retried from the
// start and stores no chunk twice (packs of a killed attempt are adopted); the restore resumes
// from the last position it reported and rewrites no file that was in place before it. The
// snapshot verifies chunk by chunk and the restored tree is exact.
func TestKilledBackupAndRestoreFinishExactly(t *testing.T) {
	src, storeDir, dst := t.TempDir(), t.TempDir(), t.TempDir()
	rng := rand.New(rand.NewPCG(9, 10))
	for i := range 9 {
		require.NoError(t, os.WriteFile(filepath.Join(src, fmt.Sprintf("big-%d.bin", i)), randomish(rng, 240*mib), 0o644))
	}
	for d := range 20 {
		require.NoError(t, os.Mkdir(filepath.Join(src, fmt.Sprintf("d%02d", d)), 0o755))
		for f := range 100 {
			require.NoError(t, os.WriteFile(filepath.Join(src, fmt.Sprintf("d%02d/f%03d", d, f)), randomish(rng, 16*kib), 0o600))
		}
	}
	want := describe(t, src)
	total := dataBytes(want, "", 0)
	require.Greater(t, total, int64(2<<30))
	key := bytes.Repeat([]byte{3}, archive.KeySize)

	for k := 1; k <= 3; k++ {
		_, killed := runUntil(t, "backup", storeDir, "s1", src, key, 0, total*int64(k)/4)
		require.True(t, killed, "backup attempt %d ended before it could be killed", k)
	}
	runUntil(t, "backup", storeDir, "s1", src, key, 0, 0)
	repo := openRepo(t, openStore(t, storeDir), key)
	m, err := repo.Manifest(context.Background())
	require.NoError(t, err)
	ref := m.Find("s1")
	require.NotNil(t, ref)
	// The killed attempts' packs and the last one's hold each chunk once: the storage holds
	// not much more than the data (this data hardly compresses at zstd's fastest level).
	require.Less(t, storedBytes(t, storeDir), total*102/100)
	v, err := repo.Verify(context.Background(), ref, true)
	require.NoError(t, err)
	require.Equal(t, total, v.Bytes)

	from := 0
	for k := 1; k <= 3; k++ {
		before := inodes(t, dst)
		var killed bool
		from, killed = runUntil(t, "restore", storeDir, "s1", dst, key, from, total*int64(k)/4)
		require.True(t, killed, "restore attempt %d ended before it could be killed", k)
		now := inodes(t, dst)
		for p, id := range before {
			require.Equal(t, id, now[p], "%s was written again", p)
		}
		for p := range now {
			// The files being written when it was killed were unnamed (O_TMPFILE): gone with it.
			require.NotContains(t, filepath.Base(p), ".arkive-restore-", "a killed restore left a temporary")
		}
	}
	before := inodes(t, dst)
	runUntil(t, "restore", storeDir, "s1", dst, key, from, 0)
	after := inodes(t, dst)
	for p, id := range before {
		require.Equal(t, id, after[p], "%s was written again", p)
	}
	requireSameTree(t, want, describe(t, dst))
}
