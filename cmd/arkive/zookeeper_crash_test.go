package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"arkive.io/arkive/activities/zookeeper"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/zookeeperbackup"
	"arkive.io/arkive/workflows/zookeeperrestore"
)

const (
	zkCrashNodes = 50_000
	zkKills      = 3
)

// zkNodeCount is the server's node count (the srvr four-letter word): cheap to poll, where
// walking a tree of 50,000 nodes is not.
func zkNodeCount(t *testing.T, server string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", server, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	// Bounded: a server can fail to close a four-letter-word connection.
	require.NoError(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
	_, err = conn.Write([]byte("srvr"))
	require.NoError(t, err)
	out, err := io.ReadAll(conn)
	require.NoError(t, err)
	m := regexp.MustCompile(`Node count: (\d+)`).FindSubmatch(out)
	require.NotNil(t, m, "%s", out)
	n, err := strconv.Atoi(string(m[1]))
	require.NoError(t, err)
	return n
}

// Issue 16, acceptance 5: the worker process is SIGKILLed three times while it restores 50,000
// nodes (each time after the target has grown by a random amount) and restarted; afterwards the
// target equals the snapshot exactly, read back by kazoo, and no node was ever written twice
// (every data version is 0: nothing created was set again).
func TestZooKeeperRestoreSurvivesWorkerSIGKILLs(t *testing.T) {
	if testing.Short() {
		t.Skip("long crash test")
	}
	t.Parallel() // mostly waiting for heartbeat timeouts and restarts: overlapped with the other fault tests
	srcServer, dstServer := testenv.ZooKeeper(t), testenv.ZooKeeper38(t)
	connect := func(server string) *zk.Conn {
		c, events, err := zk.Connect([]string{server}, 30*time.Second, zk.WithLogInfo(false))
		require.NoError(t, err)
		t.Cleanup(c.Close)
		for ev := range events {
			if ev.State == zk.StateHasSession {
				break
			}
		}
		return c
	}
	src, dst := connect(srcServer), connect(dstServer)
	id := time.Now().UnixNano()
	srcRoot, dstRoot := fmt.Sprintf("/crash-src-%d", id), fmt.Sprintf("/crash-dst-%d", id)
	open := zk.WorldACL(zk.PermAll)
	_, err := src.Create(srcRoot, nil, 0, open)
	require.NoError(t, err)
	_, err = dst.Create(dstRoot, nil, 0, open)
	require.NoError(t, err)
	// Ten top-level nodes, four children each, level by level.
	var ops []any
	level, made := []string{srcRoot}, 0
	for made < zkCrashNodes {
		var next []string
		for _, p := range level {
			for k := range 10 {
				if made == zkCrashNodes {
					break
				}
				cp := fmt.Sprintf("%s/n%d", p, k)
				ops = append(ops, &zk.CreateRequest{Path: cp, Data: fmt.Appendf(nil, "value %d %x", made, made*7919), Acl: open})
				next = append(next, cp)
				made++
				if len(ops) == 500 {
					_, err := src.Multi(ops...)
					require.NoError(t, err)
					ops = ops[:0]
				}
			}
		}
		level = next
	}
	if len(ops) > 0 {
		_, err := src.Multi(ops...)
		require.NoError(t, err)
	}

	dir := t.TempDir()
	secretsDir := filepath.Join(dir, "secrets")
	require.NoError(t, os.MkdirAll(filepath.Join(secretsDir, "backup-key"), 0o700))
	const key = "0123456789abcdef0123456789abcdef"
	require.NoError(t, os.WriteFile(filepath.Join(secretsDir, "backup-key", "key"), []byte(key), 0o600))
	st := &arkivev1.Storage{Spec: arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: filepath.Join(dir, "storage")},
		Encryption: &arkivev1.StorageEncryption{KeySecret: arkivev1.SecretKeyRef{Name: "backup-key", Key: "key"}}}}
	st.Name = "s"
	require.NoError(t, os.MkdirAll(st.Spec.Volume.Path, 0o700))
	from := &arkivev1.ZooKeeperEnsemble{Spec: arkivev1.ZooKeeperEnsembleSpec{Servers: []string{srcServer}, Chroot: srcRoot}}
	from.Name = "src"
	to := &arkivev1.ZooKeeperEnsemble{Spec: arkivev1.ZooKeeperEnsembleSpec{Servers: []string{dstServer}, Chroot: dstRoot}}
	to.Name = "dst"

	// The snapshot, taken by the activity in this process.
	zb := &arkivev1.ZooKeeperBackup{Spec: arkivev1.ZooKeeperBackupSpec{Storage: "s", Ensemble: "src"}}
	zb.Name, zb.Namespace = "crash", "default"
	bin0, err := specs.ZooKeeperBackupInput(zb, from, st)
	require.NoError(t, err)
	acts := &zookeeper.Activities{Secrets: func(string) secrets.Resolver { return secrets.Map{"backup-key#key": key} }}
	snap, err := acts.Snapshot(context.Background(), zookeeperbackup.SnapshotInput{Connection: bin0.Connection, Spec: bin0.Spec,
		ID: "20261202T120000Z-000001", Time: time.Now()})
	require.NoError(t, err)
	require.Equal(t, zkCrashNodes+1, snap.Nodes)

	// The restore, by worker processes that keep getting killed.
	temporal := testenv.Temporal(t)
	c, err := client.Dial(client.Options{HostPort: temporal})
	require.NoError(t, err)
	defer c.Close()
	bin := buildArkive(t)
	zr := &arkivev1.ZooKeeperRestore{Spec: arkivev1.ZooKeeperRestoreSpec{Source: arkivev1.SchemaSnapshotSource{Storage: "s", Backup: bin0.Backup}, Ensemble: "dst"}}
	zr.Name, zr.Namespace = "crash", "default"
	rin, err := specs.ZooKeeperRestoreInput(zr, st, to)
	require.NoError(t, err)
	queue := fmt.Sprintf("zkrestore-%d", id)
	rid := workflows.WorkflowID("ZooKeeperRestore", "default", fmt.Sprintf("crash-%d", id))
	ctx := context.Background()
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: rid, TaskQueue: queue}, zookeeperrestore.WorkflowName, rin)
	require.NoError(t, err)
	defer func() { _ = c.TerminateWorkflow(context.Background(), rid, "", "test done") }()
	startWorker := func() *exec.Cmd {
		cmd := exec.Command(bin, "worker", "--temporal-address", temporal, "--task-queue", queue, "--secrets-dir", secretsDir)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		require.NoError(t, cmd.Start())
		return cmd
	}
	base := zkNodeCount(t, dstServer)
	rng := rand.New(rand.NewPCG(uint64(id), 16))
	var atKill []int
	last := 0
	for range zkKills {
		w := startWorker()
		grow := 4000 + rng.IntN(8000) // 4,000–12,000 more nodes, then the kill
		deadline := time.Now().Add(3 * time.Minute)
		for zkNodeCount(t, dstServer)-base < last+grow {
			require.True(t, time.Now().Before(deadline), "the restore made no progress after a restart")
			time.Sleep(20 * time.Millisecond) // polling interval
		}
		require.NoError(t, w.Process.Signal(syscall.SIGKILL))
		_ = w.Wait()
		last = zkNodeCount(t, dstServer) - base
		atKill = append(atKill, last)
	}
	require.Less(t, last, zkCrashNodes, "the last kill must land before the restore finished")
	final := startWorker()
	defer func() { _ = final.Process.Kill(); _ = final.Wait() }()

	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var res zookeeperrestore.Status
	require.NoError(t, c.GetWorkflow(wctx, rid, "").Get(wctx, &res))
	require.Equal(t, zookeeperrestore.PhaseDone, res.Phase, res.LastError)
	t.Logf("nodes in the target at each kill %v; counts %+v", atKill, res.Counts)
	require.Equal(t, zkCrashNodes+1, res.Counts.Created+res.Counts.Unchanged, "every node (and the chroot) counted once")

	dump := func(server, root string) []map[string]any {
		out, err := exec.Command(testenv.Kazoo(t), filepath.Join("..", "..", "worker", "testdata", "kazoo_dump.py"), server, root).Output()
		require.NoError(t, err)
		var nodes []map[string]any
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			var n map[string]any
			require.NoError(t, json.Unmarshal(sc.Bytes(), &n))
			nodes = append(nodes, n)
		}
		return nodes
	}
	want, got := dump(srcServer, srcRoot), dump(dstServer, dstRoot)
	require.Len(t, got, zkCrashNodes+1)
	for i := range want {
		require.Equal(t, want[i]["path"], got[i]["path"])
		require.Equal(t, want[i]["data"], got[i]["data"], want[i]["path"])
		require.Equal(t, want[i]["acl"], got[i]["acl"], want[i]["path"])
		require.Equal(t, want[i]["children"], got[i]["children"], want[i]["path"])
		require.EqualValues(t, 0, got[i]["version"], "%s was set after it was created", got[i]["path"])
	}
}
