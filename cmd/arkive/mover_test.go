package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows"
	rb "arkive.io/arkive/workflows/resourcebackup"
	rr "arkive.io/arkive/workflows/resourcerestore"
)

// moverRoundTripInput drives moverRoundTrip, a workflow of this test only: it backs a volume
// up through a mover's task queue and restores it into another directory, as the resource
// workflows will.
type moverRoundTripInput struct {
	Queue   string
	Conn    workflows.ResourceConnection
	Restore bool
}

func moverRoundTrip(ctx workflow.Context, in moverRoundTripInput) (rr.VolumeRestoreResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{TaskQueue: in.Queue, StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout: 3 * time.Second, RetryPolicy: &temporal.RetryPolicy{InitialInterval: 100 * time.Millisecond, MaximumAttempts: 10}})
	var res rr.VolumeRestoreResult
	if !in.Restore {
		var b rb.VolumeBackupResult
		err := workflow.ExecuteActivity(ctx, rb.ActivityVolumeBackup, rb.VolumeBackupInput{Connection: in.Conn, Volume: "default/data",
			Snapshot: "s1"}).Get(ctx, &b)
		res.Files, res.Bytes = b.Files, b.Bytes
		return res, err
	}
	err := workflow.ExecuteActivity(ctx, rr.ActivityVolumeRestore, rr.VolumeRestoreInput{Connection: in.Conn, Snapshot: "s1"}).Get(ctx, &res)
	return res, err
}

// startMover starts `arkive mover` on queue for the volume at volume, with the secrets in
// secretsDir.
func startMover(t *testing.T, bin, temporal, queue, volume, secretsDir string) *exec.Cmd {
	cmd := exec.Command(bin, "mover", "--temporal-address", temporal, "--task-queue", queue, "--volume", volume, "--secrets-dir", secretsDir)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// waitForWork waits until done says the mover has done part of its work, and fails if the
// workflow ends first (the kill would come too late to test anything).
func waitForWork(t *testing.T, c client.Client, wid string, done func() bool) {
	t.Helper()
	require.Eventually(t, func() bool {
		if done() {
			return true
		}
		d, err := c.DescribeWorkflowExecution(context.Background(), wid, "")
		require.NoError(t, err)
		require.Nil(t, d.WorkflowExecutionInfo.CloseTime, "the workflow ended before the mover could be killed")
		return false
	}, 2*time.Minute, 5*time.Millisecond)
}

// The mover is a process of its own on a task queue of its own: a backup and a restore sent to
// that queue are run by `arkive mover`, and when it is SIGKILLed mid-way another mover on the
// same queue takes the activity over after its heartbeat timeout: the backup is taken again
// (storing nothing twice) and the restore rewrites no file the first had put in place (it
// resumes from the last heartbeated position and skips files in place beyond it). The
// restored tree equals the source, on encrypted storage whose key comes from the mover's own
// secret source.
func TestMoverProcessBacksUpAndRestoresAcrossKills(t *testing.T) {
	temporal := testenv.Temporal(t)
	bin := buildArkive(t)
	src, dst, store, secretsDir := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range 10 {
		b := make([]byte, 128<<20)
		for j := 0; j < len(b); j += 8 {
			v := rng.Uint64()
			for k := 0; k < 8 && j+k < len(b); k++ {
				b[j+k] = "abcdefghijklmnop"[(v>>(4*k))&15]
			}
		}
		require.NoError(t, os.WriteFile(filepath.Join(src, fmt.Sprintf("big-%d", i)), b, 0o640))
	}
	for i := range 300 {
		require.NoError(t, os.MkdirAll(filepath.Join(src, "small", fmt.Sprint(i%10)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(src, "small", fmt.Sprint(i%10), fmt.Sprint(i)), []byte(fmt.Sprint(i)), 0o600))
	}
	require.NoError(t, os.Symlink("small/1", filepath.Join(src, "link")))
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	require.NoError(t, os.MkdirAll(filepath.Join(secretsDir, "storage-key"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(secretsDir, "storage-key", "key"), key, 0o600))
	spec, err := json.Marshal(arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: store},
		Encryption: &arkivev1.StorageEncryption{KeySecret: arkivev1.SecretKeyRef{Name: "storage-key", Key: "key"}}})
	require.NoError(t, err)
	conn := workflows.ResourceConnection{Namespace: "default", Backup: "default/platform", Storage: spec, StorageName: "st"}

	c, err := client.Dial(client.Options{HostPort: temporal})
	require.NoError(t, err)
	defer c.Close()
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	wq, mq := "mover-test-"+suffix, "arkive-mover-"+suffix
	w := sdkworker.New(c, wq, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(moverRoundTrip, workflow.RegisterOptions{Name: "moverRoundTrip"})
	require.NoError(t, w.Start())
	defer w.Stop()

	for _, restore := range []bool{false, true} {
		// One mover a volume and operation, as one Pod a volume: the backup's mounts the
		// source, the restore's the target.
		vol, queue := src, mq+"-backup"
		if restore {
			vol, queue = dst, mq+"-restore"
		}
		first := startMover(t, bin, temporal, queue, vol, secretsDir)
		wid := fmt.Sprintf("mover-test-%s-%v", suffix, restore)
		run, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: wid, TaskQueue: wq},
			"moverRoundTrip", moverRoundTripInput{Queue: queue, Conn: conn, Restore: restore})
		require.NoError(t, err)
		// Killed once it has stored a pack (backup) or put a file in place (restore).
		waitForWork(t, c, wid, func() bool {
			if restore {
				return len(finishedFiles(t, dst)) > 0
			}
			packs, _ := filepath.Glob(filepath.Join(store, "volumes", "default", "platform", "packs", "*", "*"))
			return len(packs) > 0
		})
		require.NoError(t, first.Process.Kill())
		_ = first.Wait()
		done := finishedFiles(t, dst)
		t.Logf("restore=%v: mover killed with %d files in place", restore, len(done))
		startMover(t, bin, temporal, queue, vol, secretsDir)
		var res rr.VolumeRestoreResult
		require.NoError(t, run.Get(context.Background(), &res))
		require.Equal(t, 310, res.Files, "files")
		if restore {
			require.NotEmpty(t, done, "the first mover had finished files before it was killed")
			after := finishedFiles(t, dst)
			for p, ino := range done {
				require.Equal(t, ino, after[p], "%s was written again by the second mover", p)
			}
		}
	}
	requireSameFiles(t, src, dst)
}

// finishedFiles maps the files in place under root (not a restore's temporary files) to
// their inodes: a file written again gets a new one.
func finishedFiles(t *testing.T, root string) map[string]uint64 {
	out := map[string]uint64{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".arkive-restore-") {
			info, err := d.Info()
			require.NoError(t, err)
			out[p] = info.Sys().(*syscall.Stat_t).Ino
		}
		return nil
	}))
	return out
}

// requireSameFiles compares two trees: paths, types, modes, sizes, mtimes and contents.
func requireSameFiles(t *testing.T, a, b string) {
	t.Helper()
	walk := func(root string) map[string]string {
		out := map[string]string{}
		require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			require.NoError(t, err)
			rel, _ := filepath.Rel(root, p)
			info, err := d.Info()
			require.NoError(t, err)
			desc := fmt.Sprintf("%v %d %d", info.Mode(), info.Size(), info.ModTime().UnixNano())
			switch {
			case d.Type()&fs.ModeSymlink != 0:
				target, err := os.Readlink(p)
				require.NoError(t, err)
				desc += " -> " + target
			case d.Type().IsRegular():
				data, err := os.ReadFile(p)
				require.NoError(t, err)
				desc += fmt.Sprintf(" %x", sha256.Sum256(data))
			}
			out[rel] = desc
			return nil
		}))
		return out
	}
	require.Equal(t, walk(a), walk(b))
}
